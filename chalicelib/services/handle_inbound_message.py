"""Use case: one inbound message from a resident, taken off the inbound queue in order.

Everything the message changes (the message itself, the resident, the conversation, the bot's
replies and any ticket it creates) is saved in one atomic write; only then are the replies
queued for sending and media queued for fetching. A redelivery of the same message finds it
stored, writes nothing, and re-queues any reply that never left — so a resident gets each answer
exactly once however often Meta or SQS repeat themselves.

Consent first: until a resident accepts the privacy notice, only what is needed to ask is kept —
the message's id and type (for de-duplication), never its content or the resident's profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.engine import advance, is_csat_answer
from chalicelib.domain.bot.events import (
    BotEvent,
    ConsentDeclined,
    ConsentGiven,
    CsatRated,
    HandoffRequested,
    LanguageChosen,
    OptedIn,
    OptedOut,
    SubscriptionChanged,
    TicketRequested,
)
from chalicelib.domain.bot.turns import BotInput, BotTurn
from chalicelib.domain.consent_history import with_consent_event, with_opt_out, with_subscription
from chalicelib.domain.conversations import Conversation, ConversationStatus, preview_of
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.residents import ConsentAction, ConsentEvent, ConsentState, Resident
from chalicelib.domain.search_terms import name_terms, text_terms
from chalicelib.domain.sla import clock_for, start_sla, with_next_check
from chalicelib.domain.tickets import (
    Location,
    Ticket,
    TicketAttachment,
    TicketLookup,
    find_reference,
    format_reference,
    media_object_key,
)
from chalicelib.observability import MetricUnit, logger, mask_resident_key, metrics
from chalicelib.services.ports import (
    InboundTurn,
    MediaJob,
    MediaQueue,
    MessageStore,
    OutboundQueue,
    ResidentStore,
    SearchTerm,
    TicketStore,
)
from chalicelib.services.queued_replies import queued_bot_reply
from chalicelib.whatsapp.events import (
    InboundMessage,
    LocationMessage,
    MediaMessage,
    SystemMessage,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundPorts:
    residents: ResidentStore
    messages: MessageStore
    tickets: TicketStore
    outbound: OutboundQueue
    media: MediaQueue


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    duplicate: bool
    reply_ids: tuple[str, ...]
    ticket: str | None = None  # the reference of a ticket this message created
    handed_off_to: str | None = None  # the team whose queue the conversation joined


def handle_inbound_message(
    message: InboundMessage,
    *,
    definition: MunicipalityDefinition,
    ports: InboundPorts,
    now: datetime,
    new_id: Callable[[], str],
) -> InboundOutcome:
    resident, conversation = ports.residents.load(message.sender.key)
    resident_is_new = resident is None
    if resident is None:
        resident = Resident(
            key=message.sender.key,
            wa_id=message.sender.wa_id,
            user_id=message.sender.user_id,
            created_at=now,
        )

    bot_input = _bot_input(message, resident, definition, ports.tickets)
    if (
        conversation is not None
        and conversation.status is ConversationStatus.RESOLVED
        and not is_csat_answer(conversation.bot_state, bot_input)
    ):
        conversation = None  # a resolved conversation only takes its satisfaction rating
    if conversation is None:
        conversation = Conversation(
            id=new_id(), resident_key=resident.key, opened_at=now, updated_at=now
        )
    previous_name = conversation.resident_name

    turn = BotTurn(state=dict(conversation.bot_state))
    if not isinstance(message, SystemMessage):  # a "changed number" notice is not a question
        turn = advance(definition, conversation.bot_state, bot_input, now)
    conversation = dataclasses.replace(conversation, bot_state=dict(turn.state))
    tickets: list[Ticket] = []
    handed_off_to: str | None = None
    for event in turn.events:
        resident, conversation = _apply_bot_event(event, resident, conversation, message, now)
        if isinstance(event, HandoffRequested):
            conversation = start_sla(conversation, definition.sla, clock_for(definition), now)
            handed_off_to = event.team
        if isinstance(event, TicketRequested):
            ticket = _new_ticket(event, resident, conversation, definition, ports.tickets, now)
            tickets.append(ticket)
            turn = turn.with_reference(ticket.reference)
    if conversation.status is ConversationStatus.SNOOZED and not isinstance(message, SystemMessage):
        conversation = _woken(conversation, definition)

    consented = resident.consent is ConsentState.GIVEN
    resident = _refresh_profile(resident, message) if consented else _without_profile(resident)
    last_inbound = max(filter(None, (resident.last_inbound_at, message.timestamp)))
    resident = dataclasses.replace(
        resident, last_inbound_at=last_inbound, current_conversation_id=conversation.id
    )
    conversation = dataclasses.replace(
        conversation,
        updated_at=now,
        last_inbound_at=last_inbound,
        last_message_at=now,
        resident_name=resident.profile_name if consented else None,
        preview=preview_of(message.text_for_bot or f"[{message.message_type}]")
        if consented
        else None,
    )
    search_terms = (
        _search_terms(
            message, conversation.id, resident.profile_name, previous_name, now, definition
        )
        if consented
        else ()
    )

    reply_messages = tuple(
        queued_bot_reply(f"{message.wamid}~r{index}", reply, resident, conversation.id, now)
        for index, reply in enumerate(turn.replies)
    )
    inbound = _inbound(message, resident, conversation, now, reply_messages)
    stored = ports.residents.save_turn(
        InboundTurn(
            inbound=inbound if consented else _redacted(inbound),
            resident=resident,
            resident_is_new=resident_is_new,
            conversation=conversation,
            replies=reply_messages,
            tickets=tuple(tickets),
            search_terms=search_terms,
        )
    )
    if not stored:
        return InboundOutcome(
            duplicate=True,
            reply_ids=_requeue_unsent_replies(message, ports.messages, ports.outbound),
        )

    reply_ids = tuple(reply.id for reply in reply_messages)
    if reply_ids:
        ports.outbound.enqueue(reply_ids, Priority.REPLY)
    if consented and isinstance(message, MediaMessage):
        ports.media.enqueue(
            [
                MediaJob(
                    message_id=message.wamid,
                    media_id=message.media_id,
                    resident_key=resident.key,
                    mime_type=message.mime_type,
                )
            ]
        )
    reference = tickets[0].reference if tickets else None
    log_extra = {
        "wamid": message.wamid,
        "resident": mask_resident_key(resident.key),
        "replies": len(reply_ids),
    }
    metrics.add_metric(name="InboundStored", unit=MetricUnit.Count, value=1)
    if tickets:
        metrics.add_metric(name="TicketsCreated", unit=MetricUnit.Count, value=len(tickets))
        log_extra["ticket"] = reference
    logger.info("inbound message stored", extra=log_extra)
    return InboundOutcome(
        duplicate=False, reply_ids=reply_ids, ticket=reference, handed_off_to=handed_off_to
    )


def _woken(conversation: Conversation, definition: MunicipalityDefinition) -> Conversation:
    """The resident wrote to a snoozed conversation: it is back in its agent's work at once
    (same holder, so no agent's load moves), no longer waiting for the snooze to end."""
    awake = dataclasses.replace(
        conversation, status=ConversationStatus.ASSIGNED, snoozed_until=None
    )
    return with_next_check(awake, definition)


def _search_terms(
    message: InboundMessage,
    conversation_id: str,
    name: str | None,
    indexed_name: str | None,
    now: datetime,
    definition: MunicipalityDefinition,
) -> tuple[SearchTerm, ...]:
    """The message's words, and the resident's name once per conversation (again when it
    changes), so agents find the conversation by either. They are kept as long as messages
    are (`retention.messages`)."""
    terms = list(text_terms(message.text_for_bot))
    if name and name != indexed_name:
        terms.extend(name_terms(name))
    retention = definition.retention.messages if definition.retention is not None else None
    expires_at = retention.after(now) if retention is not None else None
    return tuple(
        SearchTerm(term=term, conversation_id=conversation_id, at=now, expires_at=expires_at)
        for term in dict.fromkeys(terms)
    )


def _bot_input(
    message: InboundMessage,
    resident: Resident,
    definition: MunicipalityDefinition,
    tickets: TicketStore,
) -> BotInput:
    media = message if isinstance(message, MediaMessage) else None
    location = None
    if isinstance(message, LocationMessage):
        location = Location(
            latitude=message.latitude,
            longitude=message.longitude,
            name=message.name,
            address=message.address,
        )
    return BotInput(
        message_type=message.message_type,
        text=message.text_for_bot,
        reply_id=message.reply_id,
        message_id=message.wamid,
        media_id=media.media_id if media else None,
        mime_type=media.mime_type if media else None,
        location=location,
        resident_language=resident.language,
        resident_phone=resident.wa_id,
        consent=resident.consent,
        consent_version=resident.consent_version,
        opted_out=resident.opted_out,
        subscriptions=resident.subscribed_topics,
        resident_tags=resident.tags,
        ticket_lookup=_ticket_lookup(message, resident, definition, tickets),
    )


def _ticket_lookup(
    message: InboundMessage,
    resident: Resident,
    definition: MunicipalityDefinition,
    tickets: TicketStore,
) -> TicketLookup | None:
    """A reference the resident typed, looked up; another resident's ticket is "not found"."""
    if definition.tickets is None or resident.consent is not ConsentState.GIVEN:
        return None
    reference = find_reference(definition.tickets.reference_prefix, message.text_for_bot)
    if reference is None:
        return None
    ticket = tickets.get(reference)
    if ticket is not None and ticket.resident_key != resident.key:
        ticket = None
    return TicketLookup(reference=reference, ticket=ticket)


def _new_ticket(
    event: TicketRequested,
    resident: Resident,
    conversation: Conversation,
    definition: MunicipalityDefinition,
    tickets: TicketStore,
    now: datetime,
) -> Ticket:
    if definition.tickets is None:  # the loader refuses ticket flows without a tickets section
        raise ValueError("a flow created a ticket but the configuration has no tickets section")
    prefix = definition.tickets.reference_prefix
    year = now.astimezone(definition.zone).year
    reference = format_reference(prefix, year, tickets.next_number(prefix, year))
    return Ticket(
        reference=reference,
        resident_key=resident.key,
        conversation_id=conversation.id,
        flow=event.flow,
        category=event.category,
        team=event.team,
        description=event.description,
        location=event.location,
        address=event.address,
        attachments=tuple(
            TicketAttachment(
                message_id=photo.message_id,
                media_key=media_object_key(resident.key, photo.message_id),
                mime_type=photo.mime_type,
            )
            for photo in event.photos
        ),
        language=event.language,
        created_at=now,
        updated_at=now,
    )


def _apply_bot_event(
    event: BotEvent,
    resident: Resident,
    conversation: Conversation,
    message: InboundMessage,
    now: datetime,
) -> tuple[Resident, Conversation]:
    match event:
        case LanguageChosen(language=language):
            return dataclasses.replace(resident, language=language), conversation
        case HandoffRequested(team=team):
            metrics.add_metric(name="Handoffs", unit=MetricUnit.Count, value=1)
            return resident, dataclasses.replace(
                conversation, status=ConversationStatus.QUEUED, team=team
            )
        case ConsentGiven(version=version) | ConsentDeclined(version=version):
            given = isinstance(event, ConsentGiven)
            decided = dataclasses.replace(
                resident,
                consent=ConsentState.GIVEN if given else ConsentState.DECLINED,
                consent_version=version,
                consent_at=now,
            )
            action = ConsentAction.CONSENT_GIVEN if given else ConsentAction.CONSENT_DECLINED
            record = ConsentEvent(action=action, at=now, text_version=version)
            return with_consent_event(decided, record), conversation
        case OptedOut() | OptedIn():
            opted_out = isinstance(event, OptedOut)
            metrics.add_metric(
                name="OptOuts" if opted_out else "OptIns", unit=MetricUnit.Count, value=1
            )
            return with_opt_out(resident, opted_out, message.timestamp), conversation
        case SubscriptionChanged(topic=topic, subscribed=subscribed, version=version):
            if resident.consent is not ConsentState.GIVEN:  # the bot asks only after consent
                return resident, conversation
            metrics.add_metric(
                name="Subscriptions" if subscribed else "Unsubscriptions",
                unit=MetricUnit.Count,
                value=1,
            )
            return with_subscription(resident, topic, subscribed, now, version), conversation
        case CsatRated(score=score):
            metrics.add_metric(name="CsatRatings", unit=MetricUnit.Count, value=1)
            return resident, dataclasses.replace(conversation, csat_score=score, csat_at=now)
    return resident, conversation


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


def _refresh_profile(resident: Resident, message: InboundMessage) -> Resident:
    sender = message.sender
    return dataclasses.replace(
        resident,
        wa_id=sender.wa_id or resident.wa_id,
        user_id=sender.user_id or resident.user_id,
        username=sender.username or resident.username,
        profile_name=sender.profile_name or resident.profile_name,
    )


def _without_profile(resident: Resident) -> Resident:
    """Without consent the resident is kept as an address and their answer to the consent
    question only: no name, no username, no tags."""
    return dataclasses.replace(
        resident, username=None, profile_name=None, tags=(), custom_fields={}
    )


def _redacted(message: StoredMessage) -> StoredMessage:
    return dataclasses.replace(message, body=None, payload={}, media_id=None)


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
