"""The OpenAPI document: a valid 3.1 document, listing exactly the routes the app has, built
from the configuration, and agreeing with what the code accepts and refuses. (schemathesis
checks the running API against it: tests/app/test_openapi_schemathesis.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.http.openapi import openapi_document
from chalicelib.services.back_office_input import InputError, read_notification, read_obligation
from chalicelib.settings import BUNDLED_CONFIG
from tests.unit.test_back_office_input import NOW


@pytest.fixture(scope="module")
def definition() -> MunicipalityDefinition:
    return load_municipality_file(Path(BUNDLED_CONFIG))


@pytest.fixture(scope="module")
def document(definition: MunicipalityDefinition) -> dict[str, Any]:
    return openapi_document(definition)


def schema_of(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one component schema, resolving its $refs inside the document."""
    schema = {**document["components"]["schemas"][name], "components": document["components"]}
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_it_is_a_valid_openapi_31_document(document: dict[str, Any]) -> None:
    spec_validator = pytest.importorskip("openapi_spec_validator")

    spec_validator.validate(document)
    assert document["openapi"] == "3.1.0"


def test_it_lists_exactly_the_apps_routes(document: dict[str, Any]) -> None:
    from app import app

    routes = {
        (path.replace("{collection_action}", "obligations:bulk"), method.lower())
        for path, methods in app.routes.items()
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json"
        for method in methods
    }
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == routes


def test_every_operation_documents_its_errors(document: dict[str, Any]) -> None:
    for operations in document["paths"].values():
        for operation in operations.values():
            assert {"401", "403"} <= set(operation["responses"])
            assert operation["security"] == [{"bearerAuth": []}]
            for code, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                assert (schema == {"$ref": "#/components/schemas/Error"}) == (code >= "400")


def test_kinds_languages_and_parameters_come_from_the_config(
    document: dict[str, Any], definition: MunicipalityDefinition
) -> None:
    obligation = document["components"]["schemas"]["ObligationInput"]

    assert obligation["properties"]["kind"]["enum"] == list(definition.reminders.kinds)
    assert obligation["properties"]["language"]["enum"] == [*definition.languages, None]
    rules = {
        rule["if"]["properties"]["kind"]["const"]: rule["then"] for rule in obligation["allOf"]
    }
    assert rules["tax_payment"]["properties"]["params"]["required"] == [
        "name",
        "amount",
        "payment_url",
    ]  # due_date comes from the obligation itself
    notification = document["components"]["schemas"]["NotificationInput"]
    assert notification["properties"]["kind"]["enum"] == list(definition.notifications)


GOOD = {
    "phone": "+351912345678",
    "kind": "driving_licence",
    "due_date": "2027-01-15",
    "params": {"name": "Ana", "renewal_url": "https://e.org/r"},
}
OBLIGATIONS = [
    GOOD,
    {**GOOD, "language": "en"},
    {**GOOD, "language": None, "params": {**GOOD["params"], "extra": "kept"}},
    {**GOOD, "phone": None},
    {**GOOD, "kind": "boat"},
    {**GOOD, "kind": 3},
    {**GOOD, "due_date": "1999-12-31"},
    {**GOOD, "due_date": "2027-13-01"},
    {**GOOD, "language": "fr"},
    {**GOOD, "params": {"name": "Ana"}},
    {**GOOD, "params": {"name": "Ana\n", "renewal_url": "u"}},
    {**GOOD, "params": {"name": "", "renewal_url": "u"}},
    {**GOOD, "params": {"Name": "Ana", "name": "A", "renewal_url": "u"}},
    {**GOOD, "params": []},
    {**GOOD, "surprise": True},
    {k: v for k, v in GOOD.items() if k != "due_date"},
    [],
]


@pytest.mark.parametrize("body", OBLIGATIONS)
def test_the_document_refuses_no_less_than_the_code_for_obligations(
    body: Any, document: dict[str, Any], definition: MunicipalityDefinition
) -> None:
    """What breaks the schema, the code refuses (schemathesis' negative tests rely on it)."""
    valid = schema_of(document, "ObligationInput").is_valid(body)
    try:
        read_obligation(body, definition, external_id="LIC-1")
        accepted = True
    except InputError:
        accepted = False
    assert valid or not accepted


NOTIFICATION = {
    "external_id": "N-1",
    "phone": "912345678",
    "kind": "document_ready",
    "params": {"name": "Ana", "document": "CC", "office": "Loja"},
}
NOTIFICATIONS = [
    NOTIFICATION,
    {**NOTIFICATION, "send_at": "2026-12-01T09:30:00Z"},
    {**NOTIFICATION, "send_at": "2026-12-01T09:30:00"},
    {**NOTIFICATION, "send_at": "2026-12-01 09:30:00Z"},
    {**NOTIFICATION, "send_at": None},
    {**NOTIFICATION, "external_id": None},
    {**NOTIFICATION, "external_id": "a b"},
    {**NOTIFICATION, "kind": "receipt"},
    {**NOTIFICATION, "due_date": "2027-01-01"},
]


@pytest.mark.parametrize("body", NOTIFICATIONS)
def test_the_document_refuses_no_less_than_the_code_for_notifications(
    body: Any, document: dict[str, Any], definition: MunicipalityDefinition
) -> None:
    valid = schema_of(document, "NotificationInput").is_valid(body)
    try:
        read_notification(body, definition, NOW)
        accepted = True
    except InputError:
        accepted = False
    assert valid or not accepted


def test_the_good_examples_are_valid_for_both(
    document: dict[str, Any], definition: MunicipalityDefinition
) -> None:
    assert schema_of(document, "ObligationInput").is_valid(GOOD)
    assert read_obligation(GOOD, definition, external_id="LIC-1")
    assert schema_of(document, "BulkObligation").is_valid({**GOOD, "external_id": "LIC-1"})
    assert schema_of(document, "NotificationInput").is_valid(NOTIFICATION)
    assert read_notification(NOTIFICATION, definition, NOW)
