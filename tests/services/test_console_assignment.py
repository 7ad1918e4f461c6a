"""Who takes waiting conversations, what happens when agents leave, and the SLA job: warnings,
breaches and escalations in business time, snoozes that end, and the queues' safety sweep."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.memory_console_stores import (
    InMemoryAgentStore,
    InMemoryConsoleConversationStore,
)
from chalicelib.domain.conversations import ConversationStatus, SlaTarget
from chalicelib.services.agent_actions import send_agent_reply, snooze
from chalicelib.services.assign_conversations import (
    assign_waiting,
    redistribute,
    release_stale_agents,
    set_presence,
)
from chalicelib.services.check_slas import SlaRun, check_slas
from chalicelib.services.console_context import NotFound
from chalicelib.services.console_ports import InboxView
from tests.services.conftest import NOW
from tests.services.console_world import Console

# --- the queue --------------------------------------------------------------------------------


def test_least_busy_gives_the_queue_to_whoever_has_least(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", open_count=2)
    bruno = console.agent("Bruno", "front_desk")
    carla = console.agent("Carla", "front_desk", open_count=1)
    waiting = [console.waiting("front_desk", at=NOW - timedelta(minutes=n)).id for n in (3, 2, 1)]

    assigned = assign_waiting("front_desk", **console.deps())

    assert assigned == waiting  # most urgent first
    holders = [console.get(c).assignee for c in waiting]
    # Bruno (0); then Bruno and Carla have one each: Carla never had one assigned; then Bruno
    assert holders == [bruno.id, carla.id, bruno.id]
    assert [console.fresh_agent(a.id).open_count for a in (ana, bruno, carla)] == [2, 2, 2]
    event = [m for m in console.timeline(waiting[0]) if m.message_type == "event"][-1]
    assert event.sent_by == "system"
    assert event.payload == {"event": "assigned", "agent": bruno.id, "strategy": "least_busy"}


def test_round_robin_takes_turns_whatever_the_load(console: Console) -> None:
    definition = dataclasses.replace(console.definition, assignment="round_robin")
    ana = console.agent("Ana", "front_desk", last_assigned_at=NOW - timedelta(hours=2))
    bruno = console.agent("Bruno", "front_desk", last_assigned_at=NOW - timedelta(hours=1))
    carla = console.agent("Carla", "front_desk", open_count=3)  # never assigned one
    waiting = [console.waiting("front_desk", at=NOW - timedelta(minutes=n)).id for n in (3, 2, 1)]

    assign_waiting("front_desk", **console.deps(definition=definition))

    assert [console.get(c).assignee for c in waiting] == [carla.id, ana.id, bruno.id]


def test_nobody_full_offline_or_disabled_is_given_more(console: Console) -> None:
    console.agent("Ana", "front_desk", capacity=2, open_count=2)
    console.agent("Bruno", "front_desk", online=False)
    dora = console.agent("Dora", "front_desk")
    console.agents.save_profile(dataclasses.replace(dora, disabled=True))
    console.agent("Fabio", "finance")
    conversation = console.waiting("front_desk")

    assert assign_waiting("front_desk", **console.deps()) == []

    assert console.get(conversation.id).status is ConversationStatus.QUEUED
    assert console.events(conversation.id) == []


def test_capacity_counts_what_the_agent_takes_in_one_sweep(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", capacity=2)
    waiting = [console.waiting("front_desk", at=NOW - timedelta(minutes=n)).id for n in (3, 2, 1)]

    assert assign_waiting("front_desk", **console.deps()) == waiting[:2]
    assert console.fresh_agent(ana.id).open_count == 2
    assert console.get(waiting[2]).status is ConversationStatus.QUEUED
    assert assign_waiting("front_desk", **console.deps(), limit=1) == []


def test_an_agent_filled_up_meanwhile_is_passed_over(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", capacity=1)
    bruno = console.agent("Bruno", "front_desk", open_count=1)
    conversation = console.waiting("front_desk", at=NOW - timedelta(minutes=1))
    other = console.waiting("front_desk")
    members = console.agents.team_members

    def read_then_ana_takes_another(team: str):
        seen = members(team)
        console.agents.team_members = members
        from chalicelib.services.agent_actions import assign

        assign(ana, other.id, ana.id, **console.deps())  # she is full now
        return seen

    console.agents.team_members = read_then_ana_takes_another

    # Ana looked free, was full by the time of writing: Bruno takes it; the one Ana took
    # changed meanwhile and is skipped
    assert assign_waiting("front_desk", **console.deps()) == [conversation.id]

    assert console.get(conversation.id).assignee == bruno.id
    assert console.get(other.id).assignee == ana.id
    assert console.fresh_agent(ana.id).open_count == 1


def test_a_queued_conversation_changed_meanwhile_is_skipped(console: Console) -> None:
    console.agent("Ana", "front_desk")
    conversation = console.waiting("front_desk")
    inbox = console.conversations.inbox

    def read_then_it_changes(*args, **kwargs):
        page = inbox(*args, **kwargs)
        console.conversations.inbox = inbox
        console.store(console.get(conversation.id))  # someone wrote it: version moves on
        return page

    console.conversations.inbox = read_then_it_changes

    assert assign_waiting("front_desk", **console.deps()) == []
    assert assign_waiting("front_desk", **console.deps()) == [conversation.id]


# --- presence ---------------------------------------------------------------------------------


def test_coming_online_takes_from_every_team_of_the_agent(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", "finance", online=False)
    front, finance = console.waiting("front_desk"), console.waiting("finance")
    works = console.waiting("public_works")

    agent = set_presence(ana, True, **console.deps())

    assert agent.online and agent.open_count == 2
    assert console.get(front.id).assignee == ana.id and console.get(finance.id).assignee == ana.id
    assert console.get(works.id).status is ConversationStatus.QUEUED
    with pytest.raises(NotFound):
        set_presence(dataclasses.replace(ana, id="ghost@town.example"), True, **console.deps())


def test_going_offline_hands_assigned_conversations_to_the_others(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    first, second = console.held_by(ana), console.held_by(ana)
    later = NOW + timedelta(hours=1)
    resting = console.held_by(ana)
    snooze(ana, resting.id, later, **console.deps())
    bruno = console.agent("Bruno", "front_desk")

    agent = set_presence(ana, False, **console.deps())

    assert not agent.online and agent.open_count == 1  # the snoozed one stays hers
    assert console.get(first.id).assignee == bruno.id
    assert console.get(second.id).assignee == bruno.id
    assert console.get(first.id).last_agent == bruno.id
    assert console.get(resting.id).assignee == ana.id
    assert console.events(first.id) == ["assigned", "returned_to_queue", "assigned"]


def test_without_anyone_else_the_conversations_wait_in_the_queue(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    console.agents.set_online(ana.id, False, NOW)
    assert redistribute(ana.id, **console.deps()) == [conversation.id]

    saved = console.get(conversation.id)
    assert saved.status is ConversationStatus.QUEUED and saved.assignee is None
    assert saved.last_agent == ana.id  # when she is back she is preferred for it
    console.agent("Bruno", "front_desk", open_count=0)
    set_presence(ana, True, **console.deps())
    assert console.get(conversation.id).assignee == ana.id


def test_agents_who_stopped_polling_are_released(console: Console) -> None:
    # The console sends a heartbeat every minute, even hidden: 10 minutes of silence is a
    # closed console, 9 minutes may be a slow network.
    ana = console.agent("Ana", "front_desk", seen=NOW - timedelta(minutes=10))
    conversation = console.held_by(ana)
    bruno = console.agent("Bruno", "front_desk", seen=NOW - timedelta(minutes=9, seconds=59))

    assert release_stale_agents(**console.deps()) == [ana.id]

    assert not console.fresh_agent(ana.id).online and console.fresh_agent(bruno.id).online
    assert console.fresh_agent(ana.id).last_seen_at == NOW - timedelta(minutes=10)
    assert console.get(conversation.id).assignee == bruno.id
    assert release_stale_agents(**console.deps()) == []


class _PolledMeanwhile(InMemoryAgentStore):
    """The agents' table while a console's heartbeat lands between the job's reading of the
    agents and its writing: whoever is listed is seen again right after."""

    def __init__(self, database, at: datetime) -> None:
        super().__init__(database)
        self.at = at

    def list_all(self):
        listed = super().list_all()
        for agent in listed:
            self.touch(agent.id, self.at)
        return listed


def test_an_agent_seen_while_being_released_keeps_working(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", seen=NOW - timedelta(minutes=15))
    conversation = console.held_by(ana)
    console.agent("Bruno", "front_desk")
    console.agents = _PolledMeanwhile(console.world.database, NOW)

    assert release_stale_agents(**console.deps()) == []

    assert console.fresh_agent(ana.id).online
    assert console.get(conversation.id).assignee == ana.id
    assert console.events(conversation.id) == ["assigned"]


def test_a_disabled_agent_loses_even_snoozed_conversations(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    resting = console.held_by(ana)
    snooze(ana, resting.id, NOW + timedelta(days=2), **console.deps())
    console.agents.save_profile(dataclasses.replace(ana, disabled=True))
    bruno = console.agent("Bruno", "front_desk")

    release_stale_agents(**console.deps())

    assert console.get(resting.id).assignee == bruno.id
    assert console.get(resting.id).status is ConversationStatus.ASSIGNED
    assert console.fresh_agent(ana.id).open_count == 0


# --- the SLA job ------------------------------------------------------------------------------

FRIDAY_EVENING = datetime(2026, 11, 27, 17, 25, tzinfo=UTC)  # Lisbon is on UTC in November


def test_sla_warning_breach_and_escalation_count_business_hours(console: Console) -> None:
    paulo = console.agent("Paulo", "public_works", seen=FRIDAY_EVENING)
    conversation = console.held_by(paulo, "public_works", at=FRIDAY_EVENING)
    # 15 minutes of business time: 5 on Friday (closes 17:30), 10 on Saturday (opens 09:00)
    saturday = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert conversation.first_response_due == saturday + timedelta(minutes=10)

    def run(at: datetime) -> SlaRun:
        console.agents.touch(paulo.id, at)  # his console keeps polling
        return check_slas(**console.deps(now=at))

    assert run(FRIDAY_EVENING + timedelta(minutes=4)) == SlaRun()
    assert run(saturday - timedelta(seconds=1)).warned == 0  # nobody works at night

    warned = run(saturday + timedelta(minutes=7))  # 80 %: 12 minutes of business time
    assert warned == SlaRun(warned=1)
    saved = console.get(conversation.id)
    assert saved.sla_warned == {SlaTarget.FIRST_RESPONSE}
    assert saved.sla_next_check == saturday + timedelta(minutes=10)
    assert run(saturday + timedelta(minutes=8)) == SlaRun()  # warned once

    ana = console.agent("Ana", "front_desk", seen=saturday + timedelta(minutes=10))
    breached = run(saturday + timedelta(minutes=10))

    assert breached == SlaRun(breached=1, escalated=1)
    saved = console.get(conversation.id)
    assert saved.team == "front_desk" and saved.assignee == ana.id  # escalated, then assigned
    assert saved.sla_breached == {SlaTarget.FIRST_RESPONSE}
    assert saved.sla_next_check is not None and saved.sla_next_check > saturday
    assert console.fresh_agent(paulo.id).open_count == 0
    assert console.fresh_agent(ana.id).open_count == 1
    assert console.events(conversation.id) == [
        "assigned",
        "sla_warning",
        "sla_breach",
        "escalated",
        "assigned",
    ]
    escalated = [m.payload for m in console.timeline(conversation.id)][3]
    assert escalated == {
        "event": "escalated",
        "from_team": "public_works",
        "to_team": "front_desk",
        "previous": paulo.id,
    }


def test_an_answered_conversation_is_only_watched_for_its_resolution(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    send_agent_reply(ana, conversation.id, text="Olá", **console.deps())
    saved = console.get(conversation.id)
    assert saved.sla_next_check > NOW + timedelta(days=2)

    assert check_slas(**console.deps(now=NOW + timedelta(hours=1))) == SlaRun()
    assert console.get(conversation.id).sla_warned == frozenset()


def test_a_snooze_ends_back_with_its_agent(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    send_agent_reply(ana, conversation.id, text="Volto a falar consigo", **console.deps())
    until = NOW + timedelta(hours=1)
    snooze(ana, conversation.id, until, **console.deps())

    console.agents.touch(ana.id, until - timedelta(seconds=1))  # her console polls
    assert check_slas(**console.deps(now=until - timedelta(seconds=1))).woken == 0
    console.agents.touch(ana.id, until)
    run = check_slas(**console.deps(now=until))

    assert run == SlaRun(woken=1)
    saved = console.get(conversation.id)
    assert saved.status is ConversationStatus.ASSIGNED and saved.assignee == ana.id
    assert saved.snoozed_until is None
    assert console.events(conversation.id)[-1] == "woke"
    assert console.fresh_agent(ana.id).open_count == 1


def test_a_snooze_that_ends_while_its_agent_is_away_goes_to_the_team(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    send_agent_reply(ana, conversation.id, text="Volto a falar consigo", **console.deps())
    until = NOW + timedelta(hours=1)
    snooze(ana, conversation.id, until, **console.deps())
    set_presence(ana, False, **console.deps())
    bruno = console.agent("Bruno", "front_desk", seen=until)

    assert check_slas(**console.deps(now=until)).woken == 1

    saved = console.get(conversation.id)
    assert saved.assignee == bruno.id
    assert console.fresh_agent(ana.id).open_count == 0
    assert console.events(conversation.id)[-2:] == ["woke", "assigned"]


def test_the_job_sweeps_every_queue_and_releases_absent_agents(console: Console) -> None:
    later = NOW + timedelta(minutes=10)
    ana = console.agent("Ana", "front_desk", seen=NOW)  # stopped polling 10 minutes ago
    conversation = console.held_by(ana)
    send_agent_reply(ana, conversation.id, text="Olá", **console.deps())
    fabio = console.agent("Fabio", "finance", seen=later)
    waiting = console.waiting("finance")  # its hand-off's assignment failed
    bruno = console.agent("Bruno", "front_desk", seen=later)

    check_slas(**console.deps(now=later))

    assert console.get(waiting.id).assignee == fabio.id
    assert console.get(conversation.id).assignee == bruno.id
    assert not console.fresh_agent(ana.id).online


def test_a_resolution_missed_while_snoozed_is_recorded_not_escalated(console: Console) -> None:
    ana = console.agent("Ana", "public_works")
    conversation = console.held_by(ana, "public_works")
    send_agent_reply(ana, conversation.id, text="Aguardo o documento", **console.deps())
    due = console.get(conversation.id).resolution_due
    until = due + timedelta(days=2)  # she waits for the resident's document, on purpose
    snooze(ana, conversation.id, until, **console.deps())

    console.agents.touch(ana.id, due)
    run = check_slas(**console.deps(now=due))

    assert run == SlaRun(breached=1)
    saved = console.get(conversation.id)
    assert saved.status is ConversationStatus.SNOOZED
    assert (saved.team, saved.assignee) == ("public_works", ana.id)
    assert saved.sla_breached == {SlaTarget.RESOLUTION}
    assert saved.sla_next_check == until  # only the snooze's end is left to watch
    assert console.events(conversation.id)[-1] == "sla_breach"
    assert console.fresh_agent(ana.id).open_count == 1


def test_one_broken_conversation_does_not_stop_the_job(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    bruno = console.agent("Bruno", "front_desk")
    # Snoozed by an agent since deleted from the agents' table: waking it cannot move a load.
    ghost = console.waiting("front_desk")
    broken = console.store(
        dataclasses.replace(
            ghost,
            status=ConversationStatus.SNOOZED,
            assignee="ghost@town.example",
            snoozed_until=NOW - timedelta(minutes=5),
            sla_next_check=NOW - timedelta(minutes=5),
        )
    )
    late = console.waiting("front_desk", at=NOW - timedelta(minutes=13))  # 80 %: 12 minutes

    run = check_slas(**console.deps())

    assert run == SlaRun(warned=1)
    assert console.get(late.id).sla_warned == {SlaTarget.FIRST_RESPONSE}
    assert console.get(late.id).assignee == bruno.id  # the queues were still swept
    assert console.get(broken.id) == broken
    failures = [r for r in caplog.records if r.getMessage() == "SLA check failed"]
    assert [getattr(r, "conversation", None) for r in failures] == [broken.id]


class _AgentsTableDown(InMemoryAgentStore):
    def list_all(self):
        raise RuntimeError("the agents table is throttled")


class _FrontDeskQueueDown(InMemoryConsoleConversationStore):
    def inbox(self, view, key, *, limit=50, cursor=None):
        if view is InboxView.UNASSIGNED and key == "front_desk":
            raise RuntimeError("the front desk's queue could not be read")
        return super().inbox(view, key, limit=limit, cursor=cursor)


def test_releasing_agents_and_each_queue_fail_alone(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    fabio = console.agent("Fabio", "finance")
    waiting = console.waiting("finance")
    console.agents = _AgentsTableDown(console.world.database)
    console.conversations = _FrontDeskQueueDown(console.world.database)

    check_slas(**console.deps())

    assert console.get(waiting.id).assignee == fabio.id  # after front_desk, which failed
    messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert messages == ["releasing stale agents failed", "assigning a queue failed"]
