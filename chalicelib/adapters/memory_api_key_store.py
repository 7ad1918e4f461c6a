"""ApiKeyStore in memory, for service and HTTP tests. Passes the same contract tests as the
DynamoDB store (tests/integration/test_api_key_store_contracts.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.adapters.memory_stores import InMemoryDatabase
from chalicelib.domain.api_keys import ApiKey
from chalicelib.services.api_keys import ApiKeyNameTakenError


class InMemoryApiKeyStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def find(self, key_hash: str) -> ApiKey | None:
        with self.database.lock:
            return self.database.api_keys.get(key_hash)  # frozen: nothing to copy

    def add(self, key: ApiKey) -> None:
        with self.database.lock:
            keys = self.database.api_keys
            if key.key_hash in keys or any(k.name == key.name and k.active for k in keys.values()):
                raise ApiKeyNameTakenError(f"an active API key is already named '{key.name}'")
            keys[key.key_hash] = key

    def revoke(self, name: str, now: datetime) -> bool:
        with self.database.lock:
            keys = self.database.api_keys
            active = next((k for k in keys.values() if k.name == name and k.active), None)
            if active is None:
                return False
            keys[active.key_hash] = replace(active, revoked_at=now)
            return True

    def list(self) -> list[ApiKey]:
        with self.database.lock:
            return sorted(self.database.api_keys.values(), key=lambda k: (k.name, k.created_at))
