"""Reading what back-office systems send: an obligation or a notification as a JSON object, or
many obligations as a JSON array or a CSV file. Every problem is reported at once, each naming
its field (`phone`, `params.renewal_url`) and the reason.

Two kinds of problem: the request is malformed (400: not JSON, a missing field, a wrong type, a
date that is not YYYY-MM-DD) or well-formed but not acceptable here (422: an invalid phone
number, a kind or language the municipality does not configure, a missing template parameter).
Nothing is read from or written to a store here: the limits below are also the OpenAPI
document's (`chalicelib.http.openapi`), so the two cannot drift apart silently.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.services.phone_input import (
    DEFAULT_REGION,
    MAX_INPUT_LENGTH,
    InvalidPhoneError,
    PhoneNumber,
    normalise_phone,
)

# Limits, shared with the OpenAPI document.
MAX_EXTERNAL_ID_LENGTH = 128
EXTERNAL_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:~-]{{0,{MAX_EXTERNAL_ID_LENGTH - 1}}}$"
PARAM_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
# The same dates, EARLIEST_DUE_DATE's year to LATEST_DUE_DATE's, for the OpenAPI document.
DUE_DATE_PATTERN = r"^(20\d{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
# RFC 3339, as JSON Schema's `date-time` (Python alone would also take a space or "+0100").
DATE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
MAX_PHONE_LENGTH = MAX_INPUT_LENGTH
MAX_KIND_LENGTH = 64
MAX_PARAMS = 30
MAX_PARAM_LENGTH = 1000  # WhatsApp's template body is 1024 characters in all
# A bulk upload is saved within one API request (API Gateway waits 29 s at most).
MAX_BULK_ROWS = 5_000
EARLIEST_DUE_DATE = date(2000, 1, 1)
LATEST_DUE_DATE = date(2100, 12, 31)
MAX_SCHEDULE_AHEAD = timedelta(days=366)
# Meta refuses template parameters with new lines, tabs or more than four spaces in a row.
UNSENDABLE_PARAM = re.compile(r"[\n\r\t]| {5,}")

OBLIGATION_FIELDS = ("external_id", "phone", "kind", "due_date", "language", "params")
NOTIFICATION_FIELDS = ("external_id", "phone", "kind", "language", "params", "send_at")
CSV_COLUMNS = ("external_id", "phone", "kind", "due_date", "language")  # then parameters
RESERVED_PARAMS = frozenset({"due_date"})  # filled from the obligation's own due date


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # "phone", "params.renewal_url", "body"
    code: str  # machine-readable: missing, invalid, unknown_kind, invalid_phone, ...
    reason: str  # "is not a valid phone number in PT"
    status: int = 400  # 400 malformed; 422 well-formed but not acceptable

    @property
    def message(self) -> str:
        return f"{self.field} {self.reason}"


class InputError(Exception):
    """One or more problems with what was sent; nothing was written."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(error.message for error in self.errors))

    @property
    def status(self) -> int:
        return 400 if any(error.status == 400 for error in self.errors) else 422


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationInput:
    external_id: str
    phone: PhoneNumber
    kind: str
    due_date: date
    language: str | None  # None: the resident's language, else the municipality's default
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationInput:
    external_id: str
    phone: PhoneNumber
    kind: str
    language: str | None
    params: dict[str, str] = field(default_factory=dict)
    send_at: datetime | None = None  # UTC; None: as soon as the send window allows


def default_region(definition: MunicipalityDefinition) -> str:
    """Where numbers written without a country code are from: `municipality.default_region`
    (an ISO 3166 code such as ES) when the config gives one, else Portugal."""
    return (definition.values.get("default_region") or DEFAULT_REGION).upper()


class FieldReader:
    """Collects every problem of one object instead of stopping at the first (also read by
    services.broadcast_input)."""

    def __init__(self, data: Any, what: str, fields: Sequence[str]) -> None:
        self.errors: list[FieldError] = []
        self.data: Mapping[str, Any] = {}
        if not isinstance(data, Mapping):
            self.error("body", "invalid", f"must be a JSON object describing {what}")
            return
        self.data = data
        for name in data:
            if name not in fields:
                self.error(str(name), "unknown_field", f"is not a field of {what}")

    def error(self, name: str, code: str, reason: str, status: int = 400) -> None:
        self.errors.append(FieldError(name, code, reason, status))

    def text(self, name: str, *, required: bool, max_length: int) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.error(name, "missing", "is required")
            return None
        if not isinstance(value, str):
            self.error(name, "invalid", "must be a string")
            return None
        if required and not value.strip():
            self.error(name, "missing", "is required")
            return None
        if len(value) > max_length:
            self.error(name, "invalid", f"is longer than {max_length} characters")
            return None
        return value

    def external_id(self, given: str | None) -> str | None:
        """The id from the path (`given`) or from the body; both must agree."""
        in_body = self.text(
            "external_id", required=given is None, max_length=MAX_EXTERNAL_ID_LENGTH
        )
        if given is not None and in_body is not None and in_body != given:
            self.error("external_id", "invalid", "differs from the external id in the path")
        value = given if given is not None else in_body
        if value is not None and not re.fullmatch(EXTERNAL_ID_PATTERN, value):
            self.error(
                "external_id",
                "invalid",
                f"must be 1–{MAX_EXTERNAL_ID_LENGTH} letters, digits or . _ : ~ - "
                "(starting with a letter or digit)",
            )
            return None
        return value

    def phone(self, definition: MunicipalityDefinition) -> PhoneNumber | None:
        raw = self.text("phone", required=True, max_length=MAX_PHONE_LENGTH)
        if raw is None:
            return None
        try:
            return normalise_phone(raw, default_region(definition))
        except InvalidPhoneError as error:
            self.error("phone", "invalid_phone", str(error), 422)
            return None

    def kind(self, known: Sequence[str], what: str) -> str | None:
        kind = self.text("kind", required=True, max_length=MAX_KIND_LENGTH)
        if kind is None:
            return None
        if kind not in known:
            listed = ", ".join(known) if known else "none are configured"
            self.error("kind", "unknown_kind", f"'{kind}' is not a {what} kind ({listed})", 422)
            return None
        return kind

    def language(self, definition: MunicipalityDefinition, template_name: str | None) -> str | None:
        language = self.text("language", required=False, max_length=16)
        if language is None:
            return None
        if language not in definition.languages:
            self.error(
                "language",
                "unsupported_language",
                f"'{language}' is not one of the municipality's languages "
                f"({', '.join(definition.languages)})",
                422,
            )
            return None
        template = definition.templates.get(template_name) if template_name else None
        if template is not None and language not in template.languages:
            self.error(
                "language",
                "template_not_approved",
                f"the template '{template.name}' is not approved in '{language}' "
                f"(approved: {', '.join(template.languages)})",
                422,
            )
            return None
        return language

    def params(self, needed: Sequence[str] | None) -> dict[str, str]:
        """The template parameters; `needed` None when the kind is unknown (nothing to check)."""
        raw = self.data.get("params")
        params: dict[str, str] = {}
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.error("params", "invalid", "must be an object of parameter names to strings")
            return params
        if len(raw) > MAX_PARAMS:
            self.error("params", "invalid", f"has more than {MAX_PARAMS} parameters")
            return params
        for name, value in raw.items():
            path = f"params.{name}"
            if not isinstance(name, str) or not re.fullmatch(PARAM_NAME_PATTERN, name):
                self.error(path, "invalid", "is not a parameter name (lowercase, digits, _)")
            elif not isinstance(value, str):
                self.error(path, "invalid", "must be a string")
            elif len(value) > MAX_PARAM_LENGTH:
                self.error(path, "invalid", f"is longer than {MAX_PARAM_LENGTH} characters")
            elif not value.strip():
                self.error(path, "blank", "is blank (leave the parameter out instead)", 422)
            elif name in RESERVED_PARAMS and needed is not None:
                self.error(path, "reserved", "is filled from the obligation's due_date", 422)
            elif UNSENDABLE_PARAM.search(value):
                self.error(
                    path,
                    "invalid_parameter",
                    "contains a new line, a tab or more than four spaces in a row, which "
                    "WhatsApp refuses in template parameters",
                    422,
                )
            else:
                params[name] = value
        for name in needed or ():
            if name in RESERVED_PARAMS:
                continue
            if name not in params and not any(e.field == f"params.{name}" for e in self.errors):
                self.error(
                    f"params.{name}",
                    "missing_parameter",
                    "is required by the template of this kind",
                    422,
                )
        return params

    def check_body(self) -> None:
        if any(error.field == "body" for error in self.errors):
            self.check()

    def check(self) -> None:
        if self.errors:
            raise InputError(self.errors)


def read_obligation(
    data: Any, definition: MunicipalityDefinition, *, external_id: str | None = None
) -> ObligationInput:
    """An obligation from a JSON object (the path's `external_id`, or the body's). Raises
    InputError listing every problem."""
    reader = FieldReader(data, "an obligation", OBLIGATION_FIELDS)
    reader.check_body()  # not an object: nothing else to say
    kinds = definition.reminders.kinds if definition.reminders else {}
    entry_id = reader.external_id(external_id)
    phone = reader.phone(definition)
    kind = reader.kind(tuple(kinds), "reminder")
    due_date = _due_date(reader)
    reminder = kinds.get(kind) if kind else None
    language = reader.language(definition, reminder.template if reminder else None)
    params = reader.params(reminder.params if reminder else None)
    reader.check()
    assert entry_id and phone and kind and due_date  # every None was reported above
    return ObligationInput(
        external_id=entry_id,
        phone=phone,
        kind=kind,
        due_date=due_date,
        language=language,
        params=params,
    )


def read_notification(
    data: Any, definition: MunicipalityDefinition, now: datetime
) -> NotificationInput:
    reader = FieldReader(data, "a notification", NOTIFICATION_FIELDS)
    reader.check_body()
    kinds = definition.notifications
    entry_id = reader.external_id(None)
    phone = reader.phone(definition)
    kind = reader.kind(tuple(kinds), "notification")
    configured = kinds.get(kind) if kind else None
    language = reader.language(definition, configured.template if configured else None)
    params = reader.params(configured.params if configured else None)
    send_at = read_send_at(reader, now)
    reader.check()
    assert entry_id and phone and kind
    return NotificationInput(
        external_id=entry_id,
        phone=phone,
        kind=kind,
        language=language,
        params=params,
        send_at=send_at,
    )


def _due_date(reader: FieldReader) -> date | None:
    raw = reader.text("due_date", required=True, max_length=10)
    if raw is None:
        return None
    try:
        if not re.fullmatch(DATE_PATTERN, raw, re.ASCII):
            raise ValueError
        due = date.fromisoformat(raw)
    except ValueError:
        reader.error("due_date", "invalid", "must be a date written YYYY-MM-DD")
        return None
    if not EARLIEST_DUE_DATE <= due <= LATEST_DUE_DATE:
        reader.error(
            "due_date",
            "out_of_range",
            f"must be between {EARLIEST_DUE_DATE} and {LATEST_DUE_DATE}",
            422,
        )
        return None
    return due


def read_send_at(reader: FieldReader, now: datetime) -> datetime | None:
    raw = reader.text("send_at", required=False, max_length=40)
    if raw is None:
        return None
    try:
        if not re.fullmatch(DATE_TIME_PATTERN, raw, re.ASCII):
            raise ValueError
        moment = datetime.fromisoformat(raw.upper())
    except ValueError:
        reader.error("send_at", "invalid", "must be a date-time like 2026-12-01T09:30:00Z")
        return None
    if moment.tzinfo is None:
        reader.error("send_at", "invalid", "must give a time zone, like 2026-12-01T09:30:00Z")
        return None
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        reader.error("send_at", "out_of_range", "is more than a year ahead", 422)
        return None
    if moment > now + MAX_SCHEDULE_AHEAD:
        reader.error("send_at", "out_of_range", "is more than a year ahead", 422)
        return None
    return moment


# --- bulk -------------------------------------------------------------------------------------


def rows_from_json(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise InputError(
            [FieldError("body", "invalid", "must be a JSON array of obligations (or a CSV file)")]
        )
    _check_row_count(len(data))
    return data


def rows_from_csv(text: str) -> list[dict[str, Any] | FieldError]:
    """A CSV file with a header row: external_id, phone, kind, due_date, language, then one
    column per template parameter. Empty cells are left out; a file saved by a spreadsheet that
    separates with ';' works too. A record that cannot be a row (more cells than columns) comes
    back as its FieldError. Raises InputError for a file that cannot be read at all."""
    text = text.removeprefix("\ufeff")  # a byte-order mark left by spreadsheets
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        records = list(reader)
    except csv.Error as error:
        raise InputError([FieldError("body", "invalid", f"is not valid CSV: {error}")]) from None
    records = [record for record in records if any(cell.strip() for cell in record)]
    if not records:
        raise InputError([FieldError("body", "invalid", "has no header row")])
    header = [name.strip().lower() for name in records[0]]
    missing = [name for name in CSV_COLUMNS if name not in header and name != "language"]
    if missing:
        raise InputError(
            [FieldError("header", "missing", f"lacks the column(s) {', '.join(missing)}")]
        )
    if "" in header:
        raise InputError([FieldError("header", "invalid", "has an empty name")])
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        reason = f"names {', '.join(duplicated)} twice"
        raise InputError([FieldError("header", "invalid", reason)])
    _check_row_count(len(records) - 1)
    rows: list[dict[str, Any] | FieldError] = []
    for record in records[1:]:
        if len(record) > len(header):
            reason = f"has {len(record)} cells for {len(header)} columns"
            rows.append(FieldError("row", "invalid", reason))
            continue
        row: dict[str, Any] = {}
        params: dict[str, str] = {}
        for name, cell in zip(header, record, strict=False):
            value = cell.strip()
            if not value:
                continue
            if name in CSV_COLUMNS:
                row[name] = value
            else:
                params[name] = value
        if params:
            row["params"] = params
        rows.append(row)
    return rows


def _check_row_count(count: int) -> None:
    if count > MAX_BULK_ROWS:
        raise InputError(
            [FieldError("body", "too_many_rows", f"has {count} rows; send at most {MAX_BULK_ROWS}")]
        )
