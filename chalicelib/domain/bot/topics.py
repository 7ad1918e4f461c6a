"""The built-in `choose_topics` flow: the list of broadcast topics, the subscribed ones marked,
where a tap subscribes or unsubscribes.

Each row says what a tap on it does (`subscribe:<topic>` on an unmarked row, `unsubscribe:<topic>`
on a marked one), so a double tap or a tap on an older list does what the resident saw rather
than flipping the topic back. After the list, a topic's label typed in any language toggles it.
Every change is a `SubscriptionChanged` event with the config's `topics_version`; the caller
records it (see domain/consent_history.py).

STOP stops everything, topics included: subscribing while opted out is recorded but the
resident is told that nothing will come until they send an opt-in keyword. An opt-in keyword
does not touch the topics: the ones chosen before come back as they were.
"""

from __future__ import annotations

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.definition import MunicipalityDefinition, Topic
from chalicelib.domain.bot.events import SubscriptionChanged
from chalicelib.domain.bot.matching import same_words
from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.bot.state import BotState, Mode, Outcome
from chalicelib.domain.bot.turns import BotInput
from chalicelib.domain.bot.understanding import labelled, typed
from chalicelib.domain.replies import MenuReply, MenuRow

SUBSCRIBE_ROW = "subscribe:"  # + topic id: the row of a topic the resident does not get
UNSUBSCRIBE_ROW = "unsubscribe:"  # + topic id: the row of a subscribed topic
SUBSCRIBED_MARK = "✓ "  # before a subscribed topic's title
LABEL_LIMIT = limits.ROW_TITLE - len(SUBSCRIBED_MARK)  # a topic's label, with room for the mark
TOPIC_ID_LIMIT = limits.ROW_ID - len(UNSUBSCRIBE_ROW)


def is_topic_row(reply_id: str | None) -> bool:
    return reply_id is not None and reply_id.startswith((SUBSCRIBE_ROW, UNSUBSCRIBE_ROW))


def offers_topics(definition: MunicipalityDefinition) -> bool:
    return bool(definition.topics)


def is_topics_keyword(definition: MunicipalityDefinition, text: str | None) -> bool:
    """The whole text is one of `topics_keywords` ("avisos", "alerts", …)."""
    return text is not None and any(same_words(text, k) for k in definition.topics_keywords)


def topics_list(book: Phrasebook, subscribed: frozenset[str], body: str | None = None) -> MenuReply:
    """Every topic, the subscribed ones marked, above `body` (texts.topics_prompt when None)."""
    rows = tuple(
        _row(book, topic, topic.id in subscribed) for topic in book.definition.topics.values()
    )
    return MenuReply(
        body=body if body is not None else book.text("topics_prompt"),
        button=book.text("choose_button"),
        rows=rows,
    )


def _row(book: Phrasebook, topic: Topic, subscribed: bool) -> MenuRow:
    label = book.local(topic.label)
    return MenuRow(
        id=f"{UNSUBSCRIBE_ROW if subscribed else SUBSCRIBE_ROW}{topic.id}",
        title=f"{SUBSCRIBED_MARK}{label}" if subscribed else label,
        description=book.local(topic.description) if topic.description else None,
    )


def show_topics(book: Phrasebook, state: BotState, event: BotInput) -> Outcome:
    return Outcome(
        state=state.menu(mode=Mode.CHOOSING_TOPICS),
        replies=(topics_list(book, event.subscriptions),),
    )


def picked_topic(
    definition: MunicipalityDefinition, event: BotInput, *, list_shown: bool
) -> tuple[str, bool | None] | None:
    """(topic id, True to subscribe / False to unsubscribe / None to toggle): a topic row
    tapped; or, right after the list, a topic's label typed (with or without the mark). A tap on
    anything else is not a topic, even when its title is a topic's label."""
    reply_id = event.reply_id
    if reply_id and reply_id.startswith(SUBSCRIBE_ROW):
        return reply_id.removeprefix(SUBSCRIBE_ROW), True
    if reply_id and reply_id.startswith(UNSUBSCRIBE_ROW):
        return reply_id.removeprefix(UNSUBSCRIBE_ROW), False
    if not list_shown or reply_id:  # another row or button tapped, whatever its title says
        return None
    labels = [
        (topic.id, label) for topic in definition.topics.values() for label in topic.label.values()
    ]
    topic_id = labelled(labels, typed(event))  # the mark is no word: "✓ Culture" reads "Culture"
    return (topic_id, None) if topic_id is not None else None


def choose_topic(
    book: Phrasebook, state: BotState, event: BotInput, topic_id: str, subscribe: bool | None
) -> Outcome:
    """Subscribe or unsubscribe, then the list again, above what changed. Choosing what is
    already so changes nothing and is only confirmed."""
    definition = book.definition
    topic = definition.topics.get(topic_id)
    if topic is None:  # a row of an older list, for a topic the configuration no longer has
        if not offers_topics(definition):
            return Outcome(
                state=state.menu(), replies=(book.main_menu(book.text("not_understood")),)
            )
        return show_topics(book, state, event)
    was_subscribed = topic_id in event.subscriptions
    wanted = not was_subscribed if subscribe is None else subscribe
    subscribed = event.subscriptions | {topic_id} if wanted else event.subscriptions - {topic_id}
    if not wanted:
        key = "unsubscribed"
    else:
        key = "subscribed_opted_out" if event.opted_out else "subscribed"
    changes: tuple[SubscriptionChanged, ...] = ()
    if wanted != was_subscribed:
        changes = (
            SubscriptionChanged(
                topic=topic_id, subscribed=wanted, version=definition.topics_version
            ),
        )
    body = book.text(key, topic=book.local(topic.label))
    return Outcome(
        state=state.menu(mode=Mode.CHOOSING_TOPICS),
        replies=(topics_list(book, subscribed, body),),
        events=changes,
    )
