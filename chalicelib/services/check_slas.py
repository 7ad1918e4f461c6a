"""Use case: the console's clock, run every minute by a schedule.

It reads only the conversations whose `sla_next_check` has come (a sparse index, no Scan): it
wakes snoozed ones, records SLA warnings and breaches on the timeline (and as metrics), and
escalates a breach to the configured team's queue (except a resolution breach of a snoozed
conversation: its agent is waiting on purpose). Then it sends agents who stopped polling
offline and offers every team's queue to its agents once more, so nothing waits because an
assignment right after a hand-off failed. A failure in one conversation, in releasing agents or
in one team's queue is logged and does not stop the rest.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget
from chalicelib.domain.messages import StoredMessage
from chalicelib.domain.sla import (
    BREACH,
    BusinessClock,
    SlaAlert,
    clock_for,
    due_alerts,
    with_next_check,
)
from chalicelib.domain.sla import with_alerts as record_alerts
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.services.assign_conversations import (
    assign_waiting,
    queued_for,
    release_stale_agents,
)
from chalicelib.services.console_context import SYSTEM, ConsolePorts, timeline_event
from chalicelib.services.console_ports import ConversationChange
from chalicelib.services.ports import ConcurrentUpdateError

BATCH = 100  # conversations read per query
MAX_BATCHES = 20  # per run; the rest wait a minute
_TARGET_NAMES = {"first_response": "first response", "resolution": "resolution"}


@dataclass(frozen=True, slots=True)
class SlaRun:
    warned: int = 0
    breached: int = 0
    escalated: int = 0
    woken: int = 0


def check_slas(
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> SlaRun:
    clock = clock_for(definition)
    tally: Counter[str] = Counter()  # SlaRun's fields
    seen: set[str] = set()
    for _ in range(MAX_BATCHES):
        due = [c for c in ports.conversations.sla_checks_due(now, BATCH) if c.id not in seen]
        for conversation in due:
            seen.add(conversation.id)
            try:
                _check(conversation, definition, clock, ports, now, new_id, tally)
            except ConcurrentUpdateError:
                pass  # changed meanwhile: its new state is looked at next minute
            except Exception:
                # One broken conversation must not hold up the others (it is tried again
                # next minute, and logged each time until someone looks).
                logger.exception("SLA check failed", extra={"conversation": conversation.id})
        if len(due) < BATCH:
            break
    try:
        release_stale_agents(definition=definition, ports=ports, now=now, new_id=new_id)
    except Exception:
        logger.exception("releasing stale agents failed")
    for team in definition.teams:
        try:
            assign_waiting(team, definition=definition, ports=ports, now=now, new_id=new_id)
        except Exception:
            logger.exception("assigning a queue failed", extra={"team": team})
    run = SlaRun(**tally)
    if run != SlaRun():
        logger.info("SLA check", extra=dataclasses.asdict(run))
    return run


def _check(
    conversation: Conversation,
    definition: MunicipalityDefinition,
    clock: BusinessClock,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
    tally: Counter[str],
) -> None:
    policy = definition.sla
    changed = conversation
    events: list[StoredMessage] = []
    load: dict[str, int] = {}

    def event(of: Conversation, name: str, summary: str, **details: object) -> None:
        events.append(
            timeline_event(of, name, summary, by=SYSTEM, now=now, new_id=new_id, **details)
        )

    woke = False
    if (
        changed.status is ConversationStatus.SNOOZED
        and changed.snoozed_until is not None
        and changed.snoozed_until <= now
    ):
        changed, woke = _woken(changed, definition, ports, now, load), True
        event(changed, "woke", "the snooze ended", status=changed.status.value)

    alerts = due_alerts(changed, policy, clock, now)
    changed = record_alerts(changed, alerts, policy, clock)
    for alert in alerts:
        what = _TARGET_NAMES.get(alert.target.value, alert.target.value)
        if alert.kind == BREACH:
            event(changed, "sla_breach", f"{what} target missed", target=alert.target.value)
        else:
            event(changed, "sla_warning", f"{what} target nearly due", target=alert.target.value)
    escalate_to = policy.escalate_to if policy is not None else None
    escalated = _escalates(changed, alerts) and escalate_to in definition.teams
    if escalated:
        assert escalate_to is not None
        holder = changed.holder
        if holder is not None:
            load[holder] = load.get(holder, 0) - 1
        from_team = changed.team
        # last_agent is cleared so the queue does not hand it straight back to them.
        changed = dataclasses.replace(
            queued_for(changed, team=escalate_to, now=now), last_agent=None
        )
        event(
            changed,
            "escalated",
            f"escalated to {definition.teams[escalate_to].name}",
            from_team=from_team,
            to_team=escalate_to,
            previous=holder,
        )

    changed = with_next_check(changed, definition)
    if changed == conversation:
        return
    ports.conversations.apply(
        ConversationChange(
            conversation=changed,
            load={agent: delta for agent, delta in load.items() if delta},
            events=tuple(events),
        )
    )
    warnings = sum(1 for alert in alerts if alert.kind != BREACH)
    breaches = len(alerts) - warnings
    if warnings:
        metrics.add_metric(name="SlaWarnings", unit=MetricUnit.Count, value=warnings)
    if breaches:
        metrics.add_metric(name="SlaBreaches", unit=MetricUnit.Count, value=breaches)
    tally.update(warned=warnings, breached=breaches, escalated=int(escalated), woken=int(woke))


def _escalates(conversation: Conversation, alerts: tuple[SlaAlert, ...]) -> bool:
    """A breach escalates, except a resolution breach while the conversation is snoozed: its
    agent is deliberately waiting (for a document, a visit), so it is recorded and counted but
    stays theirs."""
    snoozed = conversation.status is ConversationStatus.SNOOZED
    return any(
        alert.kind == BREACH and not (snoozed and alert.target is SlaTarget.RESOLUTION)
        for alert in alerts
    )


def _woken(
    conversation: Conversation,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    load: dict[str, int],
) -> Conversation:
    """Back to its agent when they are at work (even over capacity: it was theirs already),
    else to its team's queue."""
    holder = conversation.holder
    agent = ports.agents.get(holder) if holder else None
    if agent is not None and agent.online and not agent.disabled:
        return dataclasses.replace(
            conversation, status=ConversationStatus.ASSIGNED, snoozed_until=None, updated_at=now
        )
    if holder is not None:
        load[holder] = load.get(holder, 0) - 1
    team = conversation.team or definition.fallback_team.id
    return queued_for(conversation, team=team, now=now)
