"""Contract tests for the ApiKeyStore port: the same class runs against the in-memory twin and
against DynamoDB on the moto server (a fresh stage per module, provisioned from the real
template). Then what is at rest in the table: hashes, never keys."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.adapters.dynamodb_api_key_store import DynamoDBApiKeyStore
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.memory_api_key_store import InMemoryApiKeyStore
from chalicelib.domain.api_keys import ApiKey, hash_key, new_secret
from chalicelib.resource_names import ResourceNames
from chalicelib.services.api_keys import ApiKeyNameTakenError, create_api_key
from chalicelib.services.ports import ApiKeyStore
from infra.local_emulator import provision

REGION = "eu-west-1"
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def a_name() -> str:
    return f"office-{uuid.uuid4().hex[:10]}"


def a_key(name: str, scopes: frozenset[str] = frozenset({"reminders:write"})) -> ApiKey:
    return ApiKey(name=name, key_hash=hash_key(new_secret()), scopes=scopes, created_at=NOW)


class ApiKeyStoreContract:
    @pytest.fixture
    def store(self) -> ApiKeyStore:
        raise NotImplementedError

    def test_an_added_key_is_found_by_its_hash(self, store: ApiKeyStore) -> None:
        key = a_key(a_name(), frozenset({"reminders:write", "status:read"}))
        store.add(key)

        assert store.find(key.key_hash) == key
        assert store.find(hash_key(new_secret())) is None
        assert store.find("") is None

    def test_names_are_unique_among_active_keys(self, store: ApiKeyStore) -> None:
        name = a_name()
        first = a_key(name)
        store.add(first)

        with pytest.raises(ApiKeyNameTakenError):
            store.add(a_key(name))

        assert [k for k in store.list() if k.name == name] == [first]

    def test_a_revoked_key_stays_listed_and_is_found_revoked(self, store: ApiKeyStore) -> None:
        key = a_key(a_name())
        store.add(key)

        assert store.revoke(key.name, NOW + timedelta(hours=1)) is True

        found = store.find(key.key_hash)
        assert found is not None and not found.active
        assert found.revoked_at == NOW + timedelta(hours=1)
        assert found in store.list()

    def test_revoking_twice_or_an_unknown_name_changes_nothing(self, store: ApiKeyStore) -> None:
        key = a_key(a_name())
        store.add(key)
        store.revoke(key.name, NOW)

        assert store.revoke(key.name, NOW + timedelta(days=1)) is False
        assert store.revoke(a_name(), NOW) is False
        found = store.find(key.key_hash)
        assert found is not None and found.revoked_at == NOW

    def test_a_revoked_name_can_be_given_to_a_new_key(self, store: ApiKeyStore) -> None:
        old = a_key(a_name())
        store.add(old)
        store.revoke(old.name, NOW)
        new = a_key(old.name)

        store.add(new)

        assert store.find(new.key_hash) == new
        assert store.revoke(old.name, NOW) is True  # the new one
        revoked = store.find(new.key_hash)
        assert revoked is not None and not revoked.active

    def test_list_is_by_name(self, store: ApiKeyStore) -> None:
        names = sorted(a_name() for _ in range(3))
        for name in reversed(names):
            store.add(a_key(name))

        listed = [k.name for k in store.list() if k.name in names]

        assert listed == names

    def test_two_operators_creating_one_name_get_one_key(self, store: ApiKeyStore) -> None:
        name = a_name()
        outcomes: list[str] = []

        def create() -> None:
            try:
                create_api_key(store, name, frozenset({"status:read"}), NOW)
                outcomes.append("created")
            except ApiKeyNameTakenError:
                outcomes.append("taken")

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["created", "taken", "taken", "taken"]
        assert len([k for k in store.list() if k.name == name]) == 1


class TestInMemoryApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def store(self) -> ApiKeyStore:
        return InMemoryApiKeyStore()


@pytest.fixture(scope="module")
def moto_stage(moto_endpoint: str) -> ResourceNames:
    names = ResourceNames(f"k{uuid.uuid4().hex[:8]}")
    provision(moto_endpoint, names, REGION)
    return names


class TestDynamoDBApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def store(self, moto_stage: ResourceNames, aws_env: str) -> ApiKeyStore:
        return DynamoDBApiKeyStore(stage_tables(moto_stage, REGION))

    def test_only_hashes_are_at_rest(self, moto_stage: ResourceNames, aws_env: str) -> None:
        store = DynamoDBApiKeyStore(stage_tables(moto_stage, REGION))
        created = create_api_key(store, a_name(), frozenset({"reminders:write"}), NOW)

        dynamodb = boto3.client("dynamodb", region_name=REGION)
        items = dynamodb.scan(TableName=moto_stage.table("apikeys"))["Items"]

        assert created.secret not in str(items)
        assert hash_key(created.secret) in str(items)

    def test_request_budgets(self, moto_stage: ResourceNames, aws_env: str) -> None:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
        operations: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )
        store = DynamoDBApiKeyStore(stage_tables(moto_stage, REGION, dynamodb_client=client))
        key = a_key(a_name())

        store.add(key)
        assert operations == ["TransactWriteItems"]
        operations.clear()
        store.find(key.key_hash)
        assert operations == ["GetItem"]  # the request path: one read, no Scan
        operations.clear()
        store.revoke(key.name, NOW)
        assert operations == ["GetItem", "TransactWriteItems"]


def test_the_commands_act_on_a_stages_table(moto_stage: ResourceNames, aws_env: str) -> None:
    import argparse

    from chalicelib import apikey_commands

    parser = argparse.ArgumentParser()
    apikey_commands.add_commands(parser.add_subparsers(dest="command"))
    name = a_name()

    def cli(*argv: str) -> list[str]:
        printed: list[str] = []
        args = parser.parse_args([*argv, "--stage", moto_stage.stage])
        assert apikey_commands.run(args, printed.append) == 0
        return printed

    secret = cli("apikey", "create", "--name", name, "--scopes", "status:read")[2].strip()
    store = DynamoDBApiKeyStore(stage_tables(moto_stage, REGION))
    key = store.find(hash_key(secret))
    assert key is not None and key.name == name
    assert any(line.startswith(f"{name}\tstatus:read") for line in cli("apikey", "list"))
    assert cli("apikey", "revoke", "--name", name) == [f"API key {name} revoked"]
