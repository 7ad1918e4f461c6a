"""API keys of back-office systems: shown once, stored only as a hash, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

SCOPES = frozenset(
    {
        "reminders:write",
        "notifications:write",
        "status:read",
        "broadcasts:write",  # create, preview and cancel broadcasts (and read them)
        "broadcasts:read",
    }
)
KEY_PREFIX = "cck_"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    name: str  # "tax-office": unique, who calls in logs and in `registered_by`
    key_hash: str  # sha256 hex of the whole key
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def new_secret() -> str:
    """A fresh key: 256 bits of randomness, recognisable by its prefix in secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    """Keys are long random strings, so a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()
