"""Use case: the supervisors' dashboard — volumes, response and resolution times, SLA
compliance and satisfaction over a range of local dates, per team, agent and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from chalicelib.domain.agents import Agent
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.reports import Report, build_report
from chalicelib.services.console_context import ConsolePorts, Forbidden, Invalid

# One report is one synchronous request: a quarter's conversations (one Query per day) stay
# well inside API Gateway's 29-second limit.
MAX_DAYS = 92


def console_report(
    actor: Agent,
    *,
    start: date,
    end: date,
    team: str | None,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
) -> Report:
    """Conversations opened from `start` to `end` (inclusive, the municipality's local dates)."""
    if not actor.sees_all:
        raise Forbidden("reports are for supervisors")
    if end < start:
        raise Invalid("the end is before the start", field="to")
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(f"at most {MAX_DAYS} days at once", field="to")
    if team is not None and team not in definition.teams:
        raise Invalid("no such team", field="team")
    zone = definition.zone
    since = datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    names = {agent.id: agent.name for agent in ports.agents.list_all()}
    return build_report(
        ports.conversations.opened_between(since, until),
        start=start,
        end=end,
        zone=zone,
        team=team,
        agent_names=names,
    )
