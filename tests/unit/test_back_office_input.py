"""Reading what back offices send: field by field, every problem at once, CSV files and phone
numbers. No stores involved."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.services.back_office_input import (
    MAX_BULK_ROWS,
    FieldError,
    InputError,
    default_region,
    read_notification,
    read_obligation,
    rows_from_csv,
    rows_from_json,
)
from chalicelib.services.phone_input import InvalidPhoneError, normalise_phone
from chalicelib.settings import BUNDLED_CONFIG

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def definition() -> MunicipalityDefinition:
    return load_municipality_file(Path(BUNDLED_CONFIG))


def licence(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phone": "+351 912 345 678",
        "kind": "driving_licence",
        "due_date": "2027-01-15",
        "params": {"name": "Ana", "renewal_url": "https://e.org/r"},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def problems(data: Any, definition: MunicipalityDefinition) -> list[tuple[str, str, int]]:
    with pytest.raises(InputError) as refused:
        read_obligation(data, definition, external_id="LIC-1")
    return [(e.field, e.code, e.status) for e in refused.value.errors]


def test_a_good_obligation_is_read_and_normalised(definition: MunicipalityDefinition) -> None:
    entry = read_obligation(licence(language="es"), definition, external_id="LIC-1")

    assert entry.external_id == "LIC-1"
    assert entry.phone.e164 == "+351912345678"
    assert entry.phone.resident_key == "wa:351912345678"
    assert (entry.kind, entry.due_date, entry.language) == (
        "driving_licence",
        date(2027, 1, 15),
        "es",
    )
    assert entry.params == {"name": "Ana", "renewal_url": "https://e.org/r"}


def test_nulls_mean_left_out(definition: MunicipalityDefinition) -> None:
    entry = read_obligation(
        {**licence(), "language": None, "external_id": None}, definition, external_id="LIC-1"
    )

    assert entry.language is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a string", [("body", "invalid", 400)]),
        (licence(phone=...), [("phone", "missing", 400)]),
        (licence(phone="  "), [("phone", "missing", 400)]),
        (licence(phone="1" * 41), [("phone", "invalid", 400)]),
        (licence(phone="+351 12"), [("phone", "invalid_phone", 422)]),
        (licence(kind=...), [("kind", "missing", 400)]),
        (licence(kind="boat"), [("kind", "unknown_kind", 422)]),
        (licence(due_date="2027-1-15"), [("due_date", "invalid", 400)]),
        (licence(due_date="20270115"), [("due_date", "invalid", 400)]),
        (licence(due_date="２０２７-01-15"), [("due_date", "invalid", 400)]),
        (licence(due_date="2101-01-01"), [("due_date", "out_of_range", 422)]),
        (licence(language="xx"), [("language", "unsupported_language", 422)]),
        (
            licence(params=None),
            [
                ("params.name", "missing_parameter", 422),
                ("params.renewal_url", "missing_parameter", 422),
            ],
        ),
        (
            licence(params={"name": "A", "renewal_url": "u", "due_date": "x"}),
            [("params.due_date", "reserved", 422)],
        ),
        (
            licence(params={"name": "A   \t", "renewal_url": "u"}),
            [("params.name", "invalid_parameter", 422)],
        ),
        (
            licence(params={"name": "A     B", "renewal_url": "u"}),
            [("params.name", "invalid_parameter", 422)],
        ),
        (
            licence(params={"name": "x" * 1001, "renewal_url": "u"}),
            [("params.name", "invalid", 400)],
        ),
        (
            licence(params={f"p{i}": "x" for i in range(31)}),
            [("params", "invalid", 400)],
        ),
        (licence(unknown=1), [("unknown", "unknown_field", 400)]),
    ],
)
def test_each_problem_names_its_field(
    body: Any, expected: list[tuple[str, str, int]], definition: MunicipalityDefinition
) -> None:
    assert problems(body, definition) == expected


def test_the_status_is_400_when_anything_is_malformed(definition: MunicipalityDefinition) -> None:
    with pytest.raises(InputError) as refused:
        read_obligation(licence(phone="+351 12", due_date="soon"), definition, external_id="X")

    assert refused.value.status == 400
    assert str(refused.value) == (
        "phone is not a valid phone number in PT; due_date must be a date written YYYY-MM-DD"
    )


def test_params_of_an_unknown_kind_are_not_judged(definition: MunicipalityDefinition) -> None:
    assert problems(licence(kind="boat", params={}), definition) == [("kind", "unknown_kind", 422)]


def test_a_template_must_be_approved_in_the_language(definition: MunicipalityDefinition) -> None:
    body = {
        "phone": "912345678",
        "kind": "tax_payment",
        "due_date": "2027-01-15",
        "language": "ar",
        "params": {"name": "A", "amount": "1 €", "payment_url": "u"},
    }

    assert problems(body, definition) == [("language", "template_not_approved", 422)]


def test_the_body_may_repeat_the_paths_id(definition: MunicipalityDefinition) -> None:
    assert read_obligation(licence(external_id="LIC-1"), definition, external_id="LIC-1")
    assert problems(licence(external_id="LIC-2"), definition) == [("external_id", "invalid", 400)]


@pytest.mark.parametrize("external_id", ["", "a b", "a|b", "-a", "x" * 129, "ação"])
def test_external_ids_are_plain(external_id: str, definition: MunicipalityDefinition) -> None:
    with pytest.raises(InputError) as refused:
        read_obligation({**licence(), "external_id": external_id}, definition)

    assert refused.value.errors[0].field == "external_id"


# --- notifications ----------------------------------------------------------------------------


def notification(**changes: Any) -> dict[str, Any]:
    return {
        "external_id": "N-1",
        "phone": "+351912345678",
        "kind": "receipt",
        "params": {"name": "Ana", "amount": "12 €", "reference": "R-1"},
        **changes,
    }


def test_a_notification_is_read(definition: MunicipalityDefinition) -> None:
    entry = read_notification(notification(send_at="2026-11-25T15:45:00+01:00"), definition, NOW)

    assert entry.kind == "receipt"
    assert entry.send_at == datetime(2026, 11, 25, 14, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"kind": "driving_licence"}, "kind", "unknown_kind"),
        ({"send_at": "2026-11-25 15:45:00Z"}, "send_at", "invalid"),
        ({"send_at": "2026-11-25T15:45:00"}, "send_at", "invalid"),
        ({"send_at": "2026-11-25T15:45:00+0100"}, "send_at", "invalid"),
        ({"send_at": "2026-11-25T15:45:60Z"}, "send_at", "invalid"),
        ({"send_at": "2027-12-25T15:45:00Z"}, "send_at", "out_of_range"),
        ({"send_at": "9999-12-31T23:59:59-05:00"}, "send_at", "out_of_range"),
        ({"params": {"name": "Ana"}}, "params.amount", "missing_parameter"),
        ({"language": "ar"}, "language", "template_not_approved"),
    ],
)
def test_a_bad_notification_names_its_field(
    changes: dict[str, Any], field: str, code: str, definition: MunicipalityDefinition
) -> None:
    with pytest.raises(InputError) as refused:
        read_notification(notification(**changes), definition, NOW)

    assert (refused.value.errors[0].field, refused.value.errors[0].code) == (field, code)


# --- bulk -------------------------------------------------------------------------------------


def test_csv_rows_become_objects_with_params() -> None:
    rows = rows_from_csv(
        "external_id,phone,kind,due_date,language,name,renewal_url\r\n"
        'L-1,912345678,driving_licence,2027-01-15,,"Silva, Ana",https://e.org/r\r\n'
    )

    assert rows == [
        {
            "external_id": "L-1",
            "phone": "912345678",
            "kind": "driving_licence",
            "due_date": "2027-01-15",
            "params": {"name": "Silva, Ana", "renewal_url": "https://e.org/r"},
        }
    ]


def test_csv_from_a_spreadsheet_with_semicolons_and_a_bom() -> None:
    rows = rows_from_csv("\ufeffExternal_ID;Phone;Kind;Due_Date;name\nL-1;912345678;k;d;Ana\n")

    assert rows == [
        {
            "external_id": "L-1",
            "phone": "912345678",
            "kind": "k",
            "due_date": "d",
            "params": {"name": "Ana"},
        }
    ]


def test_a_csv_row_with_too_many_cells_is_its_own_error() -> None:
    rows = rows_from_csv("external_id,phone,kind,due_date\nL-1,1,k,d,extra\n")

    assert rows == [FieldError("row", "invalid", "has 5 cells for 4 columns")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "has no header row"),
        ("\n\n", "has no header row"),
        ("external_id,phone\n", "lacks the column(s) kind, due_date"),
        ("external_id,phone,kind,due_date,,\n", "has an empty name"),
        ('external_id,phone,kind,due_date\n"unterminated', "is not valid CSV"),
    ],
)
def test_an_unreadable_csv_file_is_refused_whole(text: str, reason: str) -> None:
    with pytest.raises(InputError) as refused:
        rows_from_csv(text)

    assert refused.value.errors[0].reason.startswith(reason)


def test_too_many_rows_are_refused_whole() -> None:
    with pytest.raises(InputError) as refused:
        rows_from_json([{}] * (MAX_BULK_ROWS + 1))

    assert refused.value.errors[0].code == "too_many_rows"
    assert len(rows_from_json([{}] * MAX_BULK_ROWS)) == MAX_BULK_ROWS


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+351 912 345 678", "PT", "+351912345678"),
        ("912345678", "PT", "+351912345678"),
        ("00351 912-345-678", "PT", "+351912345678"),
        ("612 34 56 78", "ES", "+34612345678"),
        ("+44 (0) 7911 123456", "PT", "+447911123456"),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str, e164: str) -> None:
    assert normalise_phone(raw, region).e164 == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("hello", "is not a phone number"),
        ("+999 123456", "has an unknown country code"),
        ("+351 9123", "is not a valid phone number in PT"),
        ("9" * 41, "is longer than 40 characters"),
    ],
)
def test_invalid_phone_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneError) as refused:
        normalise_phone(raw)

    assert str(refused.value).startswith(reason)


def test_the_default_region_comes_from_the_config(definition: MunicipalityDefinition) -> None:
    from dataclasses import replace

    assert default_region(definition) == "PT"
    spanish = replace(definition, values={**definition.values, "default_region": "es"})
    assert default_region(spanish) == "ES"
