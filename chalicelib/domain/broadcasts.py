"""Broadcasts: one approved template sent to every resident subscribed to a topic, optionally
narrowed to languages, tags and custom fields — as pure rules, no I/O and no clock.

- **Audience**: a resident is in a broadcast's audience iff their consent is given, they did not
  opt out (STOP stops everything), they are subscribed to the broadcast's topic, they have a
  phone (`wa_id`), and they match every filter of the segment: their language (or the default
  language) is one of `languages`, they carry all of `tags`, every `custom_fields` value equals
  theirs. `in_audience` is the one place that says so.
- **Template**: it must be in the config's `templates:`, approved in every language the
  broadcast may use; marketing templates are refused unless `broadcasts.allow_marketing`.
  Errors name the request field at fault.
- **Lifecycle**: scheduled → running → completed; scheduled or running → cancelled.
- **Messages**: each resident's message id is derived from the broadcast and the resident key
  through a hash, so queueing twice stores and sends once and no phone number travels in it.
- **Progress and report**: arithmetic over the broadcast's messages' statuses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chalicelib.domain.bot.definition import (
    DEFAULT_CURRENCY,
    BroadcastPolicy,
    MunicipalityDefinition,
    Template,
)
from chalicelib.domain.messages import DeliveryStatus
from chalicelib.domain.residents import ConsentState, Resident

MARKETING = "marketing"
SENT_BY_PREFIX = "broadcast:"
# One audience scan segment holds about this many audience members, so a run makes progress in
# steps of that size and a resumed run re-reads at most one segment.
SEGMENT_AUDIENCE = 100
# ... and about this many residents in all, so a sparse audience still scans in bounded steps.
SEGMENT_RESIDENTS = 5_000
MAX_SEGMENTS = 10_000
CANCELLED = "cancelled"  # why the sender skips a message of a cancelled broadcast
# Why the job cancels a broadcast whose template may not be sent any more (marketing switched
# off, removed from the config).
TEMPLATE_NOT_ALLOWED = "template_not_allowed"
# A message still `sending` this long after it was claimed will never move on its own: its
# sender (a Lambda of at most 30 s) died between the claim and WhatsApp's answer, and the
# claim keeps every later delivery from sending it twice. The progress counts it as failed,
# under UNKNOWN_OUTCOME (the resident may or may not have got it).
SENDING_STALE_AFTER = timedelta(minutes=5)
UNKNOWN_OUTCOME = "unknown_outcome"
# How long one run of the job holds a broadcast: longer than any run lasts (the job's Lambda
# times out after 60 s; "send now" takes its first step within a 29 s request). A run that
# died lets the next one take over after this.
LEASE = timedelta(minutes=2)
# Tags as residents carry them (what agents may set, services/agent_actions.TAG).
TAG_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")

Params = tuple[str, ...] | Mapping[str, tuple[str, ...]]


class BroadcastStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class BroadcastRuleError(ValueError):
    """A broadcast the rules refuse; `field` names the request field at fault."""

    def __init__(self, field: str, code: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field, self.code, self.reason = field, code, reason


class BroadcastStateError(ValueError):
    """A change the broadcast's status does not allow (cancelling a completed one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    topic: str
    languages: tuple[str, ...] = ()  # empty: any
    tags: tuple[str, ...] = ()  # all of them
    custom_fields: Mapping[str, str] = field(default_factory=dict)


def resident_language(resident: Resident, default_language: str) -> str:
    return resident.language or default_language


def in_audience(resident: Resident, segment: Segment, default_language: str) -> bool:
    if resident.consent is not ConsentState.GIVEN or resident.opted_out or not resident.wa_id:
        return False
    if not resident.subscribed_to(segment.topic):
        return False
    if segment.languages and resident_language(resident, default_language) not in set(
        segment.languages
    ):
        return False
    if any(tag not in resident.tags for tag in segment.tags):
        return False
    return all(resident.custom_fields.get(k) == v for k, v in segment.custom_fields.items())


def send_language(resident: Resident, template: Template, default_language: str) -> str:
    """The resident's language when the template is approved in it, else the default language
    (in which every template is approved: the config loader checks it)."""
    language = resident_language(resident, default_language)
    return language if language in template.languages else default_language


# --- the template ---------------------------------------------------------------------------


def broadcast_template(
    definition: MunicipalityDefinition, name: str, languages: Iterable[str] = ()
) -> Template:
    """The template a broadcast may send. Raises BroadcastRuleError naming `template` (unknown,
    marketing not allowed) or `languages` (a chosen language it is not approved in)."""
    template = definition.templates.get(name)
    if template is None:
        raise BroadcastRuleError("template", "unknown_template", f"'{name}' is not configured")
    why = template_refusal(template, definition.broadcasts)
    if why is not None:
        raise BroadcastRuleError("template", "marketing_not_allowed", why)
    for language in languages:
        if language not in template.languages:
            raise BroadcastRuleError(
                "languages",
                "template_not_approved",
                f"'{language}': template '{name}' is not approved in it",
            )
    return template


def template_refusal(template: Template, policy: BroadcastPolicy | None) -> str | None:
    """Why `template` may not be broadcast, or None."""
    if template.category == MARKETING and not (policy and policy.allow_marketing):
        return (
            f"'{template.name}' is a marketing template: refused for government use unless "
            "broadcasts.allow_marketing is true in the configuration"
        )
    return None


def sendable_languages(template: Template, segment: Segment) -> tuple[str, ...]:
    """The languages a broadcast may go out in: the segment's (all approved), or every
    language of the template."""
    return segment.languages or template.languages


def params_for(params: Params, language: str) -> tuple[str, ...]:
    if isinstance(params, tuple):
        return params
    return params.get(language, ())


def params_json(params: Params) -> list[str] | dict[str, list[str]]:
    """The parameters as JSON: a list for every language, or {language: [strings]}."""
    if isinstance(params, tuple):
        return list(params)
    return {language: list(values) for language, values in params.items()}


def params_from_json(value: object) -> Params:
    if isinstance(value, list):
        return tuple(value)
    if not isinstance(value, Mapping):
        return ()
    return {language: tuple(values) for language, values in value.items()}


def segment_json(segment: Segment) -> dict[str, object]:
    """The segment as JSON: as stored, and as the API shows it."""
    return {
        "topic": segment.topic,
        "languages": list(segment.languages),
        "tags": list(segment.tags),
        "custom_fields": dict(segment.custom_fields),
    }


def segment_from_json(value: Mapping[str, Any]) -> Segment:
    return Segment(
        topic=value["topic"],
        languages=tuple(value.get("languages") or ()),
        tags=tuple(value.get("tags") or ()),
        custom_fields=dict(value.get("custom_fields") or {}),
    )


# --- the estimate ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    audience: int
    by_language: Mapping[str, int]
    category: str
    price_per_message: Decimal
    currency: str
    estimated_cost: Decimal
    daily_limit: int | None
    days_needed: int
    scanned: int = 0  # residents read to count it


def price_of(policy: BroadcastPolicy | None, category: str) -> Decimal:
    if policy is None:
        return Decimal(0)
    return policy.prices.get(category, Decimal(0))


def days_needed(audience: int, daily_limit: int | None) -> int:
    """Days the messaging limit spreads `audience` over (a fresh limit, nothing else sent)."""
    if audience <= 0:
        return 0
    if daily_limit is None:
        return 1
    return math.ceil(audience / daily_limit)


def estimate(
    template: Template,
    policy: BroadcastPolicy | None,
    by_language: Mapping[str, int],
    *,
    scanned: int = 0,
) -> Estimate:
    audience = sum(by_language.values())
    price = price_of(policy, template.category)
    daily_limit = policy.daily_limit if policy else None
    return Estimate(
        audience=audience,
        by_language=dict(sorted(by_language.items())),
        category=template.category,
        price_per_message=price,
        currency=policy.currency if policy else DEFAULT_CURRENCY,
        estimated_cost=price * audience,
        daily_limit=daily_limit,
        days_needed=days_needed(audience, daily_limit),
        scanned=scanned,
    )


def total_segments(audience: int, scanned: int) -> int:
    """How many scan segments the residents table is read in: about SEGMENT_AUDIENCE audience
    members and at most about SEGMENT_RESIDENTS residents each."""
    wanted = max(math.ceil(audience / SEGMENT_AUDIENCE), math.ceil(scanned / SEGMENT_RESIDENTS))
    return min(MAX_SEGMENTS, max(1, wanted))


# --- messages -------------------------------------------------------------------------------


def broadcast_message_id(broadcast_id: str, resident_key: str) -> str:
    """The one message of `broadcast_id` to a resident: the same on every run, and free of the
    phone number (it travels to SQS, to Meta as callback data and into logs)."""
    digest = hashlib.sha256(f"{broadcast_id}|{resident_key}".encode()).hexdigest()[:24]
    return f"bc|{broadcast_id}|{digest}"


def sent_by(broadcast_id: str) -> str:
    return f"{SENT_BY_PREFIX}{broadcast_id}"


# --- progress and report --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageState:
    """What a broadcast's progress reads of one of its messages."""

    status: DeliveryStatus
    error_code: int | None = None
    error_title: str | None = None  # a skipped message's reason
    status_at: datetime | None = None  # when it got this status (a claim: when it was claimed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """The broadcast's messages by their furthest status: these partition `audience` once every
    message is stored (`queued` = queued or being sent)."""

    audience: int
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The final figures. `reached`: accepted by WhatsApp (sent, delivered or read);
    `delivered`: got to the phone (read included); `cost`: delivered × the category's price."""

    reached: int
    delivered: int
    read: int
    failed: int
    failed_by_error: Mapping[str, int]
    skipped_by_reason: Mapping[str, int]
    cost: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Tally:
    by_status: Mapping[DeliveryStatus, int]
    failed_by_error: Mapping[str, int]
    skipped_by_reason: Mapping[str, int]

    @property
    def stored(self) -> int:
        return sum(self.by_status.values())

    def count(self, *statuses: DeliveryStatus) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)


def tally(states: Iterable[MessageState], now: datetime | None = None) -> Tally:
    """The messages by status. Given `now`, a message `sending` for longer than
    SENDING_STALE_AFTER counts as failed with UNKNOWN_OUTCOME: nothing will move it any more."""
    by_status: Counter[DeliveryStatus] = Counter()
    failed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for state in states:
        if is_stuck_sending(state, now):
            by_status[DeliveryStatus.FAILED] += 1
            failed[UNKNOWN_OUTCOME] += 1
            continue
        by_status[state.status] += 1
        if state.status is DeliveryStatus.FAILED:
            failed[str(state.error_code) if state.error_code is not None else "unknown"] += 1
        elif state.status is DeliveryStatus.SKIPPED:
            skipped[state.error_title or "unknown"] += 1
    return Tally(dict(by_status), dict(sorted(failed.items())), dict(sorted(skipped.items())))


def is_stuck_sending(state: MessageState, now: datetime | None) -> bool:
    return (
        now is not None
        and state.status is DeliveryStatus.SENDING
        and state.status_at is not None
        and now - state.status_at >= SENDING_STALE_AFTER
    )


def progress(counts: Tally, audience: int) -> Progress:
    """`audience`: how many messages the broadcast will have (its estimate while residents are
    still being read, then the messages stored); never fewer than those stored."""
    return Progress(
        audience=max(audience, counts.stored),
        queued=counts.count(DeliveryStatus.QUEUED, DeliveryStatus.SENDING),
        sent=counts.count(DeliveryStatus.SENT),
        delivered=counts.count(DeliveryStatus.DELIVERED),
        read=counts.count(DeliveryStatus.READ, DeliveryStatus.PLAYED),
        failed=counts.count(DeliveryStatus.FAILED),
        skipped=counts.count(DeliveryStatus.SKIPPED),
    )


def report(counts: Tally, price: Decimal, currency: str) -> Report:
    read = counts.count(DeliveryStatus.READ, DeliveryStatus.PLAYED)
    delivered = counts.count(DeliveryStatus.DELIVERED) + read
    return Report(
        reached=counts.count(DeliveryStatus.SENT) + delivered,
        delivered=delivered,
        read=read,
        failed=counts.count(DeliveryStatus.FAILED),
        failed_by_error=dict(counts.failed_by_error),
        skipped_by_reason=dict(counts.skipped_by_reason),
        cost=price * delivered,
        currency=currency,
    )


# --- the broadcast ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Broadcast:
    id: str
    name: str
    template: str
    category: str
    params: Params
    segment: Segment
    status: BroadcastStatus
    send_at: datetime
    created_by: str  # "agent:<id>" or "apikey:<name>"
    created_at: datetime
    estimate: Estimate
    total_segments: int  # the residents table is read in this many scan segments, in order
    next_segment: int = 0  # the first segment not read yet
    queued: int = 0  # messages stored and queued so far
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None  # TEMPLATE_NOT_ALLOWED when the job cancelled it
    progress: Progress | None = None  # as of the job's last look
    report: Report | None = None
    # One run of the job works on a broadcast at a time: it claims it until then (LEASE).
    lease_until: datetime | None = None
    version: int = 0  # 0: never stored

    @property
    def segments_done(self) -> bool:
        return self.next_segment >= self.total_segments

    @property
    def settling(self) -> bool:
        """The job still has something to do: send it, or write its final report."""
        if self.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING):
            return True
        return self.status is BroadcastStatus.CANCELLED and self.report is None

    def expected_audience(self) -> int:
        """The estimate while residents are still being read, then what was queued (a cancelled
        broadcast queues nothing more: what it queued is all it will have)."""
        if self.segments_done or self.status is BroadcastStatus.CANCELLED:
            return self.queued
        return max(self.estimate.audience, self.queued)

    def leased(self, now: datetime) -> bool:
        """A run of the job is working on it (claimed until after `now`)."""
        return self.lease_until is not None and self.lease_until > now

    def claimed(self, now: datetime) -> Broadcast:
        return dataclasses.replace(self, lease_until=now + LEASE)

    def released(self) -> Broadcast:
        return dataclasses.replace(self, lease_until=None)

    def started(self, now: datetime) -> Broadcast:
        if self.status is not BroadcastStatus.SCHEDULED:
            raise BroadcastStateError(f"broadcast {self.id} is {self.status.value}")
        return dataclasses.replace(self, status=BroadcastStatus.RUNNING, started_at=now)

    def cancelled(self, now: datetime, by: str, reason: str | None = None) -> Broadcast:
        """Cancelled by `by` ("agent:…", "apikey:…", "system:run_broadcasts"); the lease goes
        (a run still working on it fails its next save and stops)."""
        if self.status not in (BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING):
            raise BroadcastStateError(
                f"broadcast {self.id} is {self.status.value} already: it cannot be cancelled"
            )
        return dataclasses.replace(
            self,
            status=BroadcastStatus.CANCELLED,
            finished_at=now,
            cancelled_by=by,
            cancel_reason=reason,
            lease_until=None,
        )

    def completed(self, final: Report, figures: Progress, now: datetime) -> Broadcast:
        if self.status is not BroadcastStatus.RUNNING:
            raise BroadcastStateError(f"broadcast {self.id} is {self.status.value}")
        return dataclasses.replace(
            self, status=BroadcastStatus.COMPLETED, finished_at=now, report=final, progress=figures
        )

    def reported(self, final: Report, figures: Progress) -> Broadcast:
        """A cancelled broadcast's report, once its last queued message was settled."""
        return dataclasses.replace(self, report=final, progress=figures)


# --- the daily messaging limit ------------------------------------------------------------------

BUDGET_HOURS = 25  # this hour and the 24 before it: what a moving 24 h may still count


def budget_hours(now: datetime) -> list[str]:
    """The UTC hours ("2026-12-01T09") whose counts make up the moving 24 h up to `now`, this
    hour first, then the 24 before it, then the next one. Counting whole hours, the window
    reaches back up to an hour further than 24 h: it may hold a broadcast back an hour too
    long, never let it past the limit. The next hour counts too: two runs whose clocks are on
    either side of an hour's turn both see what the other took."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [
        (hour - timedelta(hours=back)).strftime("%Y-%m-%dT%H")
        for back in (*range(BUDGET_HOURS), -1)
    ]


def budget_used(used_by_hour: Mapping[str, int], now: datetime) -> int:
    """What the hours of `budget_hours(now)` took, of counts by hour ("2026-12-01T09": n)."""
    return sum(int(used_by_hour.get(hour, 0)) for hour in budget_hours(now))


def stale_budget_hour(hour: str, now: datetime) -> bool:
    """Whether `hour` counts no more at `now` (older than every hour of `budget_hours`)."""
    return hour < budget_hours(now)[BUDGET_HOURS - 1]


def grant(wanted: int, limit: int, used: int) -> int:
    """How many of `wanted` the limit still allows after `used`."""
    return max(0, min(wanted, limit - used))
