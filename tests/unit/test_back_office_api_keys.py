"""API keys: created once and shown once, stored as a hash, checked from the Authorization
header, scoped; and the `civicchat apikey` commands."""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime

import pytest

from chalicelib import apikey_commands
from chalicelib.adapters.memory_api_key_store import InMemoryApiKeyStore
from chalicelib.domain.api_keys import ApiKey
from chalicelib.services.api_keys import (
    ApiKeyError,
    ApiKeyNameTakenError,
    AuthenticationError,
    MissingScopeError,
    authenticate,
    create_api_key,
    parse_scopes,
    require_scope,
)

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
WRITE = frozenset({"reminders:write"})


def test_a_created_key_is_kept_only_as_its_sha256() -> None:
    store = InMemoryApiKeyStore()

    created = create_api_key(store, "tax-office", WRITE, NOW)

    assert created.secret.startswith("cck_") and len(created.secret) > 40
    assert created.key.key_hash == hashlib.sha256(created.secret.encode()).hexdigest()
    assert created.secret not in repr(store.database.api_keys)
    assert store.find(created.key.key_hash) == created.key


def test_a_bearer_key_authenticates() -> None:
    store = InMemoryApiKeyStore()
    created = create_api_key(store, "tax-office", WRITE, NOW)

    assert authenticate(store, f"Bearer {created.secret}") == created.key
    assert authenticate(store, f"bearer   {created.secret}  ") == created.key


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <API key>'"),
        ("Bearer", "must be 'Bearer <API key>'"),
        ("Bearer cck_unknown", "unknown or revoked"),
        ("Bearer sk_live_somebody_elses", "unknown or revoked"),
        ("Bearer cck_" + "x" * 500, "unknown or revoked"),
    ],
)
def test_anything_else_is_refused(header: str | None, message: str) -> None:
    store = InMemoryApiKeyStore()
    create_api_key(store, "tax-office", WRITE, NOW)

    with pytest.raises(AuthenticationError, match=message):
        authenticate(store, header)


def test_a_revoked_key_is_refused() -> None:
    store = InMemoryApiKeyStore()
    created = create_api_key(store, "tax-office", WRITE, NOW)
    store.revoke("tax-office", NOW)

    with pytest.raises(AuthenticationError):
        authenticate(store, f"Bearer {created.secret}")


def test_scopes_are_checked() -> None:
    key = ApiKey(name="n", key_hash="h", scopes=frozenset({"status:read"}), created_at=NOW)

    require_scope(key, "status:read", "reminders:write")
    with pytest.raises(MissingScopeError, match="lacks the scope reminders:write"):
        require_scope(key, "reminders:write")


@pytest.mark.parametrize(
    ("raw", "message"),
    [("", "give at least one scope"), ("reminders:write,admin", "unknown scope admin")],
)
def test_scopes_are_parsed_strictly(raw: str, message: str) -> None:
    with pytest.raises(ApiKeyError, match=message):
        parse_scopes(raw)
    assert parse_scopes(" reminders:write , status:read ") == {"reminders:write", "status:read"}


@pytest.mark.parametrize("name", ["", "Tax Office", "tax/office", "-tax", "x" * 64])
def test_names_are_plain(name: str) -> None:
    with pytest.raises(ApiKeyError, match="not a usable name"):
        create_api_key(InMemoryApiKeyStore(), name, WRITE, NOW)


# --- the commands -----------------------------------------------------------------------------


def cli(store: InMemoryApiKeyStore, *argv: str) -> tuple[int, list[str]]:
    parser = argparse.ArgumentParser()
    apikey_commands.add_commands(parser.add_subparsers(dest="command"))
    printed: list[str] = []
    code = apikey_commands.run(parser.parse_args(argv), printed.append, store=store)
    return code, printed


def test_create_prints_the_key_once_and_says_so() -> None:
    store = InMemoryApiKeyStore()

    code, printed = cli(
        store, "apikey", "create", "--name", "tax-office", "--scopes", "reminders:write"
    )

    assert code == 0
    secret = printed[2].strip()
    (key,) = store.list()
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "cannot be shown again" in "\n".join(printed)
    listed = cli(store, "apikey", "list")[1]
    assert secret not in "\n".join(listed)
    assert listed[0].startswith("tax-office\treminders:write\tcreated 2")
    assert listed[-1] == "1 API key(s)"


def test_create_refuses_a_taken_name_or_a_bad_scope() -> None:
    store = InMemoryApiKeyStore()
    cli(store, "apikey", "create", "--name", "tax-office", "--scopes", "reminders:write")

    taken = cli(store, "apikey", "create", "--name", "tax-office", "--scopes", "status:read")
    bad_scope = cli(store, "apikey", "create", "--name", "other", "--scopes", "everything")

    assert taken == (2, ["civicchat: an active API key is already named 'tax-office'"])
    assert bad_scope[0] == 2 and "unknown scope everything" in bad_scope[1][0]


def test_revoke_then_create_again_rotates_a_key() -> None:
    store = InMemoryApiKeyStore()
    cli(store, "apikey", "create", "--name", "tax-office", "--scopes", "reminders:write")

    assert cli(store, "apikey", "revoke", "--name", "tax-office") == (
        0,
        ["API key tax-office revoked"],
    )
    assert cli(store, "apikey", "revoke", "--name", "tax-office") == (
        1,
        ["civicchat: no active API key named tax-office"],
    )
    assert cli(store, "apikey", "create", "--name", "tax-office", "--scopes", "status:read")[0] == 0
    states = [line.split("\t")[3].split()[0] for line in cli(store, "apikey", "list")[1][:-1]]
    assert sorted(states) == ["active", "revoked"]


def test_the_name_taken_error_is_an_api_key_error() -> None:
    assert issubclass(ApiKeyNameTakenError, ApiKeyError)
