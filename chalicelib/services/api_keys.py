"""Back-office API keys: creating one (the secret is shown once and only its hash is kept),
revoking it, and telling who calls from an `Authorization: Bearer <key>` header."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.api_keys import KEY_PREFIX, SCOPES, ApiKey, hash_key, new_secret
from chalicelib.services.ports import ApiKeyStore

# A name ends up in logs and in every obligation's `registered_by`: keep it plain.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# new_secret() makes 4 + 43 characters; anything much longer is not one of ours.
_MAX_KEY_LENGTH = 200


class ApiKeyError(Exception):
    """The operator asked for something that cannot be done; the message says why."""


class ApiKeyNameTakenError(ApiKeyError):
    """An active key already has this name (revoke it first to reuse the name)."""


class AuthenticationError(Exception):
    """No usable key: missing, malformed, unknown or revoked (HTTP 401)."""


class MissingScopeError(Exception):
    """The key is good but not allowed to do this (HTTP 403)."""

    def __init__(self, needed: Iterable[str]) -> None:
        self.needed = tuple(sorted(needed))
        super().__init__("this API key lacks the scope " + " or ".join(self.needed))


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once to the operator, never stored


def parse_scopes(raw: str) -> frozenset[str]:
    """'reminders:write,notifications:write' → the scopes; unknown ones raise ApiKeyError."""
    scopes = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not scopes:
        raise ApiKeyError("give at least one scope: " + ", ".join(sorted(SCOPES)))
    unknown = scopes - SCOPES
    if unknown:
        raise ApiKeyError(
            f"unknown scope {', '.join(sorted(unknown))}; known: {', '.join(sorted(SCOPES))}"
        )
    return scopes


def create_api_key(
    store: ApiKeyStore, name: str, scopes: frozenset[str], now: datetime
) -> CreatedKey:
    if not _NAME.match(name):
        raise ApiKeyError(
            f"'{name}' is not a usable name: lowercase letters, digits, '-' and '_', "
            "at most 63 characters, like tax-office"
        )
    if not scopes or not scopes <= SCOPES:
        raise ApiKeyError("unknown scopes: " + ", ".join(sorted(scopes - SCOPES)))
    secret = new_secret()
    key = ApiKey(name=name, key_hash=hash_key(secret), scopes=frozenset(scopes), created_at=now)
    store.add(key)  # raises ApiKeyNameTakenError
    return CreatedKey(key=key, secret=secret)


def authenticate(store: ApiKeyStore, authorization: str | None) -> ApiKey:
    """The active key named by an `Authorization: Bearer <key>` header; AuthenticationError
    otherwise. Only the key's hash is looked up: the store never sees the secret."""
    if not authorization:
        raise AuthenticationError("missing Authorization header: send 'Bearer <API key>'")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationError("the Authorization header must be 'Bearer <API key>'")
    if not secret.startswith(KEY_PREFIX) or len(secret) > _MAX_KEY_LENGTH:
        raise AuthenticationError("unknown or revoked API key")
    key = store.find(hash_key(secret))
    if key is None or not key.active:
        raise AuthenticationError("unknown or revoked API key")
    return key


def require_scope(key: ApiKey, *any_of: str) -> None:
    """Raise MissingScopeError unless the key has at least one of the scopes."""
    if not key.scopes & set(any_of):
        raise MissingScopeError(any_of)
