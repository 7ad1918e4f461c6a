"""When an obligation's reminders go out, and what they say.

Pure rules, no I/O and no clock: callers pass `now`.

- Reminders are planned per configured offset at the opening of the send window, in the
  municipality's local time, on the day `due_date + offset` (a weekend day moves to the next
  weekday when the kind is `weekdays_only`).
- A reminder is never sent late: one before or on the due date expires at the end of the due
  date (local); an overdue notice (positive offset) a week after it was planned.
- The job reads reminders by 15-minute UTC slot (`slot_of`), so a slot is the unit of "due".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from chalicelib.domain.bot.definition import MunicipalityDefinition, Reminder, TimeRange
from chalicelib.domain.obligations import (
    Obligation,
    ObligationState,
    ReminderStatus,
    ScheduledReminder,
)
from chalicelib.domain.replies import TemplateReply

SLOT = timedelta(minutes=15)
_SLOT_FORMAT = "%Y-%m-%dT%H:%M"
# Used when the config's `reminders:` has no `send_window`: business-initiated messages never
# reach residents at night, so the default is 09:00–20:00 in the municipality's local time.
DEFAULT_SEND_WINDOW = TimeRange(time(9), time(20))
OVERDUE_VALIDITY = timedelta(days=7)  # how long an overdue notice (+3d) may still go out
DUE_DATE_FORMAT = "%d/%m/%Y"  # how `due_date` reads in a template
_SATURDAY = 5
_DAY = timedelta(days=1)


class UnknownKindError(ValueError):
    """The obligation's kind is not a `reminders:` kind of the config."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown reminder kind {kind!r}")
        self.kind = kind


class MissingParameterError(ValueError):
    """A parameter the template needs is missing (or blank); `name` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(f"missing template parameter {name!r}")
        self.name = name


class TemplateNotApprovedError(ValueError):
    """The template is not in the config, or not approved in that language."""

    def __init__(self, template: str, language: str) -> None:
        super().__init__(f"template {template!r} is not approved in {language!r}")
        self.template = template
        self.language = language


# An obligation, its plan and the reminders the plan supersedes are saved all at once, in one
# DynamoDB transaction, which holds at most 100 items.
SAVE_LIMIT = 100


class TooManyRemindersError(ValueError):
    """A save of more than SAVE_LIMIT items (the obligation, its plan, the superseded ones)."""


def replaced_reason(obligation: Obligation) -> str:
    """Why the reminders a save supersedes are skipped: a new plan replaced them ("superseded"),
    or the obligation was cancelled or renewed ("cancelled", "renewed")."""
    return "superseded" if obligation.state is ObligationState.ACTIVE else obligation.state.value


@dataclass(frozen=True, slots=True, kw_only=True)
class DueReminder(ScheduledReminder):
    """A scheduled reminder as the due index returns it: with the obligation as it was when the
    reminder was planned. Every change to an obligation re-plans (rewrites) its reminders, so
    the copy is current, and the job sends from one read per reminder."""

    obligation: Obligation


def as_scheduled(reminder: ScheduledReminder) -> ScheduledReminder:
    """The plain ScheduledReminder of a DueReminder (compares equal to what was planned)."""
    if type(reminder) is ScheduledReminder:
        return reminder
    return ScheduledReminder(
        **{item.name: getattr(reminder, item.name) for item in fields(ScheduledReminder)}
    )


# --- slots ------------------------------------------------------------------------------------


def slot_of(moment: datetime) -> str:
    """The 15-minute UTC slot holding `moment` (aware): "2026-12-01T09:15"."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0).strftime(
        _SLOT_FORMAT
    )


def slot_start(slot: str) -> datetime:
    return datetime.strptime(slot, _SLOT_FORMAT).replace(tzinfo=UTC)


def slots_from(first: str, last: str) -> list[str]:
    """Every slot from `first` to `last`, both included ([] when first > last)."""
    start, end = slot_start(first), slot_start(last)
    count = max(0, (end - start) // SLOT + 1)
    return [(start + i * SLOT).strftime(_SLOT_FORMAT) for i in range(count)]


# --- the send window --------------------------------------------------------------------------


def send_window(definition: MunicipalityDefinition) -> TimeRange:
    reminders = definition.reminders
    if reminders is not None and reminders.send_window is not None:
        return reminders.send_window
    return DEFAULT_SEND_WINDOW


def in_send_window(
    definition: MunicipalityDefinition, moment: datetime, *, weekdays_only: bool = False
) -> bool:
    local = moment.astimezone(definition.zone)
    if weekdays_only and local.weekday() >= _SATURDAY:
        return False
    return local.time() in send_window(definition)


def next_window_opening(
    definition: MunicipalityDefinition, moment: datetime, *, weekdays_only: bool = False
) -> datetime:
    """The first moment at or after `moment` inside the send window (UTC): `moment` itself when
    it is inside, else the window's next start (on a weekday when `weekdays_only`)."""
    if in_send_window(definition, moment, weekdays_only=weekdays_only):
        return moment.astimezone(UTC)
    window, zone = send_window(definition), definition.zone
    day = moment.astimezone(zone).date()
    for _ in range(8):
        start = _local_start(day, window, zone)
        if start >= moment and not (weekdays_only and day.weekday() >= _SATURDAY):
            return start
        day += _DAY
    raise AssertionError("a week always has a window opening")  # pragma: no cover


# --- planning ---------------------------------------------------------------------------------


def reminder_kind(definition: MunicipalityDefinition, kind: str) -> Reminder:
    reminders = definition.reminders
    if reminders is None or kind not in reminders.kinds:
        raise UnknownKindError(kind)
    return reminders.kinds[kind]


def plan_reminders(
    obligation: Obligation, definition: MunicipalityDefinition, now: datetime
) -> list[ScheduledReminder]:
    """The reminders of `obligation`, one per configured offset of its kind, by offset.

    Each is planned at the send window's opening on the local day `due_date + offset`. Those
    already expired at `now` come back SKIPPED "expired". Of those whose time has passed but
    which are still valid, only the latest stays, moved to the next window opening from `now`
    (registering a licence due in five weeks sends the six-week reminder now, once); the
    earlier ones come back SKIPPED "superseded". Nothing is planned for an obligation that is
    not active. Raises UnknownKindError."""
    if obligation.state is not ObligationState.ACTIVE:
        return []
    kind = reminder_kind(definition, obligation.kind)
    window, zone = send_window(definition), definition.zone
    due_end = datetime.combine(obligation.due_date + _DAY, time(0), tzinfo=zone).astimezone(UTC)
    planned: dict[int, ScheduledReminder] = {}
    for offset in kind.offsets:
        offset_days = offset // _DAY  # offsets are whole days ("-7d"); a part day rounds down
        if offset_days in planned:
            continue
        day = obligation.due_date + timedelta(days=offset_days)
        overdue = offset_days > 0
        if kind.weekdays_only:
            send_at = _weekday_start(day, window, zone, before=None if overdue else due_end)
        else:
            send_at = _local_start(day, window, zone)
        expires_at = send_at + OVERDUE_VALIDITY if overdue else due_end
        planned[offset_days] = ScheduledReminder(
            external_id=obligation.external_id,
            offset_days=offset_days,
            send_at=send_at,
            expires_at=expires_at,
            updated_at=now,
        )
    opening = next_window_opening(definition, now, weekdays_only=kind.weekdays_only)
    late = [
        offset
        for offset, reminder in planned.items()
        if reminder.send_at < now and opening < reminder.expires_at
    ]
    keep = max(late, key=lambda offset: planned[offset].send_at, default=None)
    plan = []
    for offset in sorted(planned):
        reminder = planned[offset]
        if reminder.send_at >= now:  # not yet due (and, as planned, before it expires)
            plan.append(reminder)
        elif offset == keep:
            plan.append(replace(reminder, send_at=opening))
        elif offset in late:
            plan.append(_skipped(reminder, "superseded"))
        else:
            plan.append(_skipped(reminder, "expired"))
    return plan


def _local_start(day: date, window: TimeRange, zone: tzinfo) -> datetime:
    return datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)


def _weekday_start(
    day: date, window: TimeRange, zone: tzinfo, *, before: datetime | None
) -> datetime:
    """The window's opening on the next weekday from `day`; if that is not before `before`
    (a reminder due on a Sunday would go out after its due date), the previous weekday's."""
    later = day
    while later.weekday() >= _SATURDAY:
        later += _DAY
    start = _local_start(later, window, zone)
    if before is None or start < before:
        return start
    earlier = day
    while earlier.weekday() >= _SATURDAY:
        earlier -= _DAY
    return _local_start(earlier, window, zone)


def _skipped(reminder: ScheduledReminder, reason: str) -> ScheduledReminder:
    return replace(reminder, status=ReminderStatus.SKIPPED, reason=reason)


# --- what a reminder says ---------------------------------------------------------------------


def template_values(obligation: Obligation) -> dict[str, str]:
    """The values a reminder's template parameters are taken from: the obligation's params
    plus `due_date`, as dd/mm/yyyy."""
    return {**obligation.params, "due_date": obligation.due_date.strftime(DUE_DATE_FORMAT)}


def template_for(
    definition: MunicipalityDefinition,
    template_name: str,
    params_order: Sequence[str],
    language: str,
    values: Mapping[str, str],
) -> TemplateReply:
    """The approved template with its body parameters in the configured order, to be sent
    under the code Meta knows `language` by (`pt_PT` for `pt`).

    Raises MissingParameterError naming the first parameter missing (or blank: WhatsApp
    refuses empty parameters) and TemplateNotApprovedError when the template is not approved
    in `language`."""
    template = definition.templates.get(template_name)
    if template is None or language not in template.languages:
        raise TemplateNotApprovedError(template_name, language)
    params = []
    for name in params_order:
        value = values.get(name)
        if value is None or not str(value).strip():
            raise MissingParameterError(name)
        params.append(str(value))
    return TemplateReply(
        name=template_name,
        language=definition.template_language_code(language),
        body_params=tuple(params),
    )


def reminder_template(definition: MunicipalityDefinition, obligation: Obligation) -> TemplateReply:
    """The template a reminder of `obligation` sends. Raises UnknownKindError,
    MissingParameterError, TemplateNotApprovedError."""
    kind = reminder_kind(definition, obligation.kind)
    return template_for(
        definition, kind.template, kind.params, obligation.language, template_values(obligation)
    )


def reminder_message_id(reminder: ScheduledReminder, due_date: date) -> str:
    """The outbound message of one reminder for one due date: the same on every run (running
    the job twice sends once), and new when the due date changes (next year's reminder is
    not taken for this year's, which was sent already)."""
    return f"{reminder.id}|{due_date.isoformat()}"
