"""ApiKeyStore on DynamoDB: the `apikeys` table of one stage (see `ApiKeyModel`).

Only sha256 hashes of keys are stored. Budgets: `find` 1 GetItem (consistent, so a revocation
takes effect on the next request), `add` 1 TransactWriteItems (the key and its name claim),
`revoke` 1 GetItem + 1 TransactWriteItems. `list` Scans the table: it serves the operator's
`civicchat apikey list`, never a request path, and the table holds a handful of items.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb_models import (
    API_KEY_NAME_PREFIX,
    ITEM_CHECK_FAILED,
    ApiKeyModel,
    StageTableStore,
)
from chalicelib.domain.api_keys import ApiKey
from chalicelib.services.api_keys import ApiKeyNameTakenError


class DynamoDBApiKeyStore(StageTableStore):
    def find(self, key_hash: str) -> ApiKey | None:
        if not key_hash or key_hash.startswith(API_KEY_NAME_PREFIX):
            return None
        try:
            item = self._tables.api_keys.get(key_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return _to_key(item)

    def add(self, key: ApiKey) -> None:
        tables = self._tables
        model = tables.api_keys
        claim = model(_name_key(key.name), name=key.name, current_hash=key.key_hash, revoked=False)
        # The name is free when never used or when its key was revoked.
        name_is_free = model.key_hash.does_not_exist() | (model.revoked == True)  # noqa: E712
        try:
            with TransactWrite(connection=tables.connection) as transaction:
                transaction.save(_from_key(model, key), condition=model.key_hash.does_not_exist())
                transaction.save(claim, condition=name_is_free)
        except TransactWriteError as error:
            if not _condition_failed(error):
                raise
            raise ApiKeyNameTakenError(
                f"an active API key is already named '{key.name}'"
            ) from error

    def revoke(self, name: str, now: datetime) -> bool:
        tables = self._tables
        model = tables.api_keys
        try:
            claim = model.get(_name_key(name), consistent_read=True)
        except DoesNotExist:
            return False
        if claim.revoked or not claim.current_hash:
            return False
        try:
            with TransactWrite(connection=tables.connection) as transaction:
                transaction.update(
                    model(claim.current_hash),
                    actions=[model.revoked_at.set(now)],
                    condition=model.key_hash.exists() & model.revoked_at.does_not_exist(),
                )
                transaction.update(
                    model(claim.key_hash),
                    actions=[model.revoked.set(True)],
                    condition=model.current_hash == claim.current_hash,
                )
        except TransactWriteError as error:
            if not _condition_failed(error):
                raise
            return False  # revoked (or replaced) by someone else meanwhile
        return True

    def list(self) -> list[ApiKey]:
        # A Scan, on purpose: operators list keys by hand; no request path calls this.
        keys = [
            _to_key(item)
            for item in self._tables.api_keys.scan()
            if not item.key_hash.startswith(API_KEY_NAME_PREFIX)
        ]
        return sorted(keys, key=lambda k: (k.name, k.created_at))


def _condition_failed(error: TransactWriteError) -> bool:
    reasons = error.cancellation_reasons or []
    return any(reason is not None and reason.code == ITEM_CHECK_FAILED for reason in reasons)


def _name_key(name: str) -> str:
    return f"{API_KEY_NAME_PREFIX}{name}"


def _from_key(model: type[ApiKeyModel], key: ApiKey) -> ApiKeyModel:
    return model(
        key.key_hash,
        name=key.name,
        scopes=sorted(key.scopes),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _to_key(item: ApiKeyModel) -> ApiKey:
    assert item.created_at is not None, "a key item always has created_at"
    return ApiKey(
        name=item.name,
        key_hash=item.key_hash,
        scopes=frozenset(item.scopes or ()),
        created_at=item.created_at,
        revoked_at=item.revoked_at,
    )
