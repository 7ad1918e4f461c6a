"""Contract tests for the stores and queues: the same test classes run against the in-memory
twins and against DynamoDB/SQS on the moto server (a fresh stage per module, provisioned through
moto's CloudFormation from the real template)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb_models import bind_tables, stage_tables
from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore, DynamoDBResidentStore
from chalicelib.adapters.dynamodb_ticket_store import DynamoDBTicketStore
from chalicelib.adapters.memory_stores import (
    InMemoryDatabase,
    InMemoryInboundQueue,
    InMemoryMessageStore,
    InMemoryOutboundQueue,
    InMemoryResidentStore,
    InMemoryTicketStore,
)
from chalicelib.adapters.sqs_queues import QueueSendError, SqsInboundQueue, SqsOutboundQueue
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.residents import (
    ConsentAction,
    ConsentEvent,
    ConsentState,
    Resident,
    TopicSubscription,
)
from chalicelib.domain.tickets import (
    Location,
    Ticket,
    TicketAttachment,
    TicketStatus,
    format_reference,
    media_object_key,
)
from chalicelib.resource_names import ResourceNames
from chalicelib.services.ports import (
    ConcurrentUpdateError,
    InboundQueue,
    InboundTurn,
    MessageStore,
    OutboundQueue,
    ResidentStore,
    TicketStore,
)
from infra.local_emulator import provision

REGION = "eu-west-1"
NOW = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)


# --- builders ---------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def a_resident(key: str, **changes: Any) -> Resident:
    resident = Resident(
        key=key,
        wa_id=key.removeprefix("wa:"),
        profile_name="Ana Pérez",
        language="es",
        consent=ConsentState.GIVEN,
        consent_version="2025-01",
        consent_at=NOW - timedelta(days=3),
        tags=("barrio-norte", "mayores"),
        custom_fields={"street": "Calle Mayor 3", "dni": ""},
        last_inbound_at=NOW,
        current_conversation_id=None,
        created_at=NOW - timedelta(days=3),
    )
    return replace(resident, **changes)


def a_conversation(resident_key: str, conversation_id: str, version: int = 0) -> Conversation:
    return Conversation(
        id=conversation_id,
        resident_key=resident_key,
        status=ConversationStatus.BOT,
        bot_state={"node": "menu", "answers": {"age": 71, "ratio": 0.5, "ok": True}, "path": []},
        opened_at=NOW,
        updated_at=NOW,
        last_inbound_at=NOW,
        version=version,
    )


def an_inbound(resident_key: str, conversation_id: str, at: datetime = NOW) -> StoredMessage:
    wamid = unique("wamid.IN")
    return StoredMessage(
        id=wamid,  # an inbound message is known by its wamid
        wamid=wamid,
        direction=Direction.INBOUND,
        resident_key=resident_key,
        conversation_id=conversation_id,
        message_type="text",
        body="hola",
        payload={"type": "text", "text": {"body": "hola"}},
        created_at=at,
        status=DeliveryStatus.RECEIVED,
        status_at=at,
    )


def a_reply(
    resident_key: str, conversation_id: str | None, at: datetime = NOW, **changes: Any
) -> StoredMessage:
    reply = StoredMessage(
        id=unique("out-"),
        direction=Direction.OUTBOUND,
        resident_key=resident_key,
        conversation_id=conversation_id,
        message_type="text",
        body="¿En qué puedo ayudarle?",
        payload={"kind": "text", "text": "¿En qué puedo ayudarle?", "buttons": [1, 2.5]},
        created_at=at,
        status=DeliveryStatus.QUEUED,
        status_at=at,
        recipient=resident_key.removeprefix("wa:"),
        sent_by="bot",
    )
    return replace(reply, **changes)


def first_turn(n_replies: int = 2, at: datetime = NOW) -> InboundTurn:
    key = unique("wa:34600")
    conversation_id = unique("conv-")
    inbound = an_inbound(key, conversation_id, at)
    replies = tuple(
        a_reply(key, conversation_id, at + timedelta(milliseconds=i)) for i in range(n_replies)
    )
    return InboundTurn(
        inbound=replace(inbound, reply_ids=tuple(r.id for r in replies)),
        resident=a_resident(key, current_conversation_id=conversation_id),
        resident_is_new=True,
        conversation=a_conversation(key, conversation_id),
        replies=replies,
    )


def next_turn(previous: InboundTurn, conversation: Conversation, **bot_state: Any) -> InboundTurn:
    """The following turn, read at `conversation.version`."""
    key = previous.resident.key
    inbound = an_inbound(key, conversation.id, NOW + timedelta(seconds=30))
    return InboundTurn(
        inbound=inbound,
        resident=replace(previous.resident, last_inbound_at=inbound.created_at),
        resident_is_new=False,
        conversation=replace(
            conversation, bot_state={**conversation.bot_state, **bot_state}, updated_at=NOW
        ),
        replies=(a_reply(key, conversation.id, inbound.created_at),),
    )


def a_prefix() -> str:
    """A reference prefix of its own, so counters in a shared table start from nothing."""
    return "".join(chr(ord("A") + int(digit, 16) % 26) for digit in uuid.uuid4().hex[:6])


def a_ticket(turn: InboundTurn, number: int = 1, at: datetime = NOW, **changes: Any) -> Ticket:
    """A ticket with every field set, made by `turn`."""
    key = turn.resident.key
    ticket = Ticket(
        reference=format_reference(a_prefix(), at.year, number),
        resident_key=key,
        conversation_id=turn.conversation.id,
        flow="report_problem",
        category="pothole",
        team="public_works",
        description="Buraco enorme à porta do nº 12 — cuidado!",
        location=Location(latitude=38.7223, longitude=-9.1393, name="Praça", address="Rua A, 1"),
        address=None,
        attachments=(
            TicketAttachment(
                message_id=turn.inbound.id,
                media_key=media_object_key(key, turn.inbound.id),
                mime_type="image/jpeg",
            ),
            TicketAttachment(message_id="wamid.other", media_key="residents/x/media/y"),
        ),
        status=TicketStatus.OPEN,
        language="pt",
        created_at=at,
        updated_at=at,
    )
    return replace(ticket, **changes)


# --- the store contract -----------------------------------------------------------------------


class StoreContract:
    """Subclasses provide `resident_store` and `message_store` sharing one database."""

    @pytest.fixture
    def stores(self) -> tuple[ResidentStore, MessageStore]:
        raise NotImplementedError

    @pytest.fixture
    def residents(self, stores: tuple[ResidentStore, MessageStore]) -> ResidentStore:
        return stores[0]

    @pytest.fixture
    def messages(self, stores: tuple[ResidentStore, MessageStore]) -> MessageStore:
        return stores[1]

    @pytest.fixture
    def tickets(self, stores: tuple[ResidentStore, MessageStore]) -> TicketStore:
        """A ticket store on the same database as `stores`."""
        raise NotImplementedError

    # load / save_turn

    def test_a_stranger_loads_as_nothing(self, residents: ResidentStore) -> None:
        assert residents.load(unique("wa:34")) == (None, None)

    def test_first_turn_of_a_new_resident_is_stored_whole(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        turn = first_turn()

        assert residents.save_turn(turn) is True

        resident, conversation = residents.load(turn.resident.key)
        assert resident == turn.resident
        assert conversation == replace(turn.conversation, version=1)
        assert messages.get(turn.inbound.id) == turn.inbound
        assert messages.get_many([r.id for r in turn.replies]) == list(turn.replies)

    def test_a_resident_without_a_conversation_loads_alone(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(
            replace(turn, resident=replace(turn.resident, current_conversation_id=None))
        )

        resident, conversation = residents.load(turn.resident.key)

        assert resident is not None and resident.current_conversation_id is None
        assert conversation is None

    def test_each_turn_moves_the_version_on(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        _, conversation = residents.load(turn.resident.key)
        assert conversation is not None

        second = next_turn(turn, conversation, node="address")
        assert residents.save_turn(second) is True

        resident, conversation = residents.load(turn.resident.key)
        assert conversation is not None
        assert conversation.version == 2
        assert conversation.bot_state["node"] == "address"
        assert resident == second.resident

    def test_a_duplicate_inbound_is_refused_and_changes_nothing(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        before = residents.load(turn.resident.key)
        _, conversation = before
        assert conversation is not None
        again = replace(next_turn(turn, conversation, node="elsewhere"), inbound=turn.inbound)

        assert residents.save_turn(again) is False

        assert residents.load(turn.resident.key) == before
        assert messages.get(again.replies[0].id) is None

    def test_a_duplicate_of_a_first_turn_is_refused(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(turn)

        # Redelivered before anything was read: same message, resident "new" again, version 0.
        assert residents.save_turn(turn) is False

    def test_a_version_clash_raises_and_writes_nothing(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        _, conversation = residents.load(turn.resident.key)
        assert conversation is not None
        winner = next_turn(turn, conversation, node="winner")
        loser = next_turn(turn, conversation, node="loser")
        residents.save_turn(winner)

        with pytest.raises(ConcurrentUpdateError):
            residents.save_turn(loser)

        resident, conversation = residents.load(turn.resident.key)
        assert conversation is not None
        assert (conversation.version, conversation.bot_state["node"]) == (2, "winner")
        assert resident == winner.resident
        assert messages.get(loser.inbound.id) is None
        assert messages.get(loser.replies[0].id) is None

    def test_two_first_turns_for_one_new_resident_clash(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        turn = first_turn()
        rival = replace(turn, inbound=an_inbound(turn.resident.key, turn.conversation.id))
        residents.save_turn(turn)

        with pytest.raises(ConcurrentUpdateError):
            residents.save_turn(rival)
        assert messages.get(rival.inbound.id) is None

    def test_a_new_conversation_that_exists_already_clashes(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        # The resident is known, but this copy of the conversation was never stored (version 0).
        rival = replace(
            turn,
            inbound=an_inbound(turn.resident.key, turn.conversation.id),
            resident_is_new=False,
        )

        with pytest.raises(ConcurrentUpdateError):
            residents.save_turn(rival)

    def test_replies_are_queued_and_listed_oldest_first(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        # Long ago, so nothing else in a shared table is older.
        long_ago = datetime(1999, 1, 1, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**6)
        turn = first_turn(n_replies=3, at=long_ago)
        residents.save_turn(turn)
        first, second, third = turn.replies

        listed = messages.list_queued_before(long_ago + timedelta(milliseconds=2), limit=10)
        assert [m.id for m in listed] == [first.id, second.id]
        assert all(m.status is DeliveryStatus.QUEUED for m in listed)
        assert listed[0] == first

        assert [m.id for m in messages.list_queued_before(long_ago + timedelta(1), limit=1)] == [
            first.id
        ]
        messages.claim_for_sending(first.id, NOW)
        listed = messages.list_queued_before(long_ago + timedelta(1), limit=10)
        assert [m.id for m in listed] == [second.id, third.id]

    # outbound messages

    def test_add_outbound_leaves_stored_ids_untouched(self, messages: MessageStore) -> None:
        key = unique("wa:34")
        original = a_reply(key, None, priority=Priority.BULK, sent_by="reminders")
        messages.add_outbound([original])
        messages.claim_for_sending(original.id, NOW)
        fresh = a_reply(key, None, priority=Priority.BULK)

        messages.add_outbound([replace(original, body="changed"), fresh])

        stored = messages.get(original.id)
        assert stored is not None
        assert (stored.body, stored.status) == (original.body, DeliveryStatus.SENDING)
        assert messages.get(fresh.id) == fresh

    def test_get_many_keeps_the_order_asked_and_skips_unknown_ids(
        self, messages: MessageStore
    ) -> None:
        key = unique("wa:34")
        one, two = a_reply(key, None), a_reply(key, None)
        messages.add_outbound([one, two])

        found = messages.get_many([two.id, "missing", one.id, two.id])

        assert found == [two, one]
        assert messages.get_many([]) == []
        assert messages.get("missing") is None

    def test_a_message_is_claimed_once(self, messages: MessageStore) -> None:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        later = NOW + timedelta(seconds=1)

        claimed = messages.claim_for_sending(reply.id, later)

        assert claimed == replace(reply, status=DeliveryStatus.SENDING, status_at=later)
        assert messages.claim_for_sending(reply.id, later) is None
        assert messages.claim_for_sending(unique("missing-"), later) is None

    def test_mark_sent_records_the_wamid(self, messages: MessageStore) -> None:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        messages.claim_for_sending(reply.id, NOW)
        wamid = unique("wamid.OUT")

        messages.mark_sent(reply.id, wamid, NOW + timedelta(seconds=1))

        assert messages.get(reply.id) == replace(
            reply, status=DeliveryStatus.SENT, wamid=wamid, status_at=NOW + timedelta(seconds=1)
        )

    def test_releasing_a_claim_counts_failed_attempts_only(self, messages: MessageStore) -> None:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        later = NOW + timedelta(seconds=1)

        messages.claim_for_sending(reply.id, NOW)
        assert messages.release_claim(reply.id, later) == 0  # deferred by pacing: no attempt
        messages.claim_for_sending(reply.id, NOW)
        attempts = messages.release_claim(
            reply.id, later, error_code=131000, error_title="Something went wrong"
        )

        assert attempts == 1
        stored = messages.get(reply.id)
        assert (stored.status, stored.attempts, stored.error_code) == (
            DeliveryStatus.QUEUED,
            1,
            131000,
        )
        assert messages.claim_for_sending(reply.id, later) is not None  # it may go again
        assert messages.release_claim(reply.id, later, error_code=2, error_title="x") == 2

    def test_releasing_an_unclaimed_message_changes_nothing(self, messages: MessageStore) -> None:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        assert messages.release_claim(reply.id, NOW, error_code=2, error_title="x") == 0
        assert messages.get(reply.id).status is DeliveryStatus.QUEUED

    def test_mark_sent_can_record_what_was_sent_instead(self, messages: MessageStore) -> None:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        messages.claim_for_sending(reply.id, NOW)
        template = {"kind": "template", "name": "reopen_conversation", "language": "pt"}

        messages.mark_sent(reply.id, unique("wamid."), NOW, note="re-opened", payload=template)

        stored = messages.get(reply.id)
        assert (stored.note, stored.payload) == ("re-opened", template)

    def test_requeue_resets_a_failed_outbound_message(self, messages: MessageStore) -> None:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        messages.claim_for_sending(reply.id, NOW)
        messages.release_claim(reply.id, NOW, error_code=2, error_title="x")
        messages.mark_failed(reply.id, error_code=2, error_title="gave up", now=NOW)

        requeued = messages.requeue(reply.id, NOW + timedelta(minutes=1))

        assert requeued is not None
        assert (requeued.status, requeued.attempts, requeued.error_code) == (
            DeliveryStatus.QUEUED,
            0,
            None,
        )
        assert messages.requeue(unique("missing-"), NOW) is None

    def test_mark_failed_records_the_error_and_unqueues(self, messages: MessageStore) -> None:
        long_ago = datetime(1998, 1, 1, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**6)
        reply = a_reply(unique("wa:34"), None, at=long_ago)
        messages.add_outbound([reply])

        messages.mark_failed(reply.id, error_code=131026, error_title="Undeliverable", now=NOW)

        stored = messages.get(reply.id)
        assert stored is not None
        assert (stored.status, stored.error_code, stored.error_title, stored.status_at) == (
            DeliveryStatus.FAILED,
            131026,
            "Undeliverable",
            NOW,
        )
        ids = [m.id for m in messages.list_queued_before(long_ago + timedelta(1), limit=1000)]
        assert reply.id not in ids

    def test_marking_an_unknown_message_raises(self, messages: MessageStore) -> None:
        with pytest.raises(KeyError):
            messages.mark_sent(unique("missing-"), "wamid.X", NOW)
        with pytest.raises(KeyError):
            messages.mark_failed(unique("missing-"), error_code=None, error_title="x", now=NOW)

    # delivery statuses

    def sent_message(self, messages: MessageStore) -> tuple[StoredMessage, str]:
        reply = a_reply(unique("wa:34"), None)
        messages.add_outbound([reply])
        messages.claim_for_sending(reply.id, NOW)
        wamid = unique("wamid.OUT")
        messages.mark_sent(reply.id, wamid, NOW)
        return reply, wamid

    def test_statuses_only_move_forward(self, messages: MessageStore) -> None:
        reply, wamid = self.sent_message(messages)
        t1, t2, t3 = (NOW + timedelta(seconds=s) for s in (1, 2, 3))

        assert messages.apply_status(wamid, DeliveryStatus.DELIVERED, t1) is True
        assert messages.apply_status(wamid, DeliveryStatus.READ, t2) is True
        assert messages.apply_status(wamid, DeliveryStatus.DELIVERED, t3) is False  # late
        assert messages.apply_status(wamid, DeliveryStatus.READ, t3) is False  # duplicate
        assert messages.apply_status(wamid, DeliveryStatus.FAILED, t3, error_code=1) is False

        stored = messages.get(reply.id)
        assert stored is not None
        assert (stored.status, stored.status_at, stored.error_code) == (
            DeliveryStatus.READ,
            t2,
            None,
        )

    def test_statuses_found_by_our_id_need_the_matching_wamid(self, messages: MessageStore) -> None:
        reply, wamid = self.sent_message(messages)
        t1, t2 = NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)

        assert (
            messages.apply_status("wamid.other", DeliveryStatus.READ, t1, message_id=reply.id)
            is False
        )
        assert messages.apply_status(wamid, DeliveryStatus.DELIVERED, t1, message_id=reply.id)
        assert messages.apply_status(wamid, DeliveryStatus.READ, t2, message_id=reply.id)
        assert (
            messages.apply_status(wamid, DeliveryStatus.DELIVERED, t2, message_id=reply.id) is False
        )
        assert messages.apply_status(wamid, DeliveryStatus.READ, t2, message_id="missing") is False
        assert messages.get(reply.id).status is DeliveryStatus.READ

    def test_a_read_may_skip_delivered(self, messages: MessageStore) -> None:
        _, wamid = self.sent_message(messages)

        assert messages.apply_status(wamid, DeliveryStatus.READ, NOW) is True
        assert messages.apply_status(wamid, DeliveryStatus.DELIVERED, NOW) is False

    def test_a_failure_after_sent_stores_the_error(self, messages: MessageStore) -> None:
        reply, wamid = self.sent_message(messages)

        applied = messages.apply_status(
            wamid, DeliveryStatus.FAILED, NOW, error_code=131047, error_title="Re-engagement"
        )

        assert applied is True
        stored = messages.get(reply.id)
        assert stored is not None
        assert (stored.status, stored.error_code, stored.error_title) == (
            DeliveryStatus.FAILED,
            131047,
            "Re-engagement",
        )
        assert messages.apply_status(wamid, DeliveryStatus.DELIVERED, NOW) is False

    def test_an_unknown_wamid_is_ignored(self, messages: MessageStore) -> None:
        assert messages.apply_status(unique("wamid.NONE"), DeliveryStatus.DELIVERED, NOW) is False

    def test_inbound_messages_take_no_delivery_status(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        turn = first_turn()
        residents.save_turn(turn)

        assert messages.apply_status(turn.inbound.id, DeliveryStatus.READ, NOW) is False
        assert messages.get(turn.inbound.id) == turn.inbound

    # residents: get, opt-out and opt-in, conversations saved outside a turn

    def test_get_reads_the_resident_alone(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(turn)

        assert residents.get(turn.resident.key) == turn.resident
        assert residents.get(unique("wa:34")) is None

    def test_opt_out_and_csat_fields_round_trip(self, residents: ResidentStore) -> None:
        turn = first_turn()
        resolved = NOW + timedelta(hours=1)
        turn = replace(
            turn,
            resident=replace(turn.resident, opted_out=True, opted_out_at=NOW),
            conversation=replace(
                turn.conversation,
                status=ConversationStatus.RESOLVED,
                resolved_at=resolved,
                csat_score=4,
                csat_at=resolved + timedelta(minutes=2),
            ),
        )
        residents.save_turn(turn)

        resident, conversation = residents.load(turn.resident.key)

        assert resident == turn.resident
        assert conversation == replace(turn.conversation, version=1)

    def test_an_opt_out_of_a_stranger_creates_a_minimal_resident(
        self, residents: ResidentStore
    ) -> None:
        key = unique("wa:34")

        assert residents.set_opted_out(key, True, NOW, wa_id=key.removeprefix("wa:")) is True

        assert residents.get(key) == Resident(
            key=key,
            wa_id=key.removeprefix("wa:"),
            opted_out=True,
            opted_out_at=NOW,
            consent_history=(ConsentEvent(action=ConsentAction.OPTED_OUT, at=NOW),),
            created_at=NOW,
        )
        assert residents.load(key) == (residents.get(key), None)

    def test_an_opt_out_changes_nothing_else(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        later = NOW + timedelta(minutes=5)

        assert residents.set_opted_out(turn.resident.key, True, later, wa_id="999") is True

        assert residents.get(turn.resident.key) == replace(
            turn.resident,
            opted_out=True,
            opted_out_at=later,
            consent_history=(ConsentEvent(action=ConsentAction.OPTED_OUT, at=later),),
        )

    def test_subscriptions_and_the_consent_history_round_trip(
        self, residents: ResidentStore
    ) -> None:
        turn = first_turn()
        later = NOW + timedelta(days=2)
        history = (
            ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=NOW, text_version="2025-01"),
            ConsentEvent(
                action=ConsentAction.SUBSCRIBED, at=NOW, text_version="t-1", topic="roadworks"
            ),
            ConsentEvent(
                action=ConsentAction.UNSUBSCRIBED, at=later, text_version="t-2", topic="waste"
            ),
        )
        subscriptions = (
            TopicSubscription(topic="roadworks", subscribed=True, at=NOW, text_version="t-1"),
            TopicSubscription(topic="waste", subscribed=False, at=later, text_version="t-2"),
        )
        resident = replace(turn.resident, subscriptions=subscriptions, consent_history=history)
        residents.save_turn(replace(turn, resident=resident))

        stored = residents.get(resident.key)

        assert stored == resident
        assert stored is not None and stored.subscribed_to("roadworks")
        assert not stored.subscribed_to("waste")

    def test_an_opt_out_appends_to_the_consent_history_and_keeps_the_topics(
        self, residents: ResidentStore
    ) -> None:
        turn = first_turn()
        given = ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=NOW, text_version="2025-01")
        subscribed = TopicSubscription(topic="culture", subscribed=True, at=NOW, text_version="t")
        resident = replace(turn.resident, subscriptions=(subscribed,), consent_history=(given,))
        residents.save_turn(replace(turn, resident=resident))
        stop, start = NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)

        assert residents.set_opted_out(resident.key, True, stop)
        assert residents.set_opted_out(resident.key, True, stop) is False  # redelivered
        assert residents.set_opted_out(resident.key, False, start)

        stored = residents.get(resident.key)
        assert stored is not None
        assert stored.consent_history == (
            given,
            ConsentEvent(action=ConsentAction.OPTED_OUT, at=stop),
            ConsentEvent(action=ConsentAction.OPTED_IN, at=start),
        )
        assert stored.subscriptions == (subscribed,) and stored.opted_out is False

    def test_older_news_never_overwrites_a_newer_choice(self, residents: ResidentStore) -> None:
        key = unique("bsuid:")
        t1, t2, t3 = (NOW + timedelta(seconds=s) for s in (1, 2, 3))

        assert residents.set_opted_out(key, True, t2, user_id=key.removeprefix("bsuid:"))
        assert residents.set_opted_out(key, False, t1) is False  # a late resume
        assert residents.set_opted_out(key, True, t2) is False  # the same news again
        assert residents.set_opted_out(key, False, t2) is False  # same instant: first one wins
        stopped = residents.get(key)
        assert stopped is not None
        assert (stopped.opted_out, stopped.opted_out_at, stopped.created_at) == (True, t2, t2)
        assert stopped.user_id == key.removeprefix("bsuid:")

        assert residents.set_opted_out(key, False, t3) is True
        resumed = residents.get(key)
        assert resumed is not None
        assert (resumed.opted_out, resumed.opted_out_at, resumed.created_at) == (False, t3, t2)

    def test_a_conversation_saved_alone_moves_the_version_on(
        self, residents: ResidentStore
    ) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        _, conversation = residents.load(turn.resident.key)
        assert conversation is not None
        resolved = replace(
            conversation,
            status=ConversationStatus.RESOLVED,
            resolved_at=NOW + timedelta(hours=2),
            assignee="agent-7",
        )

        residents.save_conversation(resolved)

        _, stored = residents.load(turn.resident.key)
        assert stored == replace(resolved, version=2)
        rated = replace(stored, csat_score=5, csat_at=NOW + timedelta(hours=3))
        residents.save_conversation(rated)
        assert residents.load(turn.resident.key)[1] == replace(rated, version=3)

    def test_a_conversation_saved_alone_checks_the_version(self, residents: ResidentStore) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        _, conversation = residents.load(turn.resident.key)
        assert conversation is not None
        residents.save_turn(next_turn(turn, conversation, node="winner"))

        with pytest.raises(ConcurrentUpdateError):
            residents.save_conversation(replace(conversation, status=ConversationStatus.RESOLVED))
        with pytest.raises(ConcurrentUpdateError):  # version 0: must not exist yet
            residents.save_conversation(replace(conversation, version=0))

        _, stored = residents.load(turn.resident.key)
        assert stored is not None
        assert (stored.version, stored.status, stored.bot_state["node"]) == (
            2,
            ConversationStatus.BOT,
            "winner",
        )
        fresh = a_conversation(turn.resident.key, unique("conv-"))
        residents.save_conversation(fresh)  # a new one, version 0, is created
        with pytest.raises(ConcurrentUpdateError):
            residents.save_conversation(fresh)

    # skipped and media

    def test_a_queued_or_claimed_message_can_be_skipped(self, messages: MessageStore) -> None:
        key = unique("wa:34")
        queued, claimed = a_reply(key, None, priority=Priority.BULK), a_reply(key, None)
        messages.add_outbound([queued, claimed])
        messages.claim_for_sending(claimed.id, NOW)
        later = NOW + timedelta(seconds=5)

        assert messages.mark_skipped(queued.id, "opted_out", later) is True
        assert messages.mark_skipped(claimed.id, "opted_out", later) is True

        for message in (queued, claimed):
            stored = messages.get(message.id)
            assert stored is not None
            assert (stored.status, stored.status_at, stored.note, stored.error_title) == (
                DeliveryStatus.SKIPPED,
                later,
                "opted_out",
                "opted_out",
            )
            assert stored.wamid is None
        assert messages.get(queued.id).priority is Priority.BULK  # round-trips with the rest
        assert messages.claim_for_sending(queued.id, later) is None  # never sent now
        assert messages.mark_skipped(queued.id, "again", later) is False

    def test_only_unsent_messages_can_be_skipped(self, messages: MessageStore) -> None:
        reply, _ = self.sent_message(messages)

        assert messages.mark_skipped(reply.id, "opted_out", NOW) is False
        assert messages.mark_skipped(unique("missing-"), "opted_out", NOW) is False
        assert messages.get(reply.id).status is DeliveryStatus.SENT

    def test_a_skipped_message_takes_no_status_and_leaves_the_sweep(
        self, messages: MessageStore
    ) -> None:
        long_ago = datetime(1997, 1, 1, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**6)
        reply = a_reply(unique("wa:34"), None, at=long_ago)
        messages.add_outbound([reply])

        messages.mark_skipped(reply.id, "opted_out", NOW)

        listed = messages.list_queued_before(long_ago + timedelta(1), limit=1000)
        assert reply.id not in [m.id for m in listed]
        assert messages.requeue(reply.id, NOW) is not None  # an operator may still replay it

    def test_kept_media_is_recorded_on_the_inbound_message(
        self, residents: ResidentStore, messages: MessageStore
    ) -> None:
        turn = first_turn()
        residents.save_turn(turn)
        key = media_object_key(turn.resident.key, turn.inbound.id)

        messages.record_media(turn.inbound.id, key, "image/jpeg", 48213)
        messages.record_media(turn.inbound.id, key, "image/jpeg", 48213)  # a job run twice

        assert messages.get(turn.inbound.id) == replace(turn.inbound, media_key=key)
        with pytest.raises(KeyError):
            messages.record_media(unique("wamid.NONE"), key, "image/jpeg", 1)

    # tickets

    def test_a_turns_tickets_are_saved_with_it(
        self, residents: ResidentStore, tickets: TicketStore
    ) -> None:
        turn = first_turn()
        ticket = a_ticket(turn)
        typed = a_ticket(
            turn,
            category=None,
            team=None,
            description=None,
            location=None,
            address="Rua das Flores 7, 2º esq.",
            attachments=(),
            language=None,
            status=TicketStatus.IN_PROGRESS,
            created_at=NOW + timedelta(seconds=1),
        )

        assert residents.save_turn(replace(turn, tickets=(ticket, typed))) is True

        assert tickets.get(ticket.reference) == ticket
        assert tickets.get(typed.reference) == typed
        assert tickets.get(format_reference(a_prefix(), 2026, 1)) is None

    def test_a_duplicate_inbound_writes_no_ticket(
        self, residents: ResidentStore, tickets: TicketStore
    ) -> None:
        turn = first_turn()
        residents.save_turn(turn)

        again = replace(turn, tickets=(a_ticket(turn),))

        assert residents.save_turn(again) is False
        assert tickets.get(again.tickets[0].reference) is None

    def test_a_taken_reference_clashes_and_writes_nothing(
        self, residents: ResidentStore, messages: MessageStore, tickets: TicketStore
    ) -> None:
        first = first_turn()
        ticket = a_ticket(first)
        residents.save_turn(replace(first, tickets=(ticket,)))
        rival = first_turn()
        stolen = replace(a_ticket(rival), reference=ticket.reference)

        with pytest.raises(ConcurrentUpdateError):
            residents.save_turn(replace(rival, tickets=(stolen,)))

        assert tickets.get(ticket.reference) == ticket
        assert messages.get(rival.inbound.id) is None
        assert residents.get(rival.resident.key) is None

    def test_a_residents_tickets_are_listed_newest_first(
        self, residents: ResidentStore, tickets: TicketStore
    ) -> None:
        turn = first_turn()
        made = [
            a_ticket(turn, number=n, at=NOW + timedelta(minutes=n), flow=f"flow{n}")
            for n in (2, 3, 1)
        ]
        residents.save_turn(replace(turn, tickets=tuple(made)))
        someone_else = first_turn()
        residents.save_turn(replace(someone_else, tickets=(a_ticket(someone_else),)))

        listed = tickets.list_for_resident(turn.resident.key)

        assert [t.flow for t in listed] == ["flow3", "flow2", "flow1"]
        assert listed[0] == made[1]
        assert [t.flow for t in tickets.list_for_resident(turn.resident.key, limit=2)] == [
            "flow3",
            "flow2",
        ]
        assert tickets.list_for_resident(unique("wa:34")) == []

    def test_numbers_count_up_per_prefix_and_year(self, tickets: TicketStore) -> None:
        prefix, other = a_prefix(), a_prefix()

        assert [tickets.next_number(prefix, 2026) for _ in range(3)] == [1, 2, 3]
        assert tickets.next_number(prefix, 2027) == 1
        assert tickets.next_number(other, 2026) == 1
        assert tickets.next_number(prefix, 2026) == 4
        # The counters share the table with the tickets but are never taken for one.
        assert tickets.get(f"#seq#{prefix}#2026") is None
        assert tickets.list_for_resident(prefix) == []

    def test_concurrent_callers_never_get_the_same_number(self, tickets: TicketStore) -> None:
        prefix = a_prefix()
        got: list[int] = []
        lock = threading.Lock()

        def take() -> None:
            for _ in range(5):
                number = tickets.next_number(prefix, 2026)
                with lock:
                    got.append(number)

        threads = [threading.Thread(target=take) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(got) == list(range(1, 21))


class TestInMemoryStores(StoreContract):
    @pytest.fixture
    def stores(self) -> tuple[ResidentStore, MessageStore]:
        database = InMemoryDatabase()
        return InMemoryResidentStore(database), InMemoryMessageStore(database)

    @pytest.fixture
    def tickets(self, stores: tuple[InMemoryResidentStore, InMemoryMessageStore]) -> TicketStore:
        return InMemoryTicketStore(stores[0].database)

    def test_callers_cannot_change_what_is_stored(
        self, stores: tuple[InMemoryResidentStore, InMemoryMessageStore]
    ) -> None:
        residents, messages = stores
        turn = first_turn()
        residents.save_turn(turn)

        turn.conversation.bot_state["node"] = "mutated"
        _, conversation = residents.load(turn.resident.key)
        assert conversation is not None
        conversation.bot_state["node"] = "mutated too"
        fetched = messages.get(turn.replies[0].id)
        assert fetched is not None
        fetched.payload["kind"] = "mutated"

        _, conversation = residents.load(turn.resident.key)
        assert conversation is not None and conversation.bot_state["node"] == "menu"
        assert messages.get(turn.replies[0].id) == turn.replies[0]


# --- DynamoDB and SQS on moto -----------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_stage(moto_endpoint: str) -> ResourceNames:
    """A fresh stage per module, created by moto's CloudFormation from the real template."""
    names = ResourceNames(unique("t")[:9])
    provision(moto_endpoint, names, REGION)
    return names


class TestDynamoDBStores(StoreContract):
    @pytest.fixture
    def stores(self, moto_stage: ResourceNames, aws_env: str) -> tuple[ResidentStore, MessageStore]:
        # No endpoint given: PynamoDB's botocore client finds moto through AWS_ENDPOINT_URL.
        tables = stage_tables(moto_stage, REGION)
        return DynamoDBResidentStore(tables, retention=lambda: None), DynamoDBMessageStore(
            tables, retention=lambda: None
        )

    @pytest.fixture
    def tickets(self, moto_stage: ResourceNames, aws_env: str) -> TicketStore:
        return DynamoDBTicketStore(stage_tables(moto_stage, REGION))

    def test_an_injected_client_carries_every_request(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
        operations: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )
        tables = stage_tables(moto_stage, REGION, dynamodb_client=client)
        residents, messages = (
            DynamoDBResidentStore(tables, retention=lambda: None),
            DynamoDBMessageStore(tables, retention=lambda: None),
        )
        turn = first_turn(n_replies=1)

        residents.save_turn(turn)
        residents.load(turn.resident.key)
        messages.claim_for_sending(turn.replies[0].id, NOW)

        assert set(operations) == {"TransactWriteItems", "GetItem", "UpdateItem"}

    def test_request_budgets_of_tickets_and_opt_outs(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
        operations: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )
        tables = stage_tables(moto_stage, REGION, dynamodb_client=client)
        residents, messages = (
            DynamoDBResidentStore(tables, retention=lambda: None),
            DynamoDBMessageStore(tables, retention=lambda: None),
        )
        tickets = DynamoDBTicketStore(tables)
        turn = first_turn(n_replies=2)

        def requests(action: Callable[[], object]) -> list[str]:
            operations.clear()
            action()
            return list(operations)

        with_tickets = replace(turn, tickets=(a_ticket(turn), a_ticket(turn, number=2)))
        assert requests(lambda: residents.save_turn(with_tickets)) == ["TransactWriteItems"]
        assert requests(lambda: residents.get(turn.resident.key)) == ["GetItem"]
        # the read: the consent history the opt-out is appended to
        assert requests(lambda: residents.set_opted_out(turn.resident.key, True, NOW)) == [
            "GetItem",
            "UpdateItem",
        ]
        assert requests(lambda: residents.set_opted_out(turn.resident.key, True, NOW)) == [
            "GetItem",
            "UpdateItem",
        ]
        assert requests(lambda: tickets.next_number(a_prefix(), 2026)) == ["UpdateItem"]
        assert requests(lambda: tickets.list_for_resident(turn.resident.key)) == ["Query"]
        assert requests(lambda: messages.mark_skipped(turn.replies[0].id, "x", NOW)) == [
            "UpdateItem"
        ]
        assert requests(
            lambda: messages.record_media(turn.inbound.id, "residents/k/media/m", "image/png", 9)
        ) == ["UpdateItem"]

    def test_kept_medias_type_and_size_are_stored_on_the_item(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        tables = stage_tables(moto_stage, REGION)
        turn = first_turn()
        DynamoDBResidentStore(tables, retention=lambda: None).save_turn(turn)

        DynamoDBMessageStore(tables, retention=lambda: None).record_media(
            turn.inbound.id, "k", "image/jpeg", 48213
        )

        item = tables.messages.get(turn.inbound.id)
        assert (item.media_key, item.media_mime_type, item.media_size) == ("k", "image/jpeg", 48213)

    def test_ticket_counters_stay_out_of_the_residents_index(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        tables = stage_tables(moto_stage, REGION)
        prefix = a_prefix()
        DynamoDBTicketStore(tables).next_number(prefix, 2026)

        counter = tables.tickets.get(f"#seq#{prefix}#2026")
        assert (counter.counter, counter.resident_key, counter.created_at) == (1, None, None)

    def test_one_stage_is_one_lazy_connection(self, moto_stage: ResourceNames) -> None:
        tables = stage_tables(moto_stage, REGION)

        assert stage_tables(moto_stage, REGION) is tables
        assert {
            id(model._get_connection().connection)
            for model in (tables.residents, tables.conversations, tables.messages)
        } == {id(tables.connection)}
        assert stage_tables(ResourceNames("other"), REGION).connection is not tables.connection

    def test_no_client_before_the_first_request(self) -> None:
        tables = stage_tables(ResourceNames(unique("t")), REGION)
        _stores = (
            DynamoDBResidentStore(tables, retention=lambda: None),
            DynamoDBMessageStore(tables, retention=lambda: None),
        )

        assert tables.connection._client is None

    def test_stores_built_without_tables_use_the_bound_stage(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        # How the composition root builds them: bind once, then construct without arguments.
        residents, messages = (
            DynamoDBResidentStore(retention=lambda: None),
            DynamoDBMessageStore(retention=lambda: None),
        )
        bind_tables(moto_stage, REGION)
        turn = first_turn(n_replies=1)

        assert residents.save_turn(turn) is True
        assert messages.get(turn.replies[0].id) == turn.replies[0]
        assert bind_tables(moto_stage, REGION) is stage_tables(moto_stage, REGION)

    def test_the_turn_is_cancelled_item_by_item(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        """What duplicate detection relies on: moto, like DynamoDB, says which items failed."""
        tables = stage_tables(moto_stage, REGION)
        turn = first_turn(n_replies=0)
        DynamoDBResidentStore(tables, retention=lambda: None).save_turn(turn)
        messages = tables.messages
        transaction = TransactWrite(connection=tables.connection)
        transaction.save(
            messages.from_message(turn.inbound), condition=messages.message_id.does_not_exist()
        )
        transaction.save(messages.from_message(an_inbound(turn.resident.key, "c")))

        with pytest.raises(TransactWriteError) as raised, transaction:
            pass

        reasons = raised.value.cancellation_reasons
        assert [reason.code if reason else None for reason in reasons] == [
            "ConditionalCheckFailed",
            None,
        ]


# --- the queue contract -----------------------------------------------------------------------

Received = list[tuple[str, str, dict[str, Any]]]


class InboundQueueContract:
    """Subclasses give the queue and a way to read back (group, dedup id, body) in order."""

    @pytest.fixture
    def inbound(self) -> tuple[InboundQueue, Callable[[], Received]]:
        raise NotImplementedError

    def test_each_residents_items_stay_in_order(
        self, inbound: tuple[InboundQueue, Callable[[], Received]]
    ) -> None:
        queue, receive = inbound
        ana, ben = unique("wa:34"), unique("bsuid:")
        items = [
            (ana if i % 3 else ben, unique("wamid."), {"n": i, "text": "¿sí?"}) for i in range(23)
        ]

        queue.enqueue(items)

        received = receive()
        assert sorted(received, key=lambda item: item[2]["n"]) == items
        for key in (ana, ben):
            assert [r for r in received if r[0] == key] == [i for i in items if i[0] == key]

    def test_a_repeated_dedup_id_is_dropped(
        self, inbound: tuple[InboundQueue, Callable[[], Received]]
    ) -> None:
        queue, receive = inbound
        key, wamid = unique("wa:34"), unique("wamid.")

        queue.enqueue([(key, wamid, {"n": 1})])
        queue.enqueue([(key, wamid, {"n": 2}), (key, unique("wamid."), {"n": 3})])

        assert [body["n"] for _, _, body in receive()] == [1, 3]

    def test_nothing_to_send_sends_nothing(
        self, inbound: tuple[InboundQueue, Callable[[], Received]]
    ) -> None:
        queue, receive = inbound
        queue.enqueue([])
        assert receive() == []


class OutboundQueueContract:
    """Subclasses give the queue and a way to read back the ids on a priority's queue."""

    @pytest.fixture
    def outbound(self) -> tuple[OutboundQueue, Callable[[Priority], list[str]]]:
        raise NotImplementedError

    def test_priority_picks_the_queue(
        self, outbound: tuple[OutboundQueue, Callable[[Priority], list[str]]]
    ) -> None:
        queue, receive = outbound
        replies = [unique("out-") for _ in range(12)]
        bulk = [unique("out-") for _ in range(3)]

        queue.enqueue(replies, Priority.REPLY)
        queue.enqueue(bulk, Priority.BULK)

        assert receive(Priority.REPLY) == replies  # one turn's replies stay in order
        assert sorted(receive(Priority.BULK)) == sorted(bulk)


class TestInMemoryQueues(InboundQueueContract, OutboundQueueContract):
    @pytest.fixture
    def inbound(self) -> tuple[InboundQueue, Callable[[], Received]]:
        queue = InMemoryInboundQueue()
        return queue, queue.drain

    @pytest.fixture
    def outbound(self) -> tuple[OutboundQueue, Callable[[Priority], list[str]]]:
        queue = InMemoryOutboundQueue()
        return queue, queue.ids


def drain_sqs(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete until the queue answers empty."""
    received: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return received
        received.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )


class TestSqsQueues(InboundQueueContract, OutboundQueueContract):
    @pytest.fixture
    def sqs(self, aws_env: str) -> Any:
        return boto3.client("sqs", region_name=REGION)

    @pytest.fixture
    def inbound(
        self, moto_stage: ResourceNames, sqs: Any
    ) -> Iterator[tuple[InboundQueue, Callable[[], Received]]]:
        url = sqs.get_queue_url(QueueName=moto_stage.inbound_queue)["QueueUrl"]

        def receive() -> Received:
            return [
                (
                    m["Attributes"]["MessageGroupId"],
                    m["Attributes"]["MessageDeduplicationId"],
                    json.loads(m["Body"]),
                )
                for m in drain_sqs(sqs, url)
            ]

        # By name: resolved lazily with the client boto3 builds from the environment.
        yield SqsInboundQueue(moto_stage.inbound_queue), receive
        drain_sqs(sqs, url)

    @pytest.fixture
    def outbound(
        self, moto_stage: ResourceNames, sqs: Any
    ) -> Iterator[tuple[OutboundQueue, Callable[[Priority], list[str]]]]:
        urls = {
            Priority.REPLY: sqs.get_queue_url(QueueName=moto_stage.outbound_replies_queue)[
                "QueueUrl"
            ],
            Priority.BULK: sqs.get_queue_url(QueueName=moto_stage.outbound_bulk_queue)["QueueUrl"],
        }

        def receive(priority: Priority) -> list[str]:
            return [
                message_id
                for m in drain_sqs(sqs, urls[priority])
                for message_id in json.loads(m["Body"])["message_ids"]
            ]

        # By URL, with an injected client.
        yield SqsOutboundQueue(urls[Priority.REPLY], urls[Priority.BULK], sqs), receive
        for url in urls.values():
            drain_sqs(sqs, url)


# --- SQS adapter details that need a scripted client ------------------------------------------


class ScriptedSqs:
    """Records SendMessageBatch calls; refuses the entries whose body contains "refuse"."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[dict[str, Any]]]] = []
        self.url_lookups: list[str] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        self.url_lookups.append(QueueName)
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append((QueueUrl, Entries))
        failed = [
            {"Id": e["Id"], "Code": "InvalidParameterValue", "SenderFault": True}
            for e in Entries
            if "refuse" in e["MessageBody"]
        ]
        return {"Successful": [], "Failed": failed}


def test_sends_in_batches_of_ten_and_resolves_a_name_once() -> None:
    sqs = ScriptedSqs()
    queue = SqsOutboundQueue("replies", "bulk", sqs)

    queue.enqueue([f"m{i}" for i in range(23)], Priority.BULK)
    queue.enqueue(["m23"], Priority.BULK)

    assert [len(entries) for _, entries in sqs.batches] == [10, 10, 3, 1]
    assert {url for url, _ in sqs.batches} == {"https://sqs.local/bulk"}
    assert sqs.url_lookups == ["bulk"]


def test_one_turns_replies_travel_as_one_ordered_message() -> None:
    sqs = ScriptedSqs()
    queue = SqsOutboundQueue("replies", "bulk", sqs)

    queue.enqueue(["welcome", "menu"], Priority.REPLY)

    ((url, entries),) = sqs.batches
    assert url == "https://sqs.local/replies"
    assert [json.loads(e["MessageBody"]) for e in entries] == [{"message_ids": ["welcome", "menu"]}]


def test_a_refused_entry_raises_naming_it() -> None:
    sqs = ScriptedSqs()
    queue = SqsInboundQueue("https://sqs.local/in.fifo", sqs)
    items = [("wa:1", f"wamid.{i}", {"text": "refuse" if i == 12 else "ok"}) for i in range(25)]

    with pytest.raises(QueueSendError, match=r"resident wa:1 dedup id wamid\.12"):
        queue.enqueue(items)

    # Stopped at the refused chunk: later items would overtake it in the resident's group.
    assert len(sqs.batches) == 2
    assert sqs.url_lookups == []
