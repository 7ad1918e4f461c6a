"""Supervisors' figures for a range of days: volume, speed, SLA compliance, satisfaction.

Computed from the conversations opened in the range (local dates, inclusive). Durations are
wall-clock seconds from the hand-off to a person. Per day, "resolved" and "handed off" count
those of the same conversations that happened on that day."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget

TOTAL_KEY = "all"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # spreadsheet formula injection


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRow:
    key: str
    label: str
    opened: int
    handed_off: int
    resolved: int
    first_response_avg_s: float | None
    first_response_p90_s: float | None
    resolution_avg_s: float | None
    resolution_p90_s: float | None
    sla_met: int
    sla_missed: int
    sla_compliance: float | None  # % of handed-off conversations whose decided targets were met
    csat_avg: float | None
    csat_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DayRow:
    day: date
    opened: int
    resolved: int
    handed_off: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    start: date
    end: date
    team: str | None
    totals: ReportRow
    bot_containment: float | None  # % of opened conversations never handed to a person
    days: tuple[DayRow, ...]  # every day of the range
    teams: tuple[ReportRow, ...]
    agents: tuple[ReportRow, ...]


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: the smallest value at least 90 % of the values reach."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _average(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _percent(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def _is_resolved(conversation: Conversation) -> bool:
    return conversation.status is ConversationStatus.RESOLVED


def _sla_outcome(conversation: Conversation) -> bool | None:
    """True: every decided target was met; False: one was missed; None: nothing decided yet
    (or no SLA). A target is decided once met (response / resolution) or recorded breached."""
    outcomes: list[bool] = []
    checks = (
        (SlaTarget.FIRST_RESPONSE, conversation.first_response_due, conversation.first_response_at),
        (
            SlaTarget.RESOLUTION,
            conversation.resolution_due,
            conversation.resolved_at if _is_resolved(conversation) else None,
        ),
    )
    for target, due, done in checks:
        if target in conversation.sla_breached:
            outcomes.append(False)
        elif due is not None and done is not None:
            outcomes.append(done <= due)
    return all(outcomes) if outcomes else None


def _row(key: str, label: str, conversations: Sequence[Conversation]) -> ReportRow:
    handed = [c for c in conversations if c.handed_off_at is not None]
    first_response = [
        s for c in handed if (s := _seconds(c.handed_off_at, c.first_response_at)) is not None
    ]
    resolution = [
        s
        for c in handed
        if _is_resolved(c) and (s := _seconds(c.handed_off_at, c.resolved_at)) is not None
    ]
    outcomes = [_sla_outcome(c) for c in handed]
    met, missed = outcomes.count(True), outcomes.count(False)
    scores = [c.csat_score for c in conversations if c.csat_score is not None]
    return ReportRow(
        key=key,
        label=label,
        opened=len(conversations),
        handed_off=len(handed),
        resolved=sum(1 for c in conversations if _is_resolved(c)),
        first_response_avg_s=_average(first_response),
        first_response_p90_s=p90(first_response),
        resolution_avg_s=_average(resolution),
        resolution_p90_s=p90(resolution),
        sla_met=met,
        sla_missed=missed,
        sla_compliance=_percent(met, met + missed),
        csat_avg=_average(scores),
        csat_count=len(scores),
    )


def _grouped(
    conversations: Sequence[Conversation],
    key_of: Callable[[Conversation], str | None],
    label_of: Callable[[str], str],
) -> tuple[ReportRow, ...]:
    groups: dict[str, list[Conversation]] = {}
    for conversation in conversations:
        key = key_of(conversation)
        if key is not None:
            groups.setdefault(key, []).append(conversation)
    rows = [_row(key, label_of(key), members) for key, members in groups.items()]
    return tuple(sorted(rows, key=lambda row: (row.label.casefold(), row.key)))


def build_report(
    conversations: Iterable[Conversation],
    *,
    start: date,
    end: date,
    zone: ZoneInfo,
    team: str | None = None,
    agent_names: Mapping[str, str] | None = None,
) -> Report:
    """The report for conversations opened from `start` to `end` (local dates, inclusive);
    others are ignored, so callers may pass a wider set. `team` keeps one team's only."""
    if end < start:
        raise ValueError("end must not be before start")
    names = agent_names or {}

    def local_day(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    chosen = [
        c
        for c in conversations
        if start <= local_day(c.opened_at) <= end and (team is None or c.team == team)
    ]
    total = _row(TOTAL_KEY, "All", chosen)
    counts: dict[date, list[int]] = {}
    for conversation in chosen:
        for index, moment in enumerate(
            (
                conversation.opened_at,
                conversation.resolved_at if _is_resolved(conversation) else None,
                conversation.handed_off_at,
            )
        ):
            if moment is not None:
                counts.setdefault(local_day(moment), [0, 0, 0])[index] += 1
    days = tuple(
        DayRow(day=day, opened=opened, resolved=resolved, handed_off=handed_off)
        for day in (start + timedelta(days=n) for n in range((end - start).days + 1))
        for opened, resolved, handed_off in [counts.get(day, [0, 0, 0])]
    )
    return Report(
        start=start,
        end=end,
        team=team,
        totals=total,
        bot_containment=_percent(total.opened - total.handed_off, total.opened),
        days=days,
        teams=_grouped(chosen, lambda c: c.team, lambda key: key),
        agents=_grouped(
            chosen, lambda c: c.assignee or c.last_agent, lambda key: names.get(key, key)
        ),
    )


ROW_COLUMNS = tuple(field.name for field in fields(ReportRow))
DAY_COLUMNS = ("day", "opened", "resolved", "handed_off")
TOTAL_COLUMNS = ("from", "to", "team", "bot_containment", *ROW_COLUMNS)


def _rounded(value: Any) -> Any:
    return round(value, 1) if isinstance(value, float) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return str(value)


def report_csv(report: Report) -> str:
    """Four sections — totals, teams, agents, days — each a title line and a header row,
    separated by an empty line. Empty cells mean "no data"; floats have one decimal."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def rows(title: str, header: Sequence[str], values: Iterable[Sequence[Any]]) -> None:
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([_cell(value) for value in row] for row in values)

    def row_values(row: ReportRow) -> list[Any]:
        return [getattr(row, name) for name in ROW_COLUMNS]

    rows(
        "totals",
        TOTAL_COLUMNS,
        [
            [
                report.start.isoformat(),
                report.end.isoformat(),
                report.team,
                report.bot_containment,
                *row_values(report.totals),
            ]
        ],
    )
    writer.writerow([])
    rows("teams", ROW_COLUMNS, [row_values(row) for row in report.teams])
    writer.writerow([])
    rows("agents", ROW_COLUMNS, [row_values(row) for row in report.agents])
    writer.writerow([])
    rows(
        "days",
        DAY_COLUMNS,
        [[d.day.isoformat(), d.opened, d.resolved, d.handed_off] for d in report.days],
    )
    return out.getvalue()


def _row_dict(row: ReportRow) -> dict[str, Any]:
    return {name: _rounded(value) for name, value in asdict(row).items()}


def report_to_dict(report: Report) -> dict[str, Any]:
    """JSON-ready: dates in ISO format, floats rounded to one decimal, None kept as null."""
    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "team": report.team,
        "totals": _row_dict(report.totals),
        "bot_containment": _rounded(report.bot_containment),
        "days": [
            {
                "day": day.day.isoformat(),
                "opened": day.opened,
                "resolved": day.resolved,
                "handed_off": day.handed_off,
            }
            for day in report.days
        ],
        "teams": [_row_dict(row) for row in report.teams],
        "agents": [_row_dict(row) for row in report.agents],
    }
