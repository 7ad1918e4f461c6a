"""Names of the AWS resources of one stage, shared by the app, `infra/` and the local stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResourceNames:
    stage: str

    @property
    def prefix(self) -> str:
        return f"civicchat-{self.stage}"

    def table(self, logical: str) -> str:
        return f"{self.prefix}-{logical}"

    @property
    def inbound_queue(self) -> str:
        # FIFO: one message group per resident keeps each resident's messages in order.
        return f"{self.prefix}-inbound.fifo"

    @property
    def outbound_replies_queue(self) -> str:
        return f"{self.prefix}-outbound-replies"

    @property
    def outbound_bulk_queue(self) -> str:
        return f"{self.prefix}-outbound-bulk"

    @property
    def media_queue(self) -> str:
        # Standard, not FIFO: fetching one resident's photos in any order is fine.
        return f"{self.prefix}-inbound-media"

    def media_bucket(self, account_id: str, region: str) -> str:
        """The media bucket's name. S3 names are global across every AWS account, so the account
        and region are part of it. The template passes `${AWS::AccountId}`/`${AWS::Region}` (it
        is rendered with `Fn::Sub`); the app never builds it: the deployment hands it the name in
        `CIVICCHAT_MEDIA_BUCKET` (see settings)."""
        # S3 wants lower case; the `${...}` placeholders must keep theirs.
        return f"{self.prefix.lower()}-media-{account_id}-{region}"

    def dead_letter_queue(self, queue_name: str) -> str:
        if queue_name.endswith(".fifo"):
            return queue_name.removesuffix(".fifo") + "-dlq.fifo"
        return f"{queue_name}-dlq"

    @property
    def stack(self) -> str:
        return self.prefix

    def schedule_rule(self, function_name: str) -> str:
        """The EventBridge rule that runs a scheduled function (e.g. `check_slas`)."""
        return f"{self.prefix}-{function_name}"

    @property
    def secrets_path(self) -> str:
        """SSM Parameter Store path of the stage's secrets (SecureString parameters under it,
        see SECRET_PARAMETERS): written by `civicchat deploy`, read by the functions."""
        return f"/{self.prefix}/"

    def secret_parameter(self, key: str) -> str:
        return f"{self.secrets_path}{SECRET_PARAMETERS[key]}"


# Settings field → parameter name under ResourceNames.secrets_path. The phone number id is not
# secret, but travels with the token it belongs to.
SECRET_PARAMETERS = {
    "whatsapp_access_token": "whatsapp/access-token",
    "whatsapp_app_secret": "whatsapp/app-secret",
    "whatsapp_verify_token": "whatsapp/verify-token",
    "whatsapp_phone_number_id": "whatsapp/phone-number-id",
    # The key of residents' pseudonyms in the audit log (domain.audit.resident_ref): made up
    # once by `civicchat deploy` and kept; a new one would cut every resident off their history.
    "pseudonym_key": "privacy/pseudonym-key",
}
