"""Which team takes a hand-off, and which of its agents gets it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.bot.definition import RoutingRule
from chalicelib.domain.routing import choose_agent, route_team
from tests.unit.bot_definitions import town

RULES = (
    RoutingRule(team="public_works", text_contains=("pagamento", "bulky items", "دفع", "إيجار")),
    RoutingRule(team="roads", contact_tag="VIP"),
    RoutingRule(team="roads", language="pt"),
)
TOWN = town(routing=RULES)


def route(
    *texts: str,
    reason: str = "menu",
    proposed: str = "front_desk",
    tags: Sequence[str] = (),
    language: str | None = "en",
    definition: Any = TOWN,
) -> str:
    return route_team(
        definition,
        proposed_team=proposed,
        reason=reason,
        texts=texts,
        tags=tags,
        language=language,
    )


@pytest.mark.parametrize(
    "text",
    [
        "PAGAMENTO da água",
        "o pagaménto falhou",  # accents set aside
        "Pagamento!",
        "I have some Bulky  Items to throw away",  # a phrase, whatever the spacing and case
        "أريد دفع الفاتورة",  # Arabic, a word on its own
    ],
)
def test_text_rules_match_words_ignoring_case_and_accents(text: str) -> None:
    assert route(text) == "public_works"


def test_arabic_hamza_forms_fold() -> None:
    assert route("ايجار المحل") == "public_works"  # typed without the hamza


@pytest.mark.parametrize(
    "text",
    [
        "pagamentos",  # a different word
        "bulky old items",  # the phrase broken up
        "items bulky",  # the phrase out of order
        "الدفع",  # Arabic with the article is another word
        "",
    ],
)
def test_text_rules_need_whole_words_or_phrases(text: str) -> None:
    assert route(text) == "front_desk"


def test_a_phrase_does_not_span_two_messages() -> None:
    assert route("I have bulky", "items") == "front_desk"
    assert route("hello", "bulky items please") == "public_works"  # any one message


def test_first_matching_rule_wins() -> None:
    assert route("pagamento", tags=("vip",), language="pt") == "public_works"
    assert route("hello", tags=("vip",), language="pt") == "roads"


def test_contact_tag_ignores_case() -> None:
    assert route("hello", tags=("Vip",)) == "roads"
    assert route("hello", tags=("vipp", "other")) == "front_desk"


@pytest.mark.parametrize(
    ("language", "team"),
    [
        ("pt", "roads"),
        ("pt-BR", "roads"),
        ("pt_PT", "roads"),
        ("en", "front_desk"),
        (None, "front_desk"),
    ],
)
def test_language_rule(language: str | None, team: str) -> None:
    assert route("hello", language=language) == team


def test_rules_apply_when_the_bot_did_not_understand() -> None:
    assert route("o pagamento", reason="not_understood") == "public_works"


@pytest.mark.parametrize("reason", ["reminder", "ticket", "flow", "csat", ""])
def test_other_hand_offs_keep_the_proposed_team(reason: str) -> None:
    assert route("pagamento", reason=reason, proposed="roads", tags=("vip",)) == "roads"


def test_no_match_keeps_the_proposed_team() -> None:
    assert route("hello", proposed="public_works") == "public_works"


def test_unknown_teams_fall_back_to_the_first_team() -> None:
    assert route("hello", proposed="nowhere") == "front_desk"
    assert route("hello", reason="reminder", proposed="nowhere") == "front_desk"
    stale = town(routing=(RoutingRule(team="closed_office", text_contains=("lixo",)),))
    assert route("o lixo", proposed="roads", definition=stale) == "front_desk"


def test_no_rules_configured() -> None:
    assert route("pagamento", definition=town(), proposed="roads") == "roads"


# --- choosing the agent ---------------------------------------------------------------------

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def agent(agent_id: str, **fields: Any) -> Agent:
    defaults: dict[str, Any] = {
        "name": agent_id.split("@")[0].title(),
        "role": Role.AGENT,
        "teams": ("front_desk",),
        "online": True,
        "created_at": T0 - timedelta(days=30),
    }
    return Agent(id=agent_id, **(defaults | fields))


def ids(*agents: Agent | None) -> list[str | None]:
    return [a.id if a else None for a in agents]


def test_only_team_members_with_room_are_chosen() -> None:
    members = [
        agent("a@x", online=False),
        agent("b@x", disabled=True),
        agent("c@x", open_count=5, capacity=5),
        agent("d@x", teams=("roads",)),
        agent("e@x", open_count=4, capacity=5),
    ]
    for strategy in ("least_busy", "round_robin"):
        assert ids(choose_agent(members, strategy, team="front_desk")) == ["e@x"]
    assert choose_agent(members[:4], "least_busy", team="front_desk") is None
    assert choose_agent([], "least_busy", team="front_desk") is None


def test_least_busy_prefers_the_fewest_open_conversations() -> None:
    members = [
        agent("a@x", open_count=3, last_assigned_at=T0 - timedelta(hours=5)),
        agent("b@x", open_count=1, last_assigned_at=T0),
        agent("c@x", open_count=2),
    ]
    assert ids(choose_agent(members, "least_busy", team="front_desk")) == ["b@x"]


def test_least_busy_ties_go_to_the_longest_waiting_then_by_id() -> None:
    never = [agent("z@x", open_count=1), agent("m@x", open_count=1)]
    recent = agent("a@x", open_count=1, last_assigned_at=T0)
    earlier = agent("b@x", open_count=1, last_assigned_at=T0 - timedelta(minutes=1))
    assert ids(choose_agent([recent, earlier], "least_busy", team="front_desk")) == ["b@x"]
    assert ids(choose_agent([recent, *never], "least_busy", team="front_desk")) == ["m@x"]
    same = [agent("y@x", last_assigned_at=T0), agent("x@x", last_assigned_at=T0)]
    assert ids(choose_agent(same, "least_busy", team="front_desk")) == ["x@x"]


def test_round_robin_ignores_load_and_goes_by_last_assignment() -> None:
    members = [
        agent("a@x", open_count=0, last_assigned_at=T0),
        agent("b@x", open_count=4, last_assigned_at=T0 - timedelta(hours=1)),
        agent("c@x", open_count=2, last_assigned_at=T0 - timedelta(minutes=30)),
    ]
    assert ids(choose_agent(members, "round_robin", team="front_desk")) == ["b@x"]
    newcomer = agent("d@x", open_count=3)
    assert ids(choose_agent([*members, newcomer], "round_robin", team="front_desk")) == ["d@x"]
    tie = [agent("q@x", last_assigned_at=T0), agent("p@x", last_assigned_at=T0)]
    assert ids(choose_agent(tie, "round_robin", team="front_desk")) == ["p@x"]


def test_round_robin_rotates_as_assignments_are_recorded() -> None:
    members = {a.id: a for a in (agent("a@x"), agent("b@x"), agent("c@x"))}
    picked = []
    for minute in range(6):
        chosen = choose_agent(list(members.values()), "round_robin", team="front_desk")
        assert chosen is not None
        picked.append(chosen.id)
        members[chosen.id] = agent(chosen.id, last_assigned_at=T0 + timedelta(minutes=minute))
    assert picked == ["a@x", "b@x", "c@x", "a@x", "b@x", "c@x"]


@pytest.mark.parametrize("strategy", ["least_busy", "round_robin"])
def test_the_previous_agent_is_preferred_when_they_have_room(strategy: str) -> None:
    members = [
        agent("a@x", open_count=0),
        agent("b@x", open_count=4, last_assigned_at=T0),
    ]
    assert ids(choose_agent(members, strategy, team="front_desk", prefer="b@x")) == ["b@x"]


def test_an_unavailable_previous_agent_is_passed_over() -> None:
    members = [agent("a@x", open_count=1), agent("b@x", online=False)]
    assert ids(choose_agent(members, "least_busy", team="front_desk", prefer="b@x")) == ["a@x"]
    other_team = [agent("a@x", open_count=1), agent("b@x", teams=("roads",))]
    assert ids(choose_agent(other_team, "least_busy", team="front_desk", prefer="b@x")) == ["a@x"]
    assert ids(choose_agent(other_team, "least_busy", team="front_desk", prefer="zz@x")) == ["a@x"]


def test_an_unknown_strategy_counts_as_least_busy() -> None:
    members = [agent("a@x", open_count=2), agent("b@x", open_count=1, last_assigned_at=T0)]
    assert ids(choose_agent(members, "random", team="front_desk")) == ["b@x"]


def test_agents_in_several_teams() -> None:
    members = [agent("a@x", teams=("roads", "front_desk")), agent("b@x", teams=("roads",))]
    assert ids(choose_agent(members, "least_busy", team="front_desk")) == ["a@x"]
