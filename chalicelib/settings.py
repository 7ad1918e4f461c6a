"""The only reader of os.environ. Settings are read once, frozen, and fail fast naming the
missing variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chalicelib.resource_names import ResourceNames

BUNDLED_CONFIG = Path(__file__).parent / "config" / "example-town.yaml"
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com/v23.0"
# Set by the deployment (the bucket's name holds the AWS account id, see ResourceNames) and by
# the local stack; only the media worker needs it, so it is checked when the archive is built.
MEDIA_BUCKET_VARIABLE = "CIVICCHAT_MEDIA_BUCKET"


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

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.stage)

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


def settings_from(environ: Mapping[str, str]) -> Settings:
    return Settings(
        stage=environ.get("CIVICCHAT_STAGE", "dev"),
        aws_region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "eu-west-1",
        whatsapp_api_url=environ.get("WHATSAPP_API_URL", DEFAULT_GRAPH_API_URL).rstrip("/"),
        whatsapp_access_token=_required(environ, "WHATSAPP_ACCESS_TOKEN"),
        whatsapp_app_secret=_required(environ, "WHATSAPP_APP_SECRET"),
        whatsapp_verify_token=_required(environ, "WHATSAPP_VERIFY_TOKEN"),
        whatsapp_phone_number_id=_required(environ, "WHATSAPP_PHONE_NUMBER_ID"),
        config_path=Path(environ.get("CIVICCHAT_CONFIG") or BUNDLED_CONFIG),
        whatsapp_max_mps=_positive_int(environ, "WHATSAPP_MAX_MPS", 80),
        log_level=environ.get("LOG_LEVEL", "INFO"),
        media_bucket=environ.get(MEDIA_BUCKET_VARIABLE, "").strip() or None,
    )


@cache
def get_settings() -> Settings:
    return settings_from(os.environ)


def current_stage() -> str:
    """The stage alone, needed at import time by app.py to name queues for event sources."""
    return os.environ.get("CIVICCHAT_STAGE", "dev")
