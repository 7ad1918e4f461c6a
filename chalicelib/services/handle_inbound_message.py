"""Use case: one inbound message from a resident, taken off the inbound queue in order.

Everything the message changes (the message itself, the resident, the conversation and the bot's
replies) is saved in one atomic write; only then are the replies queued for sending. A redelivery
of the same message finds it stored, writes nothing, and re-queues any reply that never left —
so a resident gets each answer exactly once however often Meta or SQS repeat themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.engine import BotInput, advance
from chalicelib.domain.bot.events import HandoffRequested, LanguageChosen
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.replies import Reply, reply_summary, reply_to_dict
from chalicelib.domain.residents import Resident
from chalicelib.observability import MetricUnit, logger, mask_resident_key, metrics
from chalicelib.services.ports import InboundTurn, MessageStore, OutboundQueue, ResidentStore
from chalicelib.whatsapp.events import InboundMessage, MediaMessage, ReactionMessage, SystemMessage

# Kept in the conversation's history, never answered: a 👍 or a "changed number" notice is not
# the resident asking for something.
_NOT_FOR_THE_BOT = (ReactionMessage, SystemMessage)


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    duplicate: bool
    reply_ids: tuple[str, ...]


def handle_inbound_message(
    message: InboundMessage,
    *,
    definition: MunicipalityDefinition,
    residents: ResidentStore,
    messages: MessageStore,
    outbound: OutboundQueue,
    now: datetime,
    new_id: Callable[[], str],
) -> InboundOutcome:
    resident, conversation = residents.load(message.sender.key)
    resident_is_new = resident is None
    if resident is None:
        resident = _new_resident(message, now)
    resident = _refresh_profile(resident, message)

    if conversation is None or conversation.status is ConversationStatus.RESOLVED:
        conversation = Conversation(
            id=new_id(), resident_key=resident.key, opened_at=now, updated_at=now
        )

    replies: tuple[Reply, ...] = ()
    if conversation.status is ConversationStatus.BOT and not isinstance(message, _NOT_FOR_THE_BOT):
        turn = advance(
            definition,
            conversation.bot_state,
            BotInput(
                message_type=message.message_type,
                text=message.text_for_bot,
                reply_id=message.reply_id,
                resident_language=resident.language,
                resident_phone=resident.wa_id,
            ),
            now,
        )
        replies = turn.replies
        conversation = dataclasses.replace(conversation, bot_state=dict(turn.state))
        for event in turn.events:
            resident, conversation = _apply_bot_event(event, resident, conversation)

    last_inbound = max(filter(None, (resident.last_inbound_at, message.timestamp)))
    resident = dataclasses.replace(
        resident, last_inbound_at=last_inbound, current_conversation_id=conversation.id
    )
    conversation = dataclasses.replace(conversation, updated_at=now, last_inbound_at=last_inbound)

    reply_messages = tuple(
        _outbound(f"{message.wamid}~r{index}", reply, resident, conversation, now)
        for index, reply in enumerate(replies)
    )
    stored = residents.save_turn(
        InboundTurn(
            inbound=_inbound(message, resident, conversation, now, reply_messages),
            resident=resident,
            resident_is_new=resident_is_new,
            conversation=conversation,
            replies=reply_messages,
        )
    )
    log_extra = {"wamid": message.wamid, "resident": mask_resident_key(resident.key)}
    if not stored:
        return InboundOutcome(
            duplicate=True, reply_ids=_requeue_unsent_replies(message, messages, outbound)
        )

    reply_ids = tuple(reply.id for reply in reply_messages)
    if reply_ids:
        outbound.enqueue(reply_ids, Priority.REPLY)
    metrics.add_metric(name="InboundStored", unit=MetricUnit.Count, value=1)
    logger.info("inbound message stored", extra={**log_extra, "replies": len(reply_ids)})
    return InboundOutcome(duplicate=False, reply_ids=reply_ids)


def _requeue_unsent_replies(
    message: InboundMessage, messages: MessageStore, outbound: OutboundQueue
) -> tuple[str, ...]:
    """A duplicate delivery. If the first delivery died between saving and queueing, its replies
    are still `queued` and would never leave: queue them again (the sender's claim makes a
    second copy in SQS harmless)."""
    logger.info("duplicate inbound message ignored", extra={"wamid": message.wamid})
    metrics.add_metric(name="InboundDuplicates", unit=MetricUnit.Count, value=1)
    original = messages.get(message.wamid)
    if original is None or not original.reply_ids:
        return ()
    unsent = tuple(
        reply.id
        for reply in messages.get_many(original.reply_ids)
        if reply.status is DeliveryStatus.QUEUED
    )
    if unsent:
        outbound.enqueue(unsent, Priority.REPLY)
    return unsent


def _new_resident(message: InboundMessage, now: datetime) -> Resident:
    return Resident(
        key=message.sender.key,
        wa_id=message.sender.wa_id,
        user_id=message.sender.user_id,
        created_at=now,
    )


def _refresh_profile(resident: Resident, message: InboundMessage) -> Resident:
    sender = message.sender
    return dataclasses.replace(
        resident,
        wa_id=sender.wa_id or resident.wa_id,
        user_id=sender.user_id or resident.user_id,
        username=sender.username or resident.username,
        profile_name=sender.profile_name or resident.profile_name,
    )


def _apply_bot_event(
    event: object, resident: Resident, conversation: Conversation
) -> tuple[Resident, Conversation]:
    match event:
        case LanguageChosen(language=language):
            return dataclasses.replace(resident, language=language), conversation
        case HandoffRequested(team=team):
            metrics.add_metric(name="Handoffs", unit=MetricUnit.Count, value=1)
            return resident, dataclasses.replace(
                conversation, status=ConversationStatus.QUEUED, team=team
            )
    return resident, conversation


def _inbound(
    message: InboundMessage,
    resident: Resident,
    conversation: Conversation,
    now: datetime,
    replies: tuple[StoredMessage, ...],
) -> StoredMessage:
    return StoredMessage(
        id=message.wamid,
        wamid=message.wamid,
        direction=Direction.INBOUND,
        resident_key=resident.key,
        conversation_id=conversation.id,
        message_type=message.message_type,
        body=message.text_for_bot,
        payload=dict(message.raw),
        media_id=message.media_id if isinstance(message, MediaMessage) else None,
        created_at=message.timestamp,
        status=DeliveryStatus.RECEIVED,
        status_at=now,
        reply_ids=tuple(reply.id for reply in replies),
    )


def _outbound(
    message_id: str, reply: Reply, resident: Resident, conversation: Conversation, now: datetime
) -> StoredMessage:
    return StoredMessage(
        id=message_id,
        direction=Direction.OUTBOUND,
        resident_key=resident.key,
        conversation_id=conversation.id,
        message_type=reply.kind,
        body=reply_summary(reply),
        payload=reply_to_dict(reply),
        created_at=now,
        status=DeliveryStatus.QUEUED,
        status_at=now,
        recipient=resident.recipient,
        priority=Priority.REPLY,
        sent_by="bot",
    )
