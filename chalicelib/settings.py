"""The only reader of os.environ. Settings are read once, frozen, and fail fast naming the
missing variable."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from pathlib import Path

from chalicelib.resource_names import SECRET_PARAMETERS, ResourceNames

BUNDLED_CONFIG = Path(__file__).parent / "config" / "example-town.yaml"
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com/v23.0"
# Set by the deployment (the bucket's name holds the AWS account id, see ResourceNames) and by
# the local stack; only the media worker needs it, so it is checked when the archive is built.
MEDIA_BUCKET_VARIABLE = "CIVICCHAT_MEDIA_BUCKET"
# The agents' user pool (infra/agent_directory.py): set by the deployment from the stack and by
# the local stack, which creates the pool in its emulator.
USER_POOL_ID_VARIABLE = "CIVICCHAT_USER_POOL_ID"
USER_POOL_CLIENT_ID_VARIABLE = "CIVICCHAT_USER_POOL_CLIENT_ID"
AGENT_TOKENS_VARIABLE = "CIVICCHAT_AGENT_TOKENS"
# Where the WhatsApp secrets are when they are not in the environment: an SSM Parameter Store
# path (ResourceNames.secrets_path), set by the deployment. Its companion CIVICCHAT_SECRETS_VERSION
# changes when `civicchat deploy` writes new secrets, so every function starts afresh with them.
SECRETS_PATH_VARIABLE = "CIVICCHAT_SECRETS_PATH"
SECRETS_VERSION_VARIABLE = "CIVICCHAT_SECRETS_VERSION"
# Secrets handled apart from the required ones below: the pseudonym key is optional and has its
# own variable (PSEUDONYM_KEY_VARIABLE).
OPTIONAL_SECRETS = frozenset({"pseudonym_key"})
# Settings field → its environment variable, for the secrets every function needs:
# WHATSAPP_ACCESS_TOKEN, ...
SECRET_VARIABLES = {
    field: field.upper() for field in SECRET_PARAMETERS if field not in OPTIONAL_SECRETS
}
# The key of residents' pseudonyms in the audit log (domain.audit.resident_ref); else stored as
# SECRET_PARAMETERS["pseudonym_key"] under the secrets path. Optional here: only what records or
# reads the audit log needs it (Settings.required_pseudonym_key).
PSEUDONYM_KEY_VARIABLE = "CIVICCHAT_PSEUDONYM_KEY"
# (secrets path, region) → the settings fields stored there; chalicelib/adapters/ssm_secrets.py.
StoredSecretsReader = Callable[[str, str], Mapping[str, str]]
# How the console's ID tokens are checked: "api_gateway" trusts the claims API Gateway's Cognito
# authorizer verified; "verify" checks the signature here (the local stack and the tests, where
# Chalice's local server decodes tokens without checking them). Unset, the safe choice is made:
# "api_gateway" only inside Lambda (behind API Gateway's authorizer), "verify" anywhere else.
AGENT_TOKEN_MODES = ("api_gateway", "verify")
# Set by the Lambda runtime in every function: how we know API Gateway stands in front.
LAMBDA_FUNCTION_VARIABLE = "AWS_LAMBDA_FUNCTION_NAME"
# The pool API Gateway's Cognito authorizer checks tokens against, read when app.py is imported.
# `chalice package` renders it into the template, where infra/agent_directory.py replaces it
# with the stack's own pool; so outside tests it only matters to a hand-made deployment.
USER_POOL_ARN_VARIABLE = "CIVICCHAT_USER_POOL_ARN"
PLACEHOLDER_USER_POOL_ARN = (
    "arn:aws:cognito-idp:eu-west-1:000000000000:userpool/eu-west-1_placeholder"
)


class SettingsError(Exception):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    stage: str
    aws_region: str
    whatsapp_api_url: str  # Graph base including the version, e.g. https://graph.facebook.com/v23.0
    whatsapp_access_token: str
    whatsapp_app_secret: str
    whatsapp_verify_token: str
    whatsapp_phone_number_id: str
    config_path: Path
    whatsapp_max_mps: int = 80  # the number's throughput cap; Meta's default tier
    log_level: str = "INFO"
    media_bucket: str | None = None  # see MEDIA_BUCKET_VARIABLE
    user_pool_id: str | None = None  # see USER_POOL_ID_VARIABLE
    user_pool_client_id: str | None = None
    agent_tokens: str = "verify"  # see AGENT_TOKEN_MODES
    # An S3 emulator (the local stack, tests): AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, as
    # boto3 reads them. None: AWS, whose regional endpoint the media archive names itself.
    s3_endpoint_url: str | None = None
    # See PSEUDONYM_KEY_VARIABLE; never in a repr (nor a log line).
    pseudonym_key: str | None = dataclass_field(default=None, repr=False)

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.stage)

    def required_user_pool(self) -> tuple[str, str]:
        """(pool id, app client id) of the agents' sign-in."""
        if not self.user_pool_id:
            raise SettingsError(f"environment variable {USER_POOL_ID_VARIABLE} is not set")
        if not self.user_pool_client_id:
            raise SettingsError(f"environment variable {USER_POOL_CLIENT_ID_VARIABLE} is not set")
        return self.user_pool_id, self.user_pool_client_id

    def required_pseudonym_key(self) -> str:
        if not self.pseudonym_key:
            raise SettingsError(
                f"environment variable {PSEUDONYM_KEY_VARIABLE} is not set (nor SSM parameter "
                f"<secrets path>{SECRET_PARAMETERS['pseudonym_key']})"
            )
        return self.pseudonym_key

    def required_media_bucket(self) -> str:
        if not self.media_bucket:
            raise SettingsError(f"environment variable {MEDIA_BUCKET_VARIABLE} is not set")
        return self.media_bucket


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(
            f"environment variable {name} must be a positive whole number, not {raw!r}"
        )
    return int(raw)


def _agent_tokens(environ: Mapping[str, str]) -> str:
    in_lambda = bool(environ.get(LAMBDA_FUNCTION_VARIABLE, "").strip())
    default = "api_gateway" if in_lambda else "verify"
    mode = environ.get(AGENT_TOKENS_VARIABLE, "").strip() or default
    if mode not in AGENT_TOKEN_MODES:
        raise SettingsError(
            f"environment variable {AGENT_TOKENS_VARIABLE} must be one of "
            f"{', '.join(AGENT_TOKEN_MODES)}, not {mode!r}"
        )
    return mode


def _stored_secrets(path: str, region: str) -> Mapping[str, str]:
    from chalicelib.adapters.ssm_secrets import SecretsUnavailableError, read_secrets

    try:
        return read_secrets(path, region=region)
    except SecretsUnavailableError as error:
        raise SettingsError(str(error)) from error


def _whatsapp_secrets(
    environ: Mapping[str, str], region: str, read_stored: StoredSecretsReader
) -> dict[str, str]:
    """The environment wins (tests, `make run` against a real number); what it lacks is read
    from SSM Parameter Store when the deployment said where (SECRETS_PATH_VARIABLE). The
    pseudonym key comes along ("pseudonym_key", "" when neither has it)."""
    given = {field: environ.get(name, "").strip() for field, name in SECRET_VARIABLES.items()}
    pseudonym_key = environ.get(PSEUDONYM_KEY_VARIABLE, "").strip()
    path = environ.get(SECRETS_PATH_VARIABLE, "").strip()
    if (all(given.values()) and pseudonym_key) or not path:
        found = {field: _required(environ, name) for field, name in SECRET_VARIABLES.items()}
        return {**found, "pseudonym_key": pseudonym_key}
    stored = read_stored(path, region)
    secrets = {}
    for field, name in SECRET_VARIABLES.items():
        value = given[field] or str(stored.get(field, "")).strip()
        if not value:
            raise SettingsError(
                f"SSM parameter {path}{SECRET_PARAMETERS[field]} is missing "
                f"(and environment variable {name} is not set)"
            )
        secrets[field] = value
    secrets["pseudonym_key"] = pseudonym_key or str(stored.get("pseudonym_key", "")).strip()
    return secrets


def settings_from(
    environ: Mapping[str, str], *, read_stored_secrets: StoredSecretsReader | None = None
) -> Settings:
    """`read_stored_secrets`: where the secrets the environment lacks come from (SSM unless
    told otherwise)."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    secrets = _whatsapp_secrets(environ, region, read_stored_secrets or _stored_secrets)
    return Settings(
        stage=environ.get("CIVICCHAT_STAGE", "dev"),
        aws_region=region,
        whatsapp_api_url=environ.get("WHATSAPP_API_URL", DEFAULT_GRAPH_API_URL).rstrip("/"),
        whatsapp_access_token=secrets["whatsapp_access_token"],
        whatsapp_app_secret=secrets["whatsapp_app_secret"],
        whatsapp_verify_token=secrets["whatsapp_verify_token"],
        whatsapp_phone_number_id=secrets["whatsapp_phone_number_id"],
        config_path=configured_config_path(environ),
        whatsapp_max_mps=_positive_int(environ, "WHATSAPP_MAX_MPS", 80),
        log_level=environ.get("LOG_LEVEL", "INFO"),
        media_bucket=environ.get(MEDIA_BUCKET_VARIABLE, "").strip() or None,
        user_pool_id=environ.get(USER_POOL_ID_VARIABLE, "").strip() or None,
        user_pool_client_id=environ.get(USER_POOL_CLIENT_ID_VARIABLE, "").strip() or None,
        agent_tokens=_agent_tokens(environ),
        s3_endpoint_url=(
            environ.get("AWS_ENDPOINT_URL_S3", "").strip()
            or environ.get("AWS_ENDPOINT_URL", "").strip()
            or None
        ),
        pseudonym_key=secrets["pseudonym_key"] or None,
    )


@cache
def get_settings() -> Settings:
    return settings_from(os.environ)


def console_user_pool_arn() -> str:
    """See USER_POOL_ARN_VARIABLE."""
    return os.environ.get(USER_POOL_ARN_VARIABLE, "").strip() or PLACEHOLDER_USER_POOL_ARN


def configured_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The municipality file the service loads: CIVICCHAT_CONFIG, else the bundled example.
    Also for operator commands, which must not need the WhatsApp secrets get_settings wants."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("CIVICCHAT_CONFIG") or BUNDLED_CONFIG)


def current_stage() -> str:
    """The stage alone, needed at import time by app.py to name queues for event sources."""
    return os.environ.get("CIVICCHAT_STAGE", "dev")
