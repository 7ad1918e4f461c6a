"""Helpers for the /api/v1 tests: API keys made through the real store on the harness's stage,
and requests carrying them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.dynamodb_api_key_store import DynamoDBApiKeyStore
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.resource_names import ResourceNames
from chalicelib.services.api_keys import create_api_key
from tests.app.conftest import REGION, AppHarness

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # a Monday, 10:30 in Lisbon: inside the window
ALL_WRITE = frozenset({"reminders:write", "notifications:write"})


def make_key(names: ResourceNames, name: str, scopes: frozenset[str]) -> str:
    store = DynamoDBApiKeyStore(stage_tables(names, REGION))
    return create_api_key(store, name, scopes, NOW).secret


def revoke_key(names: ResourceNames, name: str) -> None:
    assert DynamoDBApiKeyStore(stage_tables(names, REGION)).revoke(name, NOW)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class ApiClient:
    harness: AppHarness
    key: str | None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        key: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent_headers = {"Content-Type": content_type, **(headers or {})}
        chosen = self.key if key == "default" else key
        if chosen is not None:
            sent_headers["Authorization"] = f"Bearer {chosen}"
        if raw is not None:
            payload: bytes | str = raw
        elif body is not None:
            payload = json.dumps(body)
        else:
            payload = b""
        response = self.harness.client.http.request(
            method, path, headers=sent_headers, body=payload
        )
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        return Reply(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            json.loads(text) if text else None,
        )

    def put_obligation(self, external_id: str, body: Any, **options: Any) -> Reply:
        return self.call("PUT", f"/api/v1/obligations/{external_id}", body, **options)

    def get_obligation(self, external_id: str, **options: Any) -> Reply:
        return self.call("GET", f"/api/v1/obligations/{external_id}", **options)


def licence(phone: str = "+351912000001", due: str = "2027-01-15", **changes: Any) -> dict:
    body: dict[str, Any] = {
        "phone": phone,
        "kind": "driving_licence",
        "due_date": due,
        "params": {"name": "Ana Silva", "renewal_url": "https://example.org/renew"},
    }
    body.update(changes)
    return body


def document_ready(external_id: str, phone: str = "+351912000001", **changes: Any) -> dict:
    body: dict[str, Any] = {
        "external_id": external_id,
        "phone": phone,
        "kind": "document_ready",
        "params": {"name": "Ana", "document": "Cartão de Cidadão", "office": "Loja do Cidadão"},
    }
    body.update(changes)
    return body
