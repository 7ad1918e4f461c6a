"""Webhook plumbing that any HTTP framework can call: the GET verification handshake and the
`X-Hub-Signature-256` check of POST bodies (facts sheet §1)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from enum import Enum

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureCheck(Enum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


def sign(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta would send for `raw_body`."""
    _require_secret(app_secret)
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> SignatureCheck:
    """Check the header against an HMAC-SHA256 of the exact bytes received; re-serialised JSON
    would not match. An absent or blank header is MISSING; anything else that does not match,
    including a malformed header, is INVALID."""
    _require_secret(app_secret)
    if header is None or not header.strip():
        return SignatureCheck.MISSING
    value = header.strip()
    if value[: len(_PREFIX)].lower() != _PREFIX:
        return SignatureCheck.INVALID
    received = value[len(_PREFIX) :].lower()
    if not _HEX_DIGEST.fullmatch(received):
        return SignatureCheck.INVALID
    expected = sign(raw_body, app_secret)[len(_PREFIX) :]
    if hmac.compare_digest(expected, received):
        return SignatureCheck.VALID
    return SignatureCheck.INVALID


def answer_challenge(params: Mapping[str, str] | None, verify_token: str) -> str | None:
    """The body for Meta's GET handshake: `hub.challenge` unchanged when `hub.mode` is
    `subscribe` and `hub.verify_token` matches ours, else None (answer with a non-200)."""
    if not params or not verify_token:
        return None
    if params.get("hub.mode") != "subscribe":
        return None
    challenge = params.get("hub.challenge")
    if not challenge:
        return None
    offered = params.get("hub.verify_token") or ""
    # Bytes, because compare_digest refuses non-ASCII str.
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        return None
    return challenge


def _require_secret(app_secret: str) -> None:
    # An empty key would make every forged request "valid" for anyone who guesses that.
    if not app_secret:
        raise ValueError("app_secret is empty")
