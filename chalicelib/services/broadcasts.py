"""Use cases of broadcasts: preview, create, cancel, read, and the job that sends them
(`run_broadcasts`, scheduled every minute; "send now" also takes its first step at once).

The job, for each broadcast that is not settled yet (a sparse index; nothing else is read):
- a scheduled broadcast whose `send_at` has come is started (scheduled → running);
- a running one reads the residents table one parallel-scan segment at a time, in order
  (the cursor `next_segment` lives on the broadcast; no phone number is kept on it). For each
  segment it keeps the residents in the audience (`domain.broadcasts.in_audience`), drops
  those whose message exists already (a run that died half-way, or a second run), takes what
  it can from the daily messaging budget, stores the BULK template messages and queues them.
  When the budget is used up it stops and a later run (a minute, an hour, a day later) goes
  on from the same segment;
- once every segment is read and none of its messages is queued or being sent any more, the
  broadcast is completed with its final report; a cancelled one gets its report the same way.
A run reads each broadcast again (consistently) and claims it first (`lease_until`, saved
conditionally on the version read): one run works on a broadcast at a time — "send now"'s first
step and the minute's job, or a late run overlapping the next, never both queue a segment. Only
the messages a run stored itself are queued and counted, and budget reserved for others is
given back. Each step saves the broadcast conditionally on its version: a cancel in between
wins, and the job stops queuing. A broadcast is completed only once the messages' index (which
lags) shows every message queued. The bulk sender skips (reason "cancelled") the messages of a cancelled
broadcast still on the queue, and (reason "opted_out") those to residents who opted out since.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.audit import system_actor
from chalicelib.domain.bot.definition import MunicipalityDefinition, Template
from chalicelib.domain.broadcasts import (
    TEMPLATE_NOT_ALLOWED,
    Broadcast,
    BroadcastStateError,
    BroadcastStatus,
    Estimate,
    Tally,
    broadcast_message_id,
    estimate,
    in_audience,
    params_for,
    progress,
    report,
    send_language,
    sent_by,
    tally,
    template_refusal,
    total_segments,
)
from chalicelib.domain.messages import Priority, StoredMessage
from chalicelib.domain.replies import TemplateReply
from chalicelib.domain.residents import Resident
from chalicelib.observability import logger
from chalicelib.services.broadcast_input import Audience, BroadcastDraft
from chalicelib.services.broadcast_ports import (
    AudienceSource,
    BroadcastAudit,
    BroadcastPorts,
    BroadcastStore,
)
from chalicelib.services.queued_replies import queued_message

RECENT_LIMIT = 50
FIRST_STEP_SEGMENTS = 1  # "send now" queues its first segment within the request
FIRST_STEP_SECONDS = 15.0  # ... and starts no segment after this (API Gateway: 29 s)
FRESH_SECONDS = 10.0  # how long a broadcast's counted progress is served again (RecentCounts)
SYSTEM_ACTOR = system_actor("run_broadcasts")  # who cancels a broadcast whose template was refused
DEFAULT_RUN_SECONDS = 40.0  # a run stops starting new segments after this (Lambda: 60 s)


class BroadcastNotFoundError(LookupError):
    pass


class BroadcastConflictError(ValueError):
    """The broadcast's status does not allow it (cancelling a completed one)."""


# --- preview, create, read, cancel -----------------------------------------------------------


def preview_broadcast(
    audience: Audience, *, definition: MunicipalityDefinition, residents: AudienceSource
) -> Estimate:
    """The audience size by language (the language each message would go out in) and the
    cost estimate. Reads the whole residents table."""
    by_language: Counter[str] = Counter()
    scanned = 0
    default = definition.default_language
    for resident in residents.scan_segment(0, 1):
        scanned += 1
        if in_audience(resident, audience.segment, default):
            by_language[send_language(resident, audience.template, default)] += 1
    return estimate(audience.template, definition.broadcasts, by_language, scanned=scanned)


def create_broadcast(
    draft: BroadcastDraft,
    *,
    definition: MunicipalityDefinition,
    residents: AudienceSource,
    broadcasts: BroadcastStore,
    created_by: str,
    now: datetime,
    new_id: Callable[[], str],
) -> Broadcast:
    figures = preview_broadcast(
        Audience(template=draft.template, segment=draft.segment),
        definition=definition,
        residents=residents,
    )
    broadcast = Broadcast(
        id=new_id(),
        name=draft.name,
        template=draft.template.name,
        category=draft.template.category,
        params=draft.params,
        segment=draft.segment,
        status=BroadcastStatus.SCHEDULED,
        send_at=draft.send_at or now,
        created_by=created_by,
        created_at=now,
        estimate=figures,
        total_segments=total_segments(figures.audience, figures.scanned),
    )
    broadcasts.add(broadcast)
    logger.info(
        "broadcast created",
        extra={
            "broadcast": broadcast.id,
            "template": broadcast.template,
            "topic": broadcast.segment.topic,
            "audience": figures.audience,
            "send_at": broadcast.send_at.isoformat(),
            "by": created_by,
        },
    )
    return dataclasses.replace(broadcast, version=1)


def start_broadcast(
    draft: BroadcastDraft,
    *,
    definition: MunicipalityDefinition,
    ports: BroadcastPorts,
    audit: BroadcastAudit,
    created_by: str,
    now: datetime,
    new_id: Callable[[], str],
    clock: Callable[[], float] = time.monotonic,
) -> Broadcast:
    """Create a broadcast, record it in the audit log (one event for the whole audience), and,
    when it is to go out now, take its first step at once (a segment, within
    FIRST_STEP_SECONDS: the request must answer before API Gateway's 29 s) so nobody waits for
    the minute's job, which does the rest."""
    broadcast = create_broadcast(
        draft,
        definition=definition,
        residents=ports.audience,
        broadcasts=ports.broadcasts,
        created_by=created_by,
        now=now,
        new_id=new_id,
    )
    audit.record_broadcast(
        broadcast.id, actor=created_by, at=now, audience=broadcast.estimate.audience
    )
    if draft.send_at is not None:
        return broadcast
    try:
        run_broadcasts(
            now,
            definition=definition,
            ports=ports,
            clock=clock,
            max_seconds=FIRST_STEP_SECONDS,
            only=broadcast.id,
            max_segments=FIRST_STEP_SEGMENTS,
        )
        return get_broadcast(broadcast.id, broadcasts=ports.broadcasts, now=now)
    except Exception:  # the job takes it from here
        logger.exception("first step of a broadcast failed", extra={"broadcast": broadcast.id})
        return broadcast


class RecentCounts:
    """A broadcast's message counts, kept FRESH_SECONDS in this process: the console polls a
    broadcast every few seconds, and a count reads every message of it through the index.
    Counts are kept for one stored version of the broadcast: once the job saves it (its
    progress, its report), they are counted again, so a report is never shown with counts
    older than itself."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, fresh_seconds: float = FRESH_SECONDS
    ) -> None:
        self._clock = clock
        self._fresh = fresh_seconds
        self._counts: dict[tuple[str, int], tuple[float, Tally]] = {}
        self._lock = threading.Lock()

    def get(self, broadcast: Broadcast, count: Callable[[], Tally]) -> Tally:
        moment = self._clock()
        key = (broadcast.id, broadcast.version)
        with self._lock:
            kept = self._counts.get(key)
            if kept is not None and moment - kept[0] < self._fresh:
                return kept[1]
        counts = count()
        with self._lock:
            if len(self._counts) >= RECENT_LIMIT:  # keep a few: the ones being watched
                self._counts = {
                    k: v for k, v in self._counts.items() if moment - v[0] < self._fresh
                }
            self._counts[key] = (moment, counts)
        return counts


def get_broadcast(
    broadcast_id: str,
    *,
    broadcasts: BroadcastStore,
    now: datetime | None = None,
    recent: RecentCounts | None = None,
) -> Broadcast:
    """The broadcast with its progress counted now (from its messages' index; `recent`: or
    at most a few seconds ago), and its report too once it has one: delivery and read
    receipts keep coming in after the last message went out (a phone that was off), and the
    report shows them. Given `now`, a message stuck in `sending` counts as failed (domain)."""
    broadcast = broadcasts.get(broadcast_id)
    if broadcast is None:
        raise BroadcastNotFoundError(broadcast_id)

    def count() -> Tally:
        return tally(broadcasts.message_states(broadcast_id), now)

    counts = count() if recent is None else recent.get(broadcast, count)
    figures = progress(counts, broadcast.expected_audience())
    if broadcast.report is None:
        return dataclasses.replace(broadcast, progress=figures)
    final = report(counts, broadcast.estimate.price_per_message, broadcast.estimate.currency)
    return dataclasses.replace(broadcast, progress=figures, report=final)


def recent_broadcasts(*, broadcasts: BroadcastStore, limit: int = RECENT_LIMIT) -> list[Broadcast]:
    """Newest first, with the progress the job saw last (get_broadcast counts it now)."""
    return broadcasts.recent(limit)


def cancel_broadcast(
    broadcast_id: str, *, broadcasts: BroadcastStore, by: str, now: datetime
) -> Broadcast:
    """Stop a scheduled or running broadcast: the job queues nothing more and the sender skips
    what is still queued. Raises BroadcastNotFoundError, BroadcastConflictError."""
    for _ in range(5):  # the job saves its cursor meanwhile: read again and retry
        current = broadcasts.get(broadcast_id)
        if current is None:
            raise BroadcastNotFoundError(broadcast_id)
        try:
            cancelled = current.cancelled(now, by)
        except BroadcastStateError as error:
            raise BroadcastConflictError(str(error)) from None
        stored = broadcasts.save(cancelled)
        if stored is not None:
            logger.info("broadcast cancelled", extra={"broadcast": broadcast_id, "by": by})
            return get_broadcast(broadcast_id, broadcasts=broadcasts)
    raise BroadcastConflictError(f"broadcast {broadcast_id} keeps changing: try again")


# --- the job -----------------------------------------------------------------------------------


@dataclass(slots=True)
class BroadcastRun:
    """What one run did."""

    started: int = 0
    segments: int = 0  # scan segments finished
    queued: int = 0  # messages queued
    completed: int = 0  # broadcasts completed (or cancelled ones reported)
    busy: int = 0  # broadcasts another run was working on: left to it
    out_of_budget: bool = False  # the daily messaging limit stopped a broadcast
    timed_out: bool = False  # out of time: the next run goes on
    broadcasts: list[str] = field(default_factory=list)


def run_broadcasts(
    now: datetime,
    *,
    definition: MunicipalityDefinition,
    ports: BroadcastPorts,
    clock: Callable[[], float],
    max_seconds: float = DEFAULT_RUN_SECONDS,
    only: str | None = None,
    max_segments: int | None = None,
) -> BroadcastRun:
    """One run of the job. `clock` (seconds, monotonic) bounds how long it goes on starting
    segments; `only` steps that one broadcast, read directly rather than through the settling
    index (which may not show a broadcast just made), and `max_segments` caps the segments
    read (the first step of a "send now", taken within the request)."""
    run = BroadcastRun()
    job = _Job(now, definition, ports, run, clock() + max_seconds, clock, max_segments)
    if only is not None:
        ids = [only]
    else:
        pending = ports.broadcasts.settling()
        ids = [b.id for b in sorted(pending, key=lambda b: (b.send_at, b.created_at, b.id))]
    for broadcast_id in ids:
        if job.out_of_time():
            run.timed_out = True
            break
        run.broadcasts.append(broadcast_id)
        try:
            job.step(broadcast_id)
        except Exception:
            # One broadcast's fault must not hold up the others; it is retried next run.
            logger.exception("broadcast step failed", extra={"broadcast": broadcast_id})
    logger.info("broadcasts run", extra={"run": dataclasses.asdict(run)})
    return run


@dataclass
class _Job:
    now: datetime
    definition: MunicipalityDefinition
    ports: BroadcastPorts
    run: BroadcastRun
    deadline: float
    clock: Callable[[], float]
    max_segments: int | None

    def out_of_time(self) -> bool:
        if self.max_segments is not None and self.run.segments >= self.max_segments:
            return True
        return self.clock() >= self.deadline

    def step(self, broadcast_id: str) -> None:
        """Claim the broadcast (as read now, consistently), work on it, let it go."""
        broadcast = self.ports.broadcasts.get(broadcast_id)
        if broadcast is None or not broadcast.settling:
            return
        if broadcast.status is BroadcastStatus.SCHEDULED and broadcast.send_at > self.now:
            return
        if broadcast.leased(self.now):
            self.run.busy += 1
            logger.info(
                "broadcast left to the run working on it", extra={"broadcast": broadcast_id}
            )
            return
        held = self.ports.broadcasts.save(broadcast.claimed(self.now))
        if held is None:
            return  # another run claimed it, or it was cancelled, meanwhile
        held = self._work(held)
        if held is not None and held.lease_until is not None:
            self.ports.broadcasts.save(held.released())

    def _work(self, broadcast: Broadcast) -> Broadcast | None:
        """The broadcast as last stored by this run, or None when something else changed it
        (a cancel): then this run stops."""
        if broadcast.status is BroadcastStatus.SCHEDULED:
            started = self.ports.broadcasts.save(broadcast.started(self.now))
            if started is None:
                return None
            self.run.started += 1
            logger.info("broadcast started", extra={"broadcast": broadcast.id})
            broadcast = started
        if broadcast.status is BroadcastStatus.RUNNING:
            refusal = self._refusal(broadcast)
            if refusal is not None:
                return self._cancel_refused(broadcast, refusal)
            advanced = self._queue(broadcast)
            if advanced is None or not advanced.segments_done:
                return advanced  # lost it, or waits (budget, time)
            broadcast = advanced
        return self._settle(broadcast)

    # -- queuing ---------------------------------------------------------------------------

    def _refusal(self, broadcast: Broadcast) -> str | None:
        template = self.definition.templates.get(broadcast.template)
        if template is None:
            return f"'{broadcast.template}' is not in the configuration any more"
        return template_refusal(template, self.definition.broadcasts)

    def _cancel_refused(self, broadcast: Broadcast, why: str) -> Broadcast | None:
        """Its template may not be sent any more: cancelled (the sender skips what is still
        queued), and reported once nothing is."""
        logger.error(
            "broadcast cancelled: its template is not allowed any more",
            extra={"broadcast": broadcast.id, "why": why},
        )
        cancelled = self.ports.broadcasts.save(
            broadcast.cancelled(self.now, SYSTEM_ACTOR, TEMPLATE_NOT_ALLOWED)
        )
        return None if cancelled is None else self._settle(cancelled)

    def _queue(self, broadcast: Broadcast) -> Broadcast | None:
        """Queue segment after segment; the broadcast as stored, or None when it changed
        meanwhile (cancelled)."""
        template = self.definition.templates[broadcast.template]
        while not broadcast.segments_done:
            if self.out_of_time():
                self.run.timed_out = True
                return broadcast
            queued, complete = self._queue_segment(broadcast, template)
            changed = dataclasses.replace(
                broadcast,
                queued=broadcast.queued + queued,
                next_segment=broadcast.next_segment + (1 if complete else 0),
            )
            stored = self.ports.broadcasts.save(changed)
            if stored is None:
                return None  # cancelled meanwhile: the sender skips what this step queued
            broadcast = stored
            if not complete:
                self.run.out_of_budget = True
                logger.info(
                    "broadcast waits for the daily messaging limit",
                    extra={"broadcast": broadcast.id, "queued": broadcast.queued},
                )
                return broadcast
            self.run.segments += 1
        return broadcast

    def _queue_segment(self, broadcast: Broadcast, template: Template) -> tuple[int, bool]:
        """(messages queued, whether the whole segment is done). Only the messages this call
        stored are queued and counted; budget taken for others (stored meanwhile by a run
        whose claim ran out) is given back."""
        default = self.definition.default_language
        members = {
            broadcast_message_id(broadcast.id, resident.key): resident
            for resident in self.ports.audience.scan_segment(
                broadcast.next_segment, broadcast.total_segments
            )
            if in_audience(resident, broadcast.segment, default)
        }
        stored = {message.id for message in self.ports.messages.get_many(sorted(members))}
        todo = [message_id for message_id in sorted(members) if message_id not in stored]
        granted = self._reserve(len(todo))
        batch = todo[:granted]
        created: list[str] = []
        if batch:
            messages = [
                self._message(broadcast, template, message_id, members[message_id])
                for message_id in batch
            ]
            created = list(self.ports.messages.add_outbound(messages))
            if len(created) < len(batch):
                self._give_back(len(batch) - len(created))
            if created:
                self.ports.outbound.enqueue(created, Priority.BULK)
            self.run.queued += len(created)
        return len(created), granted >= len(todo)

    def _reserve(self, wanted: int) -> int:
        policy = self.definition.broadcasts
        if wanted == 0 or policy is None or policy.daily_limit is None:
            return wanted
        return self.ports.budget.reserve(wanted, policy.daily_limit, self.now)

    def _give_back(self, unused: int) -> None:
        policy = self.definition.broadcasts
        if policy is not None and policy.daily_limit is not None:
            self.ports.budget.release(unused, self.now)

    def _message(
        self, broadcast: Broadcast, template: Template, message_id: str, resident: Resident
    ) -> StoredMessage:
        language = send_language(resident, template, self.definition.default_language)
        reply = TemplateReply(
            name=template.name,
            language=self.definition.template_language_code(language),
            body_params=params_for(broadcast.params, language),
        )
        message = queued_message(
            message_id,
            reply,
            resident_key=resident.key,
            recipient=resident.wa_id or resident.recipient,
            conversation_id=None,
            priority=Priority.BULK,
            sent_by=sent_by(broadcast.id),
            now=self.now,
        )
        return dataclasses.replace(message, broadcast_id=broadcast.id)

    # -- settling ----------------------------------------------------------------------------

    def _settle(self, broadcast: Broadcast) -> Broadcast | None:
        """Write the final report once nothing is queued any more (and the messages' index,
        eventually consistent, shows every message queued); else the progress so far."""
        counts = tally(self.ports.broadcasts.message_states(broadcast.id), self.now)
        figures = progress(counts, broadcast.expected_audience())
        done = (
            figures.queued == 0
            and counts.stored >= broadcast.queued
            and (broadcast.segments_done or broadcast.status is BroadcastStatus.CANCELLED)
        )
        if not done:
            if figures == broadcast.progress:
                return broadcast
            return self.ports.broadcasts.save(
                dataclasses.replace(broadcast, progress=figures, lease_until=None)
            )
        # Priced as estimated: the price table may change before the last receipt comes in.
        final = report(counts, broadcast.estimate.price_per_message, broadcast.estimate.currency)
        if broadcast.status is BroadcastStatus.RUNNING:
            settled = broadcast.completed(final, figures, self.now)
        else:
            settled = broadcast.reported(final, figures)
        stored = self.ports.broadcasts.save(settled.released())
        if stored is not None:
            self.run.completed += 1
            logger.info(
                "broadcast finished",
                extra={
                    "broadcast": broadcast.id,
                    "status": settled.status.value,
                    "reached": final.reached,
                    "delivered": final.delivered,
                    "failed": final.failed,
                    "skipped": dict(final.skipped_by_reason),
                },
            )
        return stored
