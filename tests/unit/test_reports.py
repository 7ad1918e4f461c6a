"""Supervisors' report: counts, speeds, SLA compliance, containment, CSV and JSON shapes."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget
from chalicelib.domain.reports import (
    DAY_COLUMNS,
    ROW_COLUMNS,
    TOTAL_COLUMNS,
    build_report,
    p90,
    report_csv,
    report_to_dict,
)

LISBON = ZoneInfo("Europe/Lisbon")  # UTC+0 in November
MONDAY, SUNDAY = date(2026, 11, 23), date(2026, 11, 29)
RESOLVED, ASSIGNED, BOT = (
    ConversationStatus.RESOLVED,
    ConversationStatus.ASSIGNED,
    ConversationStatus.BOT,
)


def at(day: int, hour: int = 10, minute: int = 0, zone: ZoneInfo = LISBON) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=zone)


def conversation(cid: str, opened_at: datetime, **fields: Any) -> Conversation:
    return Conversation(
        id=cid, resident_key=f"wa:{cid}", opened_at=opened_at, updated_at=opened_at, **fields
    )


def handed(
    cid: str,
    opened_at: datetime,
    *,
    team: str = "front_desk",
    response_after: timedelta | None = None,
    resolved_after: timedelta | None = None,
    **fields: Any,
) -> Conversation:
    """Handed off when opened; dues 15 min and 2 days later (wall-clock, for simplicity)."""
    resolved_at = opened_at + resolved_after if resolved_after is not None else None
    defaults: dict[str, Any] = {
        "status": RESOLVED if resolved_at else ASSIGNED,
        "team": team,
        "handed_off_at": opened_at,
        "first_response_due": opened_at + timedelta(minutes=15),
        "resolution_due": opened_at + timedelta(days=2),
        "first_response_at": opened_at + response_after if response_after is not None else None,
        "resolved_at": resolved_at,
    }
    return conversation(cid, opened_at, **(defaults | fields))


WEEK = [
    conversation("bot1", at(23, 9), status=BOT),  # the bot handled it alone
    conversation("bot2", at(24, 9), status=RESOLVED, resolved_at=at(24, 9, 5)),
    handed(  # met both targets
        "fd1",
        at(23),
        response_after=timedelta(minutes=5),
        resolved_after=timedelta(days=1),
        last_agent="ana@x",
        csat_score=5,
    ),
    handed(  # answered late
        "fd2",
        at(23, 11),
        response_after=timedelta(minutes=30),
        resolved_after=timedelta(hours=2),
        last_agent="bruno@x",
        sla_breached=frozenset({SlaTarget.FIRST_RESPONSE}),
        csat_score=2,
    ),
    handed(  # still open, nothing decided
        "pw1",
        at(24, 9),
        team="public_works",
        assignee="ana@x",
    ),
    handed(  # opened the Sunday before: not in the report
        "old",
        at(22),
        response_after=timedelta(minutes=1),
        resolved_after=timedelta(hours=1),
        last_agent="ana@x",
    ),
]


def week_report(**options: Any) -> Any:
    return build_report(
        WEEK,
        start=MONDAY,
        end=SUNDAY,
        zone=LISBON,
        agent_names={"ana@x": "Ana", "bruno@x": "Bruno"},
        **options,
    )


def test_p90_is_nearest_rank() -> None:
    assert p90([]) is None
    assert p90([7.0]) == 7.0
    assert p90([10.0, 20.0]) == 20.0  # rank ceil(1.8) = 2
    assert p90([float(n) for n in range(1, 11)]) == 9.0
    assert p90([float(n) for n in range(20, 0, -1)]) == 18.0
    assert p90([float(n) for n in range(1, 12)]) == 10.0  # rank ceil(9.9) = 10


def test_totals() -> None:
    report = week_report()
    totals = report.totals
    assert (totals.key, totals.label) == ("all", "All")
    assert (totals.opened, totals.handed_off, totals.resolved) == (5, 3, 3)
    assert totals.first_response_avg_s == (300 + 1800) / 2
    assert totals.first_response_p90_s == 1800
    assert totals.resolution_avg_s == (86400 + 7200) / 2
    assert totals.resolution_p90_s == 86400
    assert (totals.sla_met, totals.sla_missed) == (1, 1)
    assert totals.sla_compliance == 50.0
    assert (totals.csat_avg, totals.csat_count) == (3.5, 2)
    assert report.bot_containment == 40.0  # 2 of 5 never reached a person


def test_every_day_of_the_range_is_listed() -> None:
    days = week_report().days
    assert [d.day for d in days] == [MONDAY + timedelta(days=n) for n in range(7)]
    by_day = {d.day: (d.opened, d.resolved, d.handed_off) for d in days}
    assert by_day[date(2026, 11, 23)] == (3, 1, 2)  # fd2 resolved the same day
    assert by_day[date(2026, 11, 24)] == (2, 2, 1)  # bot2 and fd1 resolved
    assert all(by_day[MONDAY + timedelta(days=n)] == (0, 0, 0) for n in range(2, 7))


def test_per_team_rows() -> None:
    teams = week_report().teams
    assert [(t.key, t.label, t.opened, t.handed_off, t.resolved) for t in teams] == [
        ("front_desk", "front_desk", 2, 2, 2),
        ("public_works", "public_works", 1, 1, 0),
    ]
    public_works = teams[1]
    assert public_works.first_response_avg_s is None
    assert public_works.sla_compliance is None
    assert public_works.csat_avg is None


def test_per_agent_rows_by_assignee_or_last_agent() -> None:
    agents = week_report().agents
    assert [(a.key, a.label, a.opened, a.resolved) for a in agents] == [
        ("ana@x", "Ana", 2, 1),
        ("bruno@x", "Bruno", 1, 1),
    ]
    assert agents[1].sla_compliance == 0.0
    unnamed = build_report(WEEK, start=MONDAY, end=SUNDAY, zone=LISBON).agents
    assert [a.label for a in unnamed] == ["ana@x", "bruno@x"]


def test_assignee_wins_over_last_agent() -> None:
    moved = handed("x", at(24), assignee="carla@x", last_agent="ana@x")
    report = build_report([moved], start=MONDAY, end=SUNDAY, zone=LISBON)
    assert [a.key for a in report.agents] == ["carla@x"]


def test_team_filter() -> None:
    report = week_report(team="front_desk")
    assert report.team == "front_desk"
    assert (report.totals.opened, report.totals.handed_off) == (2, 2)
    assert report.bot_containment == 0.0
    assert [t.key for t in report.teams] == ["front_desk"]
    assert [a.key for a in report.agents] == ["ana@x", "bruno@x"]


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"response_after": timedelta(minutes=15)}, "met"),  # exactly on time
        ({"response_after": timedelta(minutes=16)}, "missed"),
        ({"response_after": timedelta(minutes=1), "resolved_after": timedelta(days=3)}, "missed"),
        ({"sla_breached": frozenset({SlaTarget.RESOLUTION})}, "missed"),  # recorded, still open
        ({}, "undecided"),
        ({"first_response_due": None, "resolution_due": None}, "undecided"),  # no SLA
        (
            {
                "first_response_due": None,
                "resolution_due": None,
                "resolved_after": timedelta(days=9),
            },
            "undecided",
        ),
    ],
)
def test_sla_outcome_of_one_conversation(fields: dict[str, Any], outcome: str) -> None:
    report = build_report([handed("x", at(24), **fields)], start=MONDAY, end=SUNDAY, zone=LISBON)
    met, missed = report.totals.sla_met, report.totals.sla_missed
    assert {"met": (1, 0), "missed": (0, 1), "undecided": (0, 0)}[outcome] == (met, missed)


def test_local_dates_decide_the_range() -> None:
    sao_paulo = ZoneInfo("America/Sao_Paulo")  # UTC-3
    utc = ZoneInfo("UTC")
    inside = conversation("late_sunday", datetime(2026, 11, 30, 1, 0, tzinfo=utc))
    outside = conversation("early", datetime(2026, 11, 23, 2, 0, tzinfo=utc))  # Sun 22/11 local
    report = build_report([inside, outside], start=MONDAY, end=SUNDAY, zone=sao_paulo)
    assert report.totals.opened == 1
    assert report.days[-1].opened == 1
    assert sum(d.opened for d in report.days) == 1


def test_empty_report() -> None:
    report = build_report([], start=MONDAY, end=MONDAY, zone=LISBON)
    assert report.totals.opened == 0
    assert report.totals.first_response_avg_s is None
    assert report.totals.sla_compliance is None
    assert report.bot_containment is None
    assert len(report.days) == 1
    assert report.teams == () and report.agents == ()


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="end"):
        build_report([], start=SUNDAY, end=MONDAY, zone=LISBON)


def test_negative_durations_count_as_zero() -> None:
    odd = handed("x", at(24), first_response_at=at(24) - timedelta(seconds=5))
    report = build_report([odd], start=MONDAY, end=SUNDAY, zone=LISBON)
    assert report.totals.first_response_avg_s == 0.0


def test_resolution_times_of_reopened_conversations_are_not_counted() -> None:
    reopened = handed("x", at(24), resolved_after=timedelta(hours=1), status=ASSIGNED)
    report = build_report([reopened], start=MONDAY, end=SUNDAY, zone=LISBON)
    assert report.totals.resolved == 0
    assert report.totals.resolution_avg_s is None


def sections(text: str) -> dict[str, list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    found: dict[str, list[list[str]]] = {}
    chunk: list[list[str]] = []
    for row in [*rows, []]:
        if row:
            chunk.append(row)
        elif chunk:
            found[chunk[0][0]] = chunk[1:]
            chunk = []
    return found


def test_csv_has_four_sections_each_with_a_header() -> None:
    text = report_csv(week_report())
    assert "\r\n" in text
    parts = sections(text)
    assert list(parts) == ["totals", "teams", "agents", "days"]
    assert parts["totals"][0] == list(TOTAL_COLUMNS)
    assert parts["teams"][0] == parts["agents"][0] == list(ROW_COLUMNS)
    assert parts["days"][0] == list(DAY_COLUMNS)
    assert len(parts["totals"]) == 2
    assert len(parts["teams"]) == 3 and len(parts["agents"]) == 3
    assert len(parts["days"]) == 8
    totals = dict(zip(parts["totals"][0], parts["totals"][1], strict=True))
    assert totals["from"] == "2026-11-23" and totals["to"] == "2026-11-29"
    assert totals["team"] == ""
    assert totals["bot_containment"] == "40.0"
    assert totals["opened"] == "5"
    assert totals["first_response_avg_s"] == "1050.0"
    assert parts["days"][1] == ["2026-11-23", "3", "1", "2"]
    public_works = dict(zip(parts["teams"][0], parts["teams"][2], strict=True))
    assert public_works["first_response_avg_s"] == ""  # no data


def test_csv_of_an_empty_report_keeps_every_header() -> None:
    parts = sections(report_csv(build_report([], start=MONDAY, end=MONDAY, zone=LISBON)))
    assert parts["teams"] == [list(ROW_COLUMNS)]
    assert parts["agents"] == [list(ROW_COLUMNS)]


def test_csv_defuses_spreadsheet_formulas_in_names() -> None:
    report = build_report(
        [handed("x", at(24), assignee="eve@x")],
        start=MONDAY,
        end=SUNDAY,
        zone=LISBON,
        agent_names={"eve@x": '=HYPERLINK("http://evil")'},
    )
    agents = sections(report_csv(report))["agents"]
    assert agents[1][1] == '\'=HYPERLINK("http://evil")'


def test_report_to_dict_is_json_ready_and_rounded() -> None:
    thirds = [
        handed("a", at(24), response_after=timedelta(seconds=1)),
        handed("b", at(24), response_after=timedelta(seconds=1)),
        handed("c", at(24), response_after=timedelta(seconds=2), csat_score=4),
        handed("d", at(24), response_after=timedelta(minutes=20)),  # missed
    ]
    data = report_to_dict(build_report(thirds, start=MONDAY, end=SUNDAY, zone=LISBON))
    assert json.loads(json.dumps(data)) == data
    assert (data["start"], data["end"], data["team"]) == ("2026-11-23", "2026-11-29", None)
    assert data["totals"]["sla_compliance"] == 75.0
    assert data["totals"]["first_response_avg_s"] == round((1 + 1 + 2 + 1200) / 4, 1)
    assert data["totals"]["csat_avg"] == 4.0
    assert data["bot_containment"] == 0.0
    assert data["days"][1] == {"day": "2026-11-24", "opened": 4, "resolved": 0, "handed_off": 4}
    assert len(data["days"]) == 7
    assert data["teams"][0]["key"] == "front_desk"
    assert data["agents"] == []


def test_report_to_dict_rounds_to_one_decimal() -> None:
    three = [
        handed("a", at(24), response_after=timedelta(minutes=1)),
        handed("b", at(24), response_after=timedelta(minutes=1)),
        handed("c", at(24), response_after=timedelta(minutes=20)),
    ]
    data = report_to_dict(build_report(three, start=MONDAY, end=SUNDAY, zone=LISBON))
    assert data["totals"]["sla_compliance"] == 66.7
    assert data["totals"]["first_response_avg_s"] == 440.0
