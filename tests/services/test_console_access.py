"""What agents may see: inboxes, search, a conversation's detail, and the supervisors' reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.agents import Role
from chalicelib.domain.conversations import ConversationStatus, SlaTarget
from chalicelib.domain.obligations import Obligation
from chalicelib.domain.tickets import Ticket
from chalicelib.services.agent_actions import resolve, send_agent_reply
from chalicelib.services.console_context import Forbidden, Invalid, NotFound
from chalicelib.services.console_conversation import open_conversation
from chalicelib.services.console_inbox import list_inbox, search_conversations
from chalicelib.services.console_ports import InboxView
from chalicelib.services.console_reports import console_report
from chalicelib.services.handle_inbound_message import handle_inbound_message
from tests.services.conftest import NOW
from tests.services.console_world import Console
from tests.services.inbound_messages import ResidentPhone

# --- seeing a conversation --------------------------------------------------------------------


def test_an_agent_opens_their_teams_conversation_with_all_around_it(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    resident = console.resident(wrote_at=NOW - timedelta(hours=2))
    earlier = console.waiting("front_desk", resident=resident, at=NOW - timedelta(days=3))
    resolve(ana, earlier.id, **console.deps(now=NOW - timedelta(days=3)))
    conversation = console.waiting("front_desk", resident=resident, at=NOW - timedelta(hours=2))
    ticket = Ticket(
        reference="VNR-2026-000042",
        resident_key=resident.key,
        conversation_id=earlier.id,
        flow="report_problem",
        category="pothole",
        created_at=NOW - timedelta(days=3),
        updated_at=NOW - timedelta(days=3),
    )
    console.world.database.tickets[ticket.reference] = ticket
    obligation = Obligation(
        external_id="LIC-1",
        kind="driving_licence",
        phone=f"+{resident.wa_id}",
        resident_key=resident.key,
        language="pt",
        due_date=date(2027, 3, 1),
        created_at=NOW,
        updated_at=NOW,
        registered_by="tax-office",
    )
    console.obligations.save(obligation, [])

    detail = open_conversation(ana, conversation.id, **_reading(console))

    assert detail.conversation.id == conversation.id
    assert detail.resident is not None and detail.resident.key == resident.key
    assert [t.reference for t in detail.tickets] == [ticket.reference]
    assert [o.external_id for o in detail.obligations] == ["LIC-1"]
    assert [c.id for c in detail.past_conversations] == [earlier.id]
    assert detail.window_open and detail.window_closes_at == NOW + timedelta(hours=22)
    assert detail.sla is not None and detail.sla.target is SlaTarget.FIRST_RESPONSE
    assert detail.sla.state == "breached"  # 15 minutes of business time, two hours ago


def test_the_window_and_sla_as_agents_see_them(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    late = console.waiting("front_desk", at=NOW - timedelta(hours=25))
    fresh = console.waiting("front_desk", at=NOW - timedelta(minutes=13))

    closed = open_conversation(ana, late.id, **_reading(console))
    warned = open_conversation(ana, fresh.id, **_reading(console))

    assert not closed.window_open
    assert warned.window_open and warned.sla is not None
    assert warned.sla.state == "warning" and warned.sla.seconds_left == 120


def test_another_teams_conversation_is_reported_missing(console: Console) -> None:
    fabio = console.agent("Fabio", "finance")
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    conversation = console.waiting("front_desk")

    with pytest.raises(NotFound):
        open_conversation(fabio, conversation.id, **_reading(console))
    with pytest.raises(NotFound):
        open_conversation(fabio, "no-such-conversation", **_reading(console))
    assert open_conversation(sara, conversation.id, **_reading(console)).conversation.id == (
        conversation.id
    )
    disabled = dataclasses.replace(console.agent("Dora", "front_desk"), disabled=True)
    with pytest.raises(NotFound):
        open_conversation(disabled, conversation.id, **_reading(console))


def test_an_agent_sees_only_their_teams_past_conversations_and_tickets(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    resident = console.resident()
    with_finance = console.waiting("finance", resident=resident, at=NOW - timedelta(days=5))
    resolve(sara, with_finance.id, **console.deps(now=NOW - timedelta(days=5)))
    with_front = console.waiting("front_desk", resident=resident, at=NOW - timedelta(days=3))
    resolve(ana, with_front.id, **console.deps(now=NOW - timedelta(days=3)))
    current = console.waiting("front_desk", resident=resident, at=NOW - timedelta(hours=1))

    def ticket(number: int, team: str | None, conversation_id: str, days_ago: int) -> str:
        reference = f"VNR-2026-{number:06d}"
        console.world.database.tickets[reference] = Ticket(
            reference=reference,
            resident_key=resident.key,
            conversation_id=conversation_id,
            flow="report_problem",
            team=team,
            created_at=NOW - timedelta(days=days_ago),
            updated_at=NOW - timedelta(days=days_ago),
        )
        return reference

    finances = ticket(1, "finance", with_finance.id, 5)  # finance's, in finance's conversation
    fronts = ticket(2, "front_desk", with_finance.id, 4)  # her team's
    untagged = ticket(3, None, with_front.id, 3)  # raised where she can see
    this_ones = ticket(4, "public_works", current.id, 0)  # raised in this very conversation

    mine = open_conversation(ana, current.id, **_reading(console))
    everything = open_conversation(sara, current.id, **_reading(console))

    assert [c.id for c in mine.past_conversations] == [with_front.id]
    assert [t.reference for t in mine.tickets] == [this_ones, untagged, fronts]
    assert [c.id for c in everything.past_conversations] == [with_front.id, with_finance.id]
    assert [t.reference for t in everything.tickets] == [this_ones, untagged, fronts, finances]


def _reading(console: Console) -> dict:
    return {"definition": console.definition, "ports": console.ports, "now": console.now}


# --- inboxes ----------------------------------------------------------------------------------


def test_each_inbox_shows_what_it_should_most_urgent_first(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", "public_works")
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    older = console.waiting("front_desk", at=NOW - timedelta(minutes=10))
    newer = console.waiting("front_desk", at=NOW - timedelta(minutes=1))
    works = console.waiting("public_works")
    mine = console.held_by(ana)
    finance = console.waiting("finance")

    def ids(view, team=None, actor=ana):
        return [c.id for c in list_inbox(actor, view, team, None, ports=console.ports).items]

    assert ids(InboxView.MINE) == [mine.id]
    assert ids(InboxView.UNASSIGNED) == [older.id, newer.id]  # team defaults to the first
    assert ids(InboxView.UNASSIGNED, "public_works") == [works.id]
    assert set(ids(InboxView.TEAM, "front_desk")) == {older.id, newer.id, mine.id}
    assert set(ids(InboxView.ALL, actor=sara)) == {
        older.id,
        newer.id,
        works.id,
        mine.id,
        finance.id,
    }
    assert ids(InboxView.UNASSIGNED, "finance", actor=sara) == [finance.id]
    with pytest.raises(Forbidden):
        ids(InboxView.UNASSIGNED, "finance")
    with pytest.raises(Forbidden):
        ids(InboxView.TEAM, "finance")
    with pytest.raises(Forbidden):
        ids(InboxView.ALL)


def test_an_inbox_pages_with_its_cursor(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    waiting = [console.waiting("front_desk", at=NOW - timedelta(minutes=n)).id for n in (5, 4, 3)]

    first = list_inbox(ana, InboxView.UNASSIGNED, None, None, ports=console.ports, limit=2)
    second = list_inbox(ana, InboxView.UNASSIGNED, None, first.cursor, ports=console.ports)

    assert [c.id for c in first.items + second.items] == waiting
    with pytest.raises(Invalid) as refused:
        list_inbox(ana, InboxView.UNASSIGNED, None, "not-a-cursor", ports=console.ports)
    assert refused.value.field == "cursor"


# --- search -----------------------------------------------------------------------------------


def _said(
    console: Console,
    phone: ResidentPhone,
    *texts: str,
    team: str = "front_desk",
    at: datetime = NOW,
) -> str:
    world = console.world
    said = [phone.text(text, at=at) for text in texts]
    for message in (phone.text("Olá", at=at), phone.tap_button("consent:accept", at=at), *said):
        handle_inbound_message(
            message, definition=world.definition, ports=world.ports, now=at, new_id=world.new_id
        )
    outcome = handle_inbound_message(
        phone.tap_row("human", at=at),
        definition=world.definition,
        ports=world.ports,
        now=at,
        new_id=world.new_id,
    )
    assert outcome.handed_off_to == team
    _, conversation = world.residents.load(f"wa:{phone.wa_id}")
    return conversation.id


def test_a_conversation_is_found_by_words_name_phone_and_ticket(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    phone = ResidentPhone("351912345678", name="Joaquina Ferreira")
    conversation_id = _said(console, phone, "O candeeiro da rua está apagado")
    other = _said(console, ResidentPhone("351912000000", name="Rui"), "Quero falar com alguém")
    console.world.database.tickets["VNR-2026-000123"] = Ticket(
        reference="VNR-2026-000123",
        resident_key=f"wa:{phone.wa_id}",
        conversation_id=conversation_id,
        flow="report_problem",
        created_at=NOW,
        updated_at=NOW,
    )

    def found(query: str) -> list[str]:
        results = search_conversations(
            ana, query, definition=console.definition, ports=console.ports
        )
        return [c.id for c in results]

    assert found("candeeiro") == [conversation_id]
    assert found("CANDEEIRO apagado") == [conversation_id]
    assert found("joaqui") == [conversation_id]  # a name's beginning
    assert found("+351 912 345 678") == [conversation_id]
    assert found("912 345 678") == [conversation_id]  # a local number, read as Portuguese
    assert found("vnr 2026 123") == [conversation_id]
    assert found("VNR-2026-000999") == []
    assert found("falar") == [other]
    assert found("  ") == [] and found("xy") == []


def test_search_finds_only_what_the_agent_may_see(console: Console) -> None:
    fabio = console.agent("Fabio", "finance")
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    conversation_id = _said(console, ResidentPhone("351912345670"), "O candeeiro está apagado")

    def found(actor) -> list[str]:
        results = search_conversations(
            actor, "candeeiro", definition=console.definition, ports=console.ports
        )
        return [c.id for c in results]

    assert found(fabio) == []
    assert found(sara) == [conversation_id]
    assert (
        search_conversations(
            fabio, "351912345670", definition=console.definition, ports=console.ports
        )
        == []
    )


def test_other_teams_matches_do_not_crowd_out_the_agents_own(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    hers = _said(console, ResidentPhone("351912345600"), "O candeeiro está apagado")
    later = NOW + timedelta(minutes=1)
    for n in range(21):  # newer, and more than a page of results: finance's
        _said(
            console,
            ResidentPhone(f"3519123457{n:02d}"),
            "O candeeiro e a fatura do pagamento",
            team="finance",
            at=later,
        )

    results = search_conversations(
        ana, "candeeiro", definition=console.definition, ports=console.ports
    )

    assert [c.id for c in results] == [hers]


# --- reports ----------------------------------------------------------------------------------


def test_reports_are_for_supervisors_over_a_sane_range(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    sara = console.agent("Sara", role=Role.ADMIN)
    day = date(2026, 11, 23)

    def report(actor, start=day, end=day, team=None):
        return console_report(
            actor,
            start=start,
            end=end,
            team=team,
            definition=console.definition,
            ports=console.ports,
        )

    with pytest.raises(Forbidden):
        report(ana)
    for start, end, team, field in [
        (day, day - timedelta(days=1), None, "to"),
        (day - timedelta(days=92), day, None, "to"),  # 93 days: more than a quarter
        (day, day, "nowhere", "team"),
    ]:
        with pytest.raises(Invalid) as refused:
            report(sara, start, end, team)
        assert refused.value.field == field
    quarter = report(sara, day - timedelta(days=91), day)
    assert len(quarter.days) == 92 and quarter.days[0].day == day - timedelta(days=91)


def test_a_report_counts_by_the_municipalitys_local_days(console: Console) -> None:
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    ana = console.agent("Ana", "front_desk")
    # Lisbon is UTC+1 in July: 23:30 UTC on the 1st is already the 2nd there.
    late_evening = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    on_the_first = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    second = console.waiting("front_desk", at=late_evening + timedelta(minutes=2))
    first = console.waiting("finance", at=on_the_first + timedelta(minutes=2))
    taken = console.held_by(ana, at=on_the_first + timedelta(minutes=2))
    send_agent_reply(
        ana, taken.id, text="Olá", **console.deps(now=on_the_first + timedelta(minutes=5))
    )
    resolve(ana, taken.id, **console.deps(now=on_the_first + timedelta(hours=1)))

    def report(start, end, team=None):
        return console_report(
            sara,
            start=start,
            end=end,
            team=team,
            definition=console.definition,
            ports=console.ports,
        )

    july_1 = report(date(2026, 7, 1), date(2026, 7, 1))
    assert july_1.totals.opened == 2 and july_1.totals.resolved == 1
    assert {row.key for row in july_1.teams} == {"finance", "front_desk"}
    assert [(row.label, row.resolved) for row in july_1.agents] == [("Ana", 1)]
    assert july_1.totals.first_response_avg_s == 180.0
    july_2 = report(date(2026, 7, 2), date(2026, 7, 2))
    assert july_2.totals.opened == 1 and july_2.teams[0].key == "front_desk"
    both = report(date(2026, 7, 1), date(2026, 7, 2), team="finance")
    assert both.totals.opened == 1 and [d.opened for d in both.days] == [1, 0]
    assert {second.id, first.id, taken.id} <= set(console.world.database.conversations)
    assert console.get(taken.id).status is ConversationStatus.RESOLVED
