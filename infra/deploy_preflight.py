"""Everything `civicchat deploy` checks before it changes anything: the municipality's
configuration, the AWS credentials and region, the WhatsApp secrets, the first admin's e-mail
and (unless skipped) that Meta accepts the token for the number. Only reads; each failure is
one line saying what to do (PreflightError, exit code 2).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.resource_names import ResourceNames
from chalicelib.settings import DEFAULT_GRAPH_API_URL, SECRET_VARIABLES, configured_config_path

PREFLIGHT_EXIT_CODE = 2
# STS's answers for credentials that exist but that AWS does not accept.
_REJECTED_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "AccessDenied",
    }
)
SECRET_FLAGS = {
    "whatsapp_access_token": "--access-token",
    "whatsapp_app_secret": "--app-secret",
    "whatsapp_phone_number_id": "--phone-number-id",
    "whatsapp_verify_token": "--verify-token",
}
SECRET_LABELS = {
    "whatsapp_access_token": "the WhatsApp access token",
    "whatsapp_app_secret": "the Meta app secret",
    "whatsapp_phone_number_id": "the WhatsApp phone number id",
    "whatsapp_verify_token": "the webhook verify token",
}
# What a terminal asks for (the verify token is made up when there is none).
PROMPTS = {
    "whatsapp_access_token": ("WhatsApp access token (not shown): ", True),
    "whatsapp_app_secret": ("Meta app secret (not shown): ", True),
    "whatsapp_phone_number_id": ("WhatsApp phone number id: ", False),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# (prompt, hide what is typed) → the answer. Given only when there is a terminal to ask in.
Ask = Callable[[str, bool], str]


class PreflightError(Exception):
    """A reason not to start, as one line for the operator."""


@dataclass(frozen=True, slots=True)
class AwsTarget:
    """The account and region the user's own credentials reach."""

    session: Any  # boto3.session.Session
    region: str
    account_id: str
    caller_arn: str
    credentials_label: str  # "the credentials of profile town-hall", for messages

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.session.client(service, region_name=self.region, **kwargs)


@dataclass(frozen=True, slots=True)
class WhatsAppSecrets:
    values: dict[str, str]  # settings field → value
    sources: dict[str, str]  # settings field → "flag", "environment", "stored", "typed", "new"


# ---- the municipality's configuration --------------------------------------------------------


def municipality_config(given: str | None, environ: Mapping[str, str]) -> tuple[Path, Any]:
    """The file (`--config`, else CIVICCHAT_CONFIG, else the bundled example) and its
    definition, checked as the service will load it."""
    from chalicelib.adapters.config_file import load_municipality_file
    from chalicelib.domain.bot.errors import ConfigError

    path = Path(given) if given else configured_config_path(environ)
    try:
        return path, load_municipality_file(path)
    except ConfigError as error:
        first = str(error.problems[0]) if error.problems else "invalid"
        more = len(error.problems) - 1
        rest = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
        raise PreflightError(
            f"the municipality config {path} is not valid: {first}{rest}; "
            f"`civicchat config validate {path}` lists every problem"
        ) from error


# ---- AWS -------------------------------------------------------------------------------------


def aws_target(profile: str | None, region: str | None, environ: Mapping[str, str]) -> AwsTarget:
    """The user's standard credentials (`--profile`, else AWS_PROFILE, else the default chain),
    checked with STS GetCallerIdentity, which needs no permission."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

    profile = profile or environ.get("AWS_PROFILE") or None
    try:
        session = boto3.session.Session(profile_name=profile)
    except ProfileNotFound as error:
        raise PreflightError(
            f"there is no AWS profile {profile!r} in ~/.aws/config or ~/.aws/credentials "
            "(`aws configure --profile NAME` makes one)"
        ) from error
    region = region or environ.get("AWS_REGION") or session.region_name
    label = _credentials_label(session, profile)
    if not region:
        where = f"profile {profile}" if profile else "your AWS profile"
        raise PreflightError(
            f"no AWS region: give --region, set AWS_REGION, or set a region in {where} "
            "(`aws configure`)"
        )
    try:
        credentials = session.get_credentials()
    except BotoCoreError as error:
        raise PreflightError(f"cannot load {label}: {error}") from error
    if credentials is None:
        raise PreflightError(
            "no AWS credentials found: run `aws configure` (or `aws sso login`), set "
            "AWS_PROFILE, or give --profile"
        )
    sts = session.client("sts", region_name=region)
    try:
        identity = sts.get_caller_identity()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        if code == "InvalidClientTokenId":
            # Also what STS answers in a region the account has not enabled (opt-in regions).
            raise PreflightError(
                f"AWS rejected {label}: {message} ({code}), or the region {region} is not "
                "enabled for this account (AWS console > Account > AWS Regions)"
            ) from error
        if code in _REJECTED_CREDENTIALS:
            raise PreflightError(f"AWS rejected {label}: {message} ({code})") from error
        raise PreflightError(f"AWS STS refused GetCallerIdentity with {label}: {error}") from error
    except BotoCoreError as error:
        raise PreflightError(f"cannot check {label} with AWS STS: {error}") from error
    return AwsTarget(
        session=session,
        region=region,
        account_id=str(identity["Account"]),
        caller_arn=str(identity["Arn"]),
        credentials_label=label,
    )


S3_BUCKET_NAME_LIMIT = 63


def check_bucket_names(names: ResourceNames, account_id: str, region: str) -> None:
    """The stage's bucket names hold the stage, the account and the region, and S3 takes at
    most 63 characters: a long stage in a long-named region does not fit."""
    from infra.artifacts import artifacts_bucket_name

    buckets = {
        "media bucket": names.media_bucket(account_id, region),
        "artifacts bucket": artifacts_bucket_name(names, account_id, region),
    }
    too_long = {kind: name for kind, name in buckets.items() if len(name) > S3_BUCKET_NAME_LIMIT}
    if not too_long:
        return
    kind, name = max(too_long.items(), key=lambda item: len(item[1]))
    longest_stage = len(names.stage) - (len(name) - S3_BUCKET_NAME_LIMIT)
    raise PreflightError(
        f"stage {names.stage!r} is too long for {region}: the {kind}'s name {name} would have "
        f"{len(name)} characters, and S3 allows at most {S3_BUCKET_NAME_LIMIT}; choose a stage "
        f"of at most {longest_stage} characters"
    )


def _credentials_label(session: Any, profile: str | None) -> str:
    if profile:
        return f"the credentials of profile {profile}"
    try:
        credentials = session.get_credentials()
    except Exception:
        credentials = None
    if credentials is not None and getattr(credentials, "method", "") == "env":
        return "the credentials in the environment (AWS_ACCESS_KEY_ID)"
    return "the credentials of profile default"


# ---- WhatsApp secrets ------------------------------------------------------------------------


def whatsapp_secrets(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    stored: Mapping[str, str],
    ask: Ask | None,
) -> WhatsAppSecrets:
    """Each secret from its flag, else its WHATSAPP_* variable, else what an earlier deploy
    stored, else typed at a prompt (only in a terminal); a new verify token is made up."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for field, variable in SECRET_VARIABLES.items():
        for source, value in (
            ("flag", flags.get(field)),
            ("environment", environ.get(variable)),
            ("stored", stored.get(field)),
        ):
            if value and value.strip():
                values[field], sources[field] = value.strip(), source
                break
    missing = [field for field in PROMPTS if field not in values]
    if missing and ask is not None:
        for field in missing:
            typed = ask(*PROMPTS[field])
            if typed.strip():
                values[field], sources[field] = typed.strip(), "typed"
        missing = [field for field in PROMPTS if field not in values]
    if missing:
        labels = _and([SECRET_LABELS[field] for field in missing])
        how = _and([f"{SECRET_FLAGS[f]} (or {SECRET_VARIABLES[f]})" for f in missing])
        raise PreflightError(
            f"missing {labels}: give {how}, or run this in a terminal to be asked "
            "(Meta's app dashboard: WhatsApp > API Setup, and App settings > Basic)"
        )
    if "whatsapp_verify_token" not in values:
        values["whatsapp_verify_token"] = secrets.token_urlsafe(24)
        sources["whatsapp_verify_token"] = "new"  # noqa: S105 - where it came from
    _pseudonym_key(environ, stored, values, sources)
    return WhatsAppSecrets(values=values, sources=sources)


def _pseudonym_key(
    environ: Mapping[str, str],
    stored: Mapping[str, str],
    values: dict[str, str],
    sources: dict[str, str],
) -> None:
    """The key of residents' pseudonyms in the audit log (docs/audit.md): the stored one is
    kept (a new key would cut every resident off their history), else CIVICCHAT_PSEUDONYM_KEY,
    else one is made up. Never printed."""
    from chalicelib.settings import PSEUDONYM_KEY_VARIABLE

    for source, value in (
        ("stored", stored.get("pseudonym_key")),
        ("environment", environ.get(PSEUDONYM_KEY_VARIABLE)),
    ):
        if value and value.strip():
            values["pseudonym_key"], sources["pseudonym_key"] = value.strip(), source
            return
    values["pseudonym_key"] = secrets.token_urlsafe(32)
    sources["pseudonym_key"] = "new"


def stored_secrets(target: AwsTarget, secrets_path: str) -> dict[str, str]:
    from chalicelib.adapters.ssm_secrets import SecretsUnavailableError, read_secrets

    try:
        return read_secrets(secrets_path, client=target.client("ssm"))
    except SecretsUnavailableError as error:
        raise PreflightError(str(error)) from error


def check_whatsapp_number(
    api_url: str | None, phone_number_id: str, access_token: str, *, timeout: float = 10.0
) -> str:
    """Ask Meta's Graph API about the number with the token (as Meta's own dashboard does);
    returns "display number (verified name)"."""
    import requests

    base = (api_url or DEFAULT_GRAPH_API_URL).rstrip("/")
    try:
        response = requests.get(
            f"{base}/{phone_number_id}",
            params={"fields": "display_phone_number,verified_name"},
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise PreflightError(
            f"cannot reach the Graph API at {base} to check the token ({error}); "
            "check the network, or add --skip-meta-check"
        ) from error
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and isinstance(body, dict):
        number = body.get("display_phone_number") or phone_number_id
        name = body.get("verified_name")
        return f"{number} ({name})" if name else str(number)
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = error.get("code")
    message = error.get("message") or response.reason
    if response.status_code == 401 or code == 190:
        raise PreflightError(
            f"Meta refused the WhatsApp access token: {message} (code {code}); make a new one "
            "(a System User's token in Meta Business settings) and give it with --access-token"
        )
    if code == 100:
        raise PreflightError(
            f"Meta knows no phone number {phone_number_id} for this token: {message}; check "
            "--phone-number-id (WhatsApp > API Setup shows it)"
        )
    raise PreflightError(
        f"the Graph API answered HTTP {response.status_code} about phone number "
        f"{phone_number_id}: {message} (code {code}); add --skip-meta-check to deploy anyway"
    )


# ---- the first administrator ---------------------------------------------------------------


def email_address(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise PreflightError(f"{option} {value!r} is not an e-mail address")
    return value


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---- the account's Lambda concurrency --------------------------------------------------------

# Enough for every queue consumer at its cap (infra/app_package.py: 12 together), the scheduled
# jobs and bursts of webhooks and console requests. New AWS accounts start at 10.
RECOMMENDED_CONCURRENCY = 100
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: AWS Lambda, Concurrent executions


def concurrency_advice(limit: int | None, region: str) -> str | None:
    """What to tell the operator when the account's concurrency quota is too low: the stack
    deploys, but queue consumers get throttled, and a throttled inbound message counts as a
    receive towards its dead-letter queue."""
    if limit is None or limit >= RECOMMENDED_CONCURRENCY:
        return None
    return (
        f"this account may run only {limit} Lambda functions at once in {region} (new accounts "
        f"start at 10); civicchat needs about {RECOMMENDED_CONCURRENCY} to keep up. Ask AWS for "
        "more before going live, free of charge: `aws service-quotas "
        f"request-service-quota-increase --service-code lambda --quota-code "
        f"{LAMBDA_CONCURRENCY_QUOTA} --desired-value 1000 --region {region}` (or Service Quotas "
        "> AWS Lambda > Concurrent executions in the AWS console)"
    )


def lambda_concurrency_limit(target: AwsTarget) -> int | None:
    """The account's concurrent executions quota, or None when it cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = target.client("lambda").get_account_settings()
    except (BotoCoreError, ClientError):
        return None
    limit = settings.get("AccountLimit", {}).get("ConcurrentExecutions")
    return int(limit) if limit is not None else None
