"""The built-in `choose_topics` flow: the topics list, a tap that (un)subscribes, STOP and START
around it. On the small town built in code (tests/unit/bot_definitions.py) with four topics;
the bundled town's topics run in the golden transcripts (test_bot_transcripts.py)."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.definition import MainMenu, MenuItem, StartFlow, Topic
from chalicelib.domain.bot.events import OptedIn, OptedOut, SubscriptionChanged
from chalicelib.domain.bot.topics import LABEL_LIMIT, SUBSCRIBED_MARK
from chalicelib.domain.replies import MenuReply, Reply, TextReply
from tests.unit.bot_definitions import (
    MENU,
    MENU_STATE,
    TEXTS,
    both,
    message,
    newcomer,
    send,
    town,
)

TOPIC_TEXTS = {
    "topics_prompt": both("Pick your alerts (✓ = on).", "Escolha os avisos (✓ = ativo)."),
    "subscribed": both("On: {topic}.", "Ativo: {topic}."),
    "subscribed_opted_out": both("Saved {topic}, but you sent STOP: send START.",
                                 "Guardado {topic}, mas enviou PARAR: envie INICIAR."),
    "unsubscribed": both("Off: {topic}.", "Desativado: {topic}."),
}  # fmt: skip
TOPICS = {
    "waste": Topic(
        id="waste", label=both("Waste", "Lixo"), description=both("Bins", "Contentores")
    ),
    "roadworks": Topic(id="roadworks", label=both("Roadworks", "Obras")),
    "culture": Topic(id="culture", label=both("Culture and events", "Cultura e eventos")),
    "emergencies": Topic(id="emergencies", label=both("Emergencies", "Emergências")),
}
ALERTS = MenuItem(id="alerts", label=both("Alerts", "Avisos"), action=StartFlow("choose_topics"))
TOWN = town(
    texts=MappingProxyType({**TEXTS, **TOPIC_TEXTS}),
    main_menu=MainMenu(title=MENU.title, items=(*MENU.items, ALERTS)),
    topics=MappingProxyType(TOPICS),
    topics_version="topics-2026-11",
    topics_keywords=("alerts", "avisos"),
)
TOPICS_STATE = {**MENU_STATE, "mode": "choosing_topics"}


def rows(reply: Reply) -> list[tuple[str, str]]:
    assert isinstance(reply, MenuReply), reply
    return [(row.id, row.title) for row in reply.rows]


def body(reply: Reply) -> str:
    assert isinstance(reply, MenuReply), reply
    return reply.body


def changed(topic: str, subscribed: bool) -> SubscriptionChanged:
    return SubscriptionChanged(topic=topic, subscribed=subscribed, version="topics-2026-11")


def test_the_menu_item_lists_the_topics_marking_the_subscribed_ones() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="alerts", subscriptions=frozenset({"culture"})))

    [topics] = turn.replies
    assert body(topics) == "Pick your alerts (✓ = on)."
    assert rows(topics) == [
        ("subscribe:waste", "Waste"),
        ("subscribe:roadworks", "Roadworks"),
        ("unsubscribe:culture", "✓ Culture and events"),
        ("subscribe:emergencies", "Emergencies"),
    ]
    assert isinstance(topics, MenuReply) and topics.rows[0].description == "Bins"
    assert turn.state["mode"] == "choosing_topics"
    assert turn.events == ()


def test_a_topics_keyword_opens_the_list_too() -> None:
    turn = send(TOWN, {**MENU_STATE, "language": "pt"}, message(text="Avisos"))

    assert body(turn.replies[0]) == "Escolha os avisos (✓ = ativo)."
    assert rows(turn.replies[0])[0] == ("subscribe:waste", "Lixo")


def test_a_tap_subscribes_with_the_topics_version_and_the_list_comes_back_marked() -> None:
    turn = send(TOWN, TOPICS_STATE, message(reply_id="subscribe:roadworks", text="Roadworks"))

    assert turn.events == (changed("roadworks", True),)
    [topics] = turn.replies
    assert body(topics) == "On: Roadworks."
    assert ("unsubscribe:roadworks", "✓ Roadworks") in rows(topics)
    assert turn.state["mode"] == "choosing_topics"


def test_a_tap_on_a_marked_topic_unsubscribes() -> None:
    subscribed = frozenset({"roadworks", "waste"})
    event = message(reply_id="unsubscribe:roadworks", subscriptions=subscribed)

    turn = send(TOWN, TOPICS_STATE, event)

    assert turn.events == (changed("roadworks", False),)
    assert body(turn.replies[0]) == "Off: Roadworks."
    assert rows(turn.replies[0])[:2] == [
        ("unsubscribe:waste", "✓ Waste"),
        ("subscribe:roadworks", "Roadworks"),
    ]


def test_a_double_tap_does_what_the_row_said_once() -> None:
    """The second tap comes from the same (older) list: it must not flip the topic back."""
    event = message(reply_id="subscribe:waste", subscriptions=frozenset({"waste"}))

    turn = send(TOWN, TOPICS_STATE, event)

    assert turn.events == ()
    assert body(turn.replies[0]) == "On: Waste."


def test_a_tap_on_an_older_topics_list_works_from_anywhere_in_the_menu() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="subscribe:emergencies"))
    assert turn.events == (changed("emergencies", True),)


def test_a_tap_on_a_topics_list_leaves_a_flow() -> None:
    in_flow = {**MENU_STATE, "mode": "flow", "flow": "report_problem", "step": 1, "answers": {}}

    turn = send(TOWN, in_flow, message(reply_id="subscribe:culture"))

    assert turn.events == (changed("culture", True),)
    assert turn.state["mode"] == "choosing_topics"


def test_after_the_list_a_typed_label_toggles_in_any_language() -> None:
    on = send(TOWN, TOPICS_STATE, message(text="cultura e eventos"))
    off = send(TOWN, TOPICS_STATE, message(text="✓ Culture and events",
                                           subscriptions=frozenset({"culture"})))  # fmt: skip

    assert on.events == (changed("culture", True),)
    assert off.events == (changed("culture", False),)


def test_after_the_list_a_tapped_row_titled_like_a_topic_is_not_a_topic() -> None:
    """A row of an older list (a flow's option, say) whose title is a topic's label: the tap is
    that row, not the topic."""
    for event in (
        message(reply_id="problem_type:roadworks", text="Roadworks"),
        message(reply_id="problem_type:culture", text="Culture and events",
                subscriptions=frozenset({"culture"})),
        message(message_type="button", reply_id="old-button", text="Waste"),
    ):  # fmt: skip
        turn = send(TOWN, TOPICS_STATE, event)
        assert not any(isinstance(e, SubscriptionChanged) for e in turn.events), event


def test_without_the_list_a_typed_label_is_not_a_topic() -> None:
    turn = send(TOWN, MENU_STATE, message(text="Roadworks"))
    assert not any(isinstance(e, SubscriptionChanged) for e in turn.events)


def test_anything_else_after_the_list_is_the_menu_as_usual() -> None:
    turn = send(TOWN, TOPICS_STATE, message(text="menu"))

    assert turn.state["mode"] == "menu"
    assert [row.id for row in turn.replies[0].rows] == [i.id for i in TOWN.main_menu.items]  # type: ignore[union-attr]


def test_subscribing_while_opted_out_is_recorded_but_says_how_to_resume() -> None:
    event = message(reply_id="subscribe:waste", opted_out=True)

    turn = send(TOWN, TOPICS_STATE, event)

    assert turn.events == (changed("waste", True),)
    assert body(turn.replies[0]) == "Saved Waste, but you sent STOP: send START."


def test_unsubscribing_while_opted_out_needs_no_warning() -> None:
    event = message(
        reply_id="unsubscribe:waste", opted_out=True, subscriptions=frozenset({"waste"})
    )
    assert body(send(TOWN, TOPICS_STATE, event).replies[0]) == "Off: Waste."


def test_stop_and_start_leave_the_topics_alone() -> None:
    subscribed = frozenset({"waste"})
    stop = send(TOWN, TOPICS_STATE, message(text="STOP", subscriptions=subscribed))
    start = send(TOWN, stop.state, message(text="START", opted_out=True, subscriptions=subscribed))

    assert stop.events == (OptedOut(keyword="STOP"),)
    assert start.events == (OptedIn(keyword="START"),)
    assert stop.state == TOPICS_STATE and start.state == TOPICS_STATE
    assert isinstance(start.replies[0], TextReply)


def test_no_topics_before_consent() -> None:
    turn = send(TOWN, {}, newcomer(reply_id="subscribe:waste"))

    assert not any(isinstance(e, SubscriptionChanged) for e in turn.events)
    assert turn.state["mode"] == "consent"


def test_a_topic_the_configuration_no_longer_has_shows_the_list_again() -> None:
    turn = send(TOWN, TOPICS_STATE, message(reply_id="subscribe:fireworks"))

    assert turn.events == ()
    assert body(turn.replies[0]) == "Pick your alerts (✓ = on)."


def test_a_town_without_topics_ignores_topic_rows_and_keywords() -> None:
    # Keywords without topics (the loader refuses them) open nothing either.
    plain = town(topics_keywords=("alerts",))
    tapped = send(plain, MENU_STATE, message(reply_id="subscribe:waste"))
    typed = send(plain, MENU_STATE, message(text="alerts"))

    assert tapped.events == () and typed.events == ()
    assert body(tapped.replies[0]) == "Sorry, I didn't get that."
    assert body(typed.replies[0]) == "Sorry, I didn't get that."
    assert all(not row.id.startswith("subscribe:") for row in tapped.replies[0].rows)  # type: ignore[union-attr]


def test_every_topics_list_fits_whatsapp() -> None:
    long_label = "x" * LABEL_LIMIT
    topics = {f"t{n}": Topic(id=f"t{n}", label=both(long_label, long_label)) for n in range(10)}
    crowded = town(texts=TOWN.texts, topics=MappingProxyType(topics), topics_version="v")
    everything = frozenset(topics)

    turn = send(crowded, MENU_STATE, message(text="?", reply_id="subscribe:t0",
                                             subscriptions=everything - {"t0"}))  # fmt: skip

    [topics_reply] = turn.replies
    assert isinstance(topics_reply, MenuReply)
    assert len(topics_reply.rows) == limits.LIST_ROWS
    assert all(len(row.title) == limits.ROW_TITLE for row in topics_reply.rows)
    assert all(row.title.startswith(SUBSCRIBED_MARK) for row in topics_reply.rows)


def test_the_state_stays_json() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="alerts"))
    state: Any = json.loads(json.dumps(turn.state))
    again = send(TOWN, state, message(text="roadworks"))
    assert again.events == (changed("roadworks", True),)
