"""Use cases: what an agent does to a conversation — reply, attach, note, assign, transfer,
resolve, snooze, reopen, tag.

Each action is one atomic write (`ConsoleConversationStore.apply`): the conversation's new
state, the agents' load and the timeline entry together, checked against the version that was
read. Someone else's change in between is a `Conflict` ("changed"): the console reloads. Replies
are stored as queued outbound messages in that same write and queued for the reply sender only
after it, exactly like the bot's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.agents import Agent, agent_id_for
from chalicelib.domain.audit import AuditAction, agent_actor, reply_kind
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.engine import ask_csat
from chalicelib.domain.conversations import Conversation, ConversationStatus, preview_of
from chalicelib.domain.messages import Priority, StoredMessage
from chalicelib.domain.replies import MediaReply, Reply, TemplateReply, TextReply, reply_summary
from chalicelib.domain.residents import ConsentState, Resident
from chalicelib.domain.service_window import REOPEN_TEMPLATE
from chalicelib.domain.sla import (
    clock_for,
    record_first_response,
    restart_resolution,
    start_sla,
    with_next_check,
)
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.services.assign_conversations import assign_waiting, assigned_to, queued_for
from chalicelib.services.console_context import (
    CHANGED,
    Conflict,
    ConsolePorts,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
    apply_change,
    internal_message,
    iso,
    timeline_event,
    visible_conversation,
)
from chalicelib.services.console_ports import (
    CapacityReachedError,
    ConversationChange,
    MediaUploader,
)
from chalicelib.services.ports import ConcurrentUpdateError, GraphApiError
from chalicelib.services.queued_replies import queued_bot_reply, queued_message
from chalicelib.whatsapp.errors import classify
from chalicelib.whatsapp.payloads import PayloadError, build_message_payload

TEXT_MAX = 4096  # WhatsApp's limit for a text message; notes keep to it too
CAPTION_MAX = 1024
# 4 MiB: base64 in a JSON body must stay under Lambda's 6 MB request limit.
ATTACHMENT_MAX_BYTES = 4 * 1024 * 1024
FILENAME_MAX = 240
TEMPLATE_PARAMS_MAX = 20
SNOOZE_MAX = timedelta(days=30)
TAGS_MAX = 30
TAG = re.compile(r"[a-z0-9_-]{1,32}")
MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
WINDOW_CLOSED = "window_closed"
WHATSAPP_UNAVAILABLE = "WhatsApp did not answer, try again"
RESIDENT_GONE = "the resident of this conversation is not known any more"
_RETRIES = 3  # re-reads for writes that do not depend on what was read (notes, tags)


# --- replies ----------------------------------------------------------------------------------


def send_agent_reply(
    actor: Agent,
    conversation_id: str,
    *,
    text: str | None = None,
    template: str | None = None,
    params: Sequence[str] = (),
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> StoredMessage:
    """Free text while WhatsApp's 24-hour window is open (a text that is exactly a quick-reply
    shortcut becomes its text in the resident's language); a template at any time."""
    conversation = _workable(actor, conversation_id, ports)
    resident = _resident_of(conversation, ports)
    language = _language(definition, conversation, resident)
    if text is not None and template is not None:
        raise Invalid("send either a text or a template, not both", field="text")
    reply: Reply
    if template is not None:
        reply = _template_reply(definition, template, params, language)
        if resident.opted_out and not resident.window_open(now):
            raise Conflict(
                "the resident opted out of messages from the town hall", code="opted_out"
            )
    elif text is not None:
        reply = TextReply(text=_expanded(definition, _text(text, "text"), language))
        if not resident.window_open(now):
            raise Conflict(
                "more than 24 hours since the resident last wrote: WhatsApp only lets us send "
                f"an approved template (e.g. {REOPEN_TEMPLATE})",
                code=WINDOW_CLOSED,
            )
    else:
        raise Invalid("write a message or choose a template", field="text")
    return _send(actor, conversation, resident, reply, definition, ports, now, new_id)


def send_agent_attachment(
    actor: Agent,
    conversation_id: str,
    *,
    filename: str,
    mime_type: str,
    content: bytes,
    caption: str | None = None,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> StoredMessage:
    """A file sent inside the window: kept in the media archive (so the console shows it like
    the residents' files), uploaded to WhatsApp, and sent by its media id."""
    conversation = _workable(actor, conversation_id, ports)
    if ports.media_archive is None or ports.media_uploader is None:
        raise Unavailable("this installation cannot send files")
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not filename or len(filename) > FILENAME_MAX:
        raise Invalid(f"a file name of 1 to {FILENAME_MAX} characters", field="filename")
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    if not MIME_TYPE.fullmatch(mime):
        raise Invalid("not a file type (e.g. image/jpeg)", field="mime_type")
    if not content:
        raise Invalid("the file is empty", field="data_base64")
    if len(content) > ATTACHMENT_MAX_BYTES:
        raise Invalid("files are limited to 4 MB", field="data_base64")
    kind = _media_kind(mime)
    caption = (caption or "").strip() or None
    if caption is not None and (kind == "audio" or len(caption) > CAPTION_MAX):
        raise Invalid(
            f"audio takes no caption; others at most {CAPTION_MAX} characters", field="caption"
        )
    resident = _resident_of(conversation, ports)
    if not resident.window_open(now):
        raise Conflict(
            "more than 24 hours since the resident last wrote: files cannot be sent until "
            "they write again",
            code=WINDOW_CLOSED,
        )
    message_id = new_id()
    key = f"residents/{resident.key}/outbound/{message_id}"
    ports.media_archive.put(key, content, mime)
    media_id = _uploaded(ports.media_uploader, content, mime, filename)
    reply = MediaReply(
        media_type=kind,
        media_id=media_id,
        caption=caption,
        filename=filename if kind == "document" else None,
    )
    return _send(
        actor,
        conversation,
        resident,
        reply,
        definition,
        ports,
        now,
        new_id,
        message_id=message_id,
        media_key=key,
    )


def _send(
    actor: Agent,
    conversation: Conversation,
    resident: Resident,
    reply: Reply,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
    *,
    message_id: str | None = None,
    media_key: str | None = None,
) -> StoredMessage:
    try:
        build_message_payload(resident.recipient, reply)  # Meta's limits, checked before storing
    except PayloadError as error:
        raise Invalid(f"WhatsApp would refuse this message: {error}") from None
    message = queued_message(
        message_id or new_id(),
        reply,
        resident_key=resident.key,
        recipient=resident.recipient,
        conversation_id=conversation.id,
        priority=Priority.REPLY,
        sent_by=actor.id,
        now=now,
    )
    if media_key is not None:
        message = dataclasses.replace(message, media_key=media_key)
    taken, load, events = _take_if_unassigned(actor, conversation, definition, now, new_id)
    answered = record_first_response(taken, definition.sla, clock_for(definition), now)
    answered = with_next_check(
        dataclasses.replace(
            answered, updated_at=now, last_message_at=now, preview=preview_of(reply_summary(reply))
        ),
        definition,
    )
    apply_change(
        ports,
        ConversationChange(
            conversation=answered,
            load=load,
            events=(*events, message),
            assigned_at=now if load else None,
        ),
    )
    ports.outbound.enqueue([message.id], Priority.REPLY)
    if ports.audit is not None:  # after the send: a failed entry is logged, the reply stands
        ports.audit.record_quietly(
            resident.key,
            actor=agent_actor(actor.id),
            action=AuditAction.MESSAGED,
            at=now,
            detail=f"{reply_kind(reply)} in conversation {conversation.id}",
        )
    if conversation.first_response_at is None and answered.first_response_at is not None:
        metrics.add_metric(name="FirstResponses", unit=MetricUnit.Count, value=1)
    return message


def _uploaded(uploader: MediaUploader, content: bytes, mime: str, filename: str) -> str:
    """The media id; Unavailable when trying again may work (no answer, Meta's temporary or
    rate-limit errors), Invalid when Meta refused the file."""
    try:
        return uploader.upload_media(content, mime, filename)
    except GraphApiError as error:
        if classify(error.code, http_status=error.http_status).should_retry:
            logger.warning("WhatsApp failed for now", extra={"reason": str(error)})
            raise Unavailable(WHATSAPP_UNAVAILABLE) from None
        raise Invalid(f"WhatsApp refused the file: {error.title}", field="data_base64") from None
    except OSError as error:  # timeouts and connection faults (requests' errors are OSErrors)
        logger.warning("WhatsApp did not answer", extra={"reason": type(error).__name__})
        raise Unavailable(WHATSAPP_UNAVAILABLE) from None


def _template_reply(
    definition: MunicipalityDefinition, name: str, params: Sequence[str], language: str
) -> TemplateReply:
    template = definition.templates.get(name)
    if template is None:
        raise Invalid(f"no approved template called {name!r}", field="template")
    if language not in template.languages:
        raise Invalid(
            f"{name!r} is not approved in the resident's language ({language})", field="template"
        )
    values = tuple(str(param).strip() for param in params)
    if len(values) > TEMPLATE_PARAMS_MAX or not all(values):
        raise Invalid(
            f"every parameter needs a value (at most {TEMPLATE_PARAMS_MAX})", field="params"
        )
    expected = _parameter_count(definition, name)
    if expected is not None and len(values) != expected:
        raise Invalid(f"{name!r} takes {expected} parameters", field="params")
    return TemplateReply(
        name=name, language=definition.template_language_code(language), body_params=values
    )


def _parameter_count(definition: MunicipalityDefinition, name: str) -> int | None:
    """How many body parameters the template takes (domain.templates); None when unknown."""
    from chalicelib.domain.templates import template_parameter_count

    return template_parameter_count(definition, name)


def _expanded(definition: MunicipalityDefinition, text: str, language: str) -> str:
    """A message that is exactly a quick-reply shortcut ("/horario") is its text."""
    for quick in definition.quick_replies:
        if quick.shortcut.casefold() == text.casefold():
            return quick.text.get(language) or quick.text[definition.default_language]
    return text


def _media_kind(mime: str) -> str:
    major = mime.split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "document"


# --- notes ------------------------------------------------------------------------------------


def add_note(
    actor: Agent,
    conversation_id: str,
    text: str,
    *,
    definition: MunicipalityDefinition | None = None,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> StoredMessage:
    """An internal note: stored with the conversation, never sent."""
    conversation = visible_conversation(actor, conversation_id, ports)
    note = _note(actor, conversation, _text(text, "text"), now, new_id)
    _add_events(ports, conversation, (note,), now)
    return note


def _note(
    actor: Agent, conversation: Conversation, text: str, now: datetime, new_id: Callable[[], str]
) -> StoredMessage:
    return internal_message(conversation, "note", text, by=actor.id, now=now, new_id=new_id)


def _add_events(
    ports: ConsolePorts,
    conversation: Conversation,
    events: tuple[StoredMessage, ...],
    now: datetime,
) -> None:
    """Entries that do not depend on the conversation's state: a clash is retried, not shown."""
    for _ in range(_RETRIES):
        try:
            ports.conversations.apply(
                ConversationChange(
                    conversation=dataclasses.replace(conversation, updated_at=now), events=events
                )
            )
            return
        except ConcurrentUpdateError:
            fresh = ports.conversations.get(conversation.id)
            if fresh is None:
                raise NotFound("no such conversation") from None
            conversation = fresh
    raise Conflict("the conversation is changing a lot: try again", code=CHANGED)


# --- who has it -------------------------------------------------------------------------------


def assign(
    actor: Agent,
    conversation_id: str,
    agent_id: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Conversation:
    """Agents take their teams' conversations or give them to a teammate; supervisors give any
    conversation to anyone (it stays in its team)."""
    conversation = _workable(actor, conversation_id, ports)
    target = _agent(ports, agent_id)
    team = conversation.team
    if not actor.sees_all:
        if team is None or team not in actor.teams:
            raise Forbidden("only your teams' conversations can be assigned by you")
        if team not in target.teams:
            raise Invalid(f"{target.name} is not in this conversation's team", field="agent_id")
    if team is None:
        team = target.teams[0] if target.teams else definition.fallback_team.id
    if conversation.status is ConversationStatus.ASSIGNED and conversation.assignee == target.id:
        return conversation
    previous = conversation.holder
    taken = assigned_to(conversation, target.id, team=team, now=now)
    taken = with_next_check(
        start_sla(taken, definition.sla, clock_for(definition), now), definition
    )
    summary = "took it" if target.id == actor.id else f"assigned to {target.name}"
    event = timeline_event(
        taken,
        "assigned",
        summary,
        by=actor.id,
        now=now,
        new_id=new_id,
        agent=target.id,
        previous=previous,
    )
    return apply_change(
        ports,
        ConversationChange(
            conversation=taken,
            load=_load({target.id: 1}, {previous: -1}),
            events=(event,),
            assigned_at=now,
        ),
    )


def transfer(
    actor: Agent,
    conversation_id: str,
    *,
    team: str,
    agent_id: str | None = None,
    note: str | None = None,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Conversation:
    """To another team's queue (its agents are offered it at once), or straight to one of its
    agents."""
    conversation = _workable(actor, conversation_id, ports)
    if team not in definition.teams:
        raise Invalid("no such team", field="team")
    note_text = _text(note, "note") if note is not None and note.strip() else None
    previous = conversation.holder
    target = _agent(ports, agent_id) if agent_id else None
    if target is not None:
        if team not in target.teams:
            raise Invalid(f"{target.name} is not in that team", field="agent_id")
        moved = assigned_to(conversation, target.id, team=team, now=now)
        load = _load({target.id: 1}, {previous: -1})
    else:
        # Nobody is preferred in the new queue: it went there to be someone else's.
        moved = dataclasses.replace(queued_for(conversation, team=team, now=now), last_agent=None)
        load = _load({previous: -1})
    moved = with_next_check(
        start_sla(moved, definition.sla, clock_for(definition), now), definition
    )
    to_whom = f"{definition.teams[team].name}" + (f" ({target.name})" if target else "")
    events = [
        timeline_event(
            moved,
            "transferred",
            f"transferred to {to_whom}",
            by=actor.id,
            now=now,
            new_id=new_id,
            from_team=conversation.team,
            to_team=team,
            agent=target.id if target else None,
            previous=previous,
        )
    ]
    if note_text is not None:
        events.append(_note(actor, moved, note_text, now, new_id))
    saved = apply_change(
        ports,
        ConversationChange(
            conversation=moved,
            load=load,
            events=tuple(events),
            assigned_at=now if target else None,
        ),
    )
    assign_waiting(team, definition=definition, ports=ports, now=now, new_id=new_id)
    return ports.conversations.get(saved.id) or saved


def resolve(
    actor: Agent,
    conversation_id: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Conversation:
    """Closed; the resident is asked to rate it when WhatsApp allows and they did not opt out.
    Resolving a resolved conversation changes nothing."""
    conversation = visible_conversation(actor, conversation_id, ports)
    if conversation.status is ConversationStatus.RESOLVED:
        return conversation
    resident = ports.residents.get(conversation.resident_key)
    state, questions = _closing_turn(definition, conversation, resident, now)
    previous = conversation.holder
    resolved = dataclasses.replace(
        conversation,
        status=ConversationStatus.RESOLVED,
        resolved_at=now,
        updated_at=now,
        bot_state=state,
        snoozed_until=None,
        sla_next_check=None,
        last_agent=conversation.assignee or actor.id,  # reopening gives it back to them
    )
    survey = tuple(
        queued_bot_reply(new_id(), question, resident, conversation.id, now)
        for question in questions
        if resident is not None
    )
    event = timeline_event(
        resolved,
        "resolved",
        "resolved",
        by=actor.id,
        now=now,
        new_id=new_id,
        csat_asked=bool(survey),
    )
    saved = apply_change(
        ports,
        ConversationChange(
            conversation=resolved, load=_load({previous: -1}), events=(event, *survey)
        ),
    )
    if survey:
        ports.outbound.enqueue([message.id for message in survey], Priority.REPLY)
    metrics.add_metric(name="ConversationsResolved", unit=MetricUnit.Count, value=1)
    logger.info(
        "conversation resolved",
        extra={"conversation": conversation.id, "by": actor.id, "csat_asked": bool(survey)},
    )
    return saved


def _closing_turn(
    definition: MunicipalityDefinition,
    conversation: Conversation,
    resident: Resident | None,
    now: datetime,
) -> tuple[dict[str, Any], tuple[Reply, ...]]:
    """The bot's state once the conversation is resolved, and the satisfaction question when it
    may be asked: configured, inside the window, and never to a resident who opted out."""
    language = _language(definition, conversation, resident)
    csat = definition.csat
    ask = (
        resident is not None
        and csat is not None
        and csat.ask_after_resolution
        and not resident.opted_out
        and resident.window_open(now)
    )
    if not ask:
        return {"language": language}, ()
    turn = ask_csat(definition, language)
    return dict(turn.state), tuple(turn.replies)


def snooze(
    actor: Agent,
    conversation_id: str,
    until: datetime,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Conversation:
    """Put aside until `until` (future, at most 30 days); it comes back to the top of its
    agent's inbox then. Nobody's conversation becomes the actor's."""
    conversation = _workable(actor, conversation_id, ports)
    if until.tzinfo is None or until.utcoffset() is None:
        raise Invalid("give the time with its UTC offset", field="until")
    if until <= now:
        raise Invalid("choose a moment in the future", field="until")
    if until - now > SNOOZE_MAX:
        raise Invalid("at most 30 days ahead", field="until")
    taken, load, events = _take_if_unassigned(actor, conversation, definition, now, new_id)
    snoozed = dataclasses.replace(
        taken,
        status=ConversationStatus.SNOOZED,
        snoozed_until=until.astimezone(UTC),
        updated_at=now,
    )
    snoozed = with_next_check(snoozed, definition)
    event = timeline_event(
        snoozed,
        "snoozed",
        f"snoozed until {iso(snoozed.snoozed_until)}",
        by=actor.id,
        now=now,
        new_id=new_id,
        until=iso(snoozed.snoozed_until),
    )
    return apply_change(
        ports,
        ConversationChange(
            conversation=snoozed,
            load=load,
            events=(*events, event),
            assigned_at=now if load else None,
        ),
    )


def reopen(
    actor: Agent,
    conversation_id: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Conversation:
    """A resolved conversation, still the resident's latest, goes back to whoever had it when
    they are available and have room, else to its team's queue. The resolution target
    restarts from now (in business time): a conversation resolved on time long ago is not
    late the moment it reopens. The first response keeps its outcome."""
    conversation = visible_conversation(actor, conversation_id, ports)
    if conversation.status is not ConversationStatus.RESOLVED:
        raise Conflict("only a resolved conversation can be reopened", code="not_resolved")
    resident = ports.residents.get(conversation.resident_key)
    if resident is None or resident.current_conversation_id != conversation.id:
        raise Conflict(
            "the resident has written since in a new conversation: answer there",
            code="superseded",
        )
    team = conversation.team if conversation.team in definition.teams else None
    team = team or definition.fallback_team.id
    clock = clock_for(definition)
    base = restart_resolution(
        dataclasses.replace(conversation, resolved_at=None), definition.sla, clock, now
    )
    last = ports.agents.get(conversation.last_agent) if conversation.last_agent else None

    def event(agent: Agent | None) -> StoredMessage:
        whom = f"back to {agent.name}" if agent else f"to the {definition.teams[team].name} queue"
        return timeline_event(
            base,
            "reopened",
            f"reopened: {whom}",
            by=actor.id,
            now=now,
            new_id=new_id,
            agent=agent.id if agent else None,
            team=team,
        )

    if last is not None and last.has_room():
        back = with_next_check(assigned_to(base, last.id, team=team, now=now), definition)
        try:
            ports.conversations.apply(
                ConversationChange(
                    conversation=back,
                    load={last.id: 1},
                    requires_room=last.id,
                    events=(event(last),),
                    assigned_at=now,
                )
            )
            return dataclasses.replace(back, version=back.version + 1)
        except CapacityReachedError:
            pass  # full or gone since we looked: the queue, then
        except ConcurrentUpdateError:
            raise Conflict(
                "the conversation changed meanwhile: reload and try again", code=CHANGED
            ) from None
    queued = with_next_check(queued_for(base, team=team, now=now), definition)
    saved = apply_change(ports, ConversationChange(conversation=queued, events=(event(None),)))
    assign_waiting(team, definition=definition, ports=ports, now=now, new_id=new_id)
    return ports.conversations.get(saved.id) or saved


# --- the resident's tags ----------------------------------------------------------------------


def set_tags(
    actor: Agent,
    conversation_id: str,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    *,
    definition: MunicipalityDefinition | None = None,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> tuple[str, ...]:
    """The resident's contact tags (routing rules read them); returns them all."""
    conversation = visible_conversation(actor, conversation_id, ports)
    adding, removing = _tags(add), _tags(remove)
    resident = _resident_of(conversation, ports)
    if resident.consent is not ConsentState.GIVEN:
        raise Conflict(
            "the resident has not accepted the privacy notice: nothing is kept about them",
            code="no_consent",
        )
    current = list(resident.tags)
    tags = [tag for tag in current if tag not in removing]
    tags += [tag for tag in adding if tag not in tags]
    if tags == current:
        return tuple(current)
    if len(tags) > TAGS_MAX:
        raise Invalid(f"at most {TAGS_MAX} tags", field="tags")
    try:
        ports.conversations.set_resident_tags(resident.key, tags)
    except KeyError:  # erased since it was read
        raise NotFound(RESIDENT_GONE) from None
    added = [tag for tag in tags if tag not in current]
    removed = [tag for tag in current if tag not in tags]
    summary = " ".join([*(f"+{tag}" for tag in added), *(f"-{tag}" for tag in removed)])
    event = timeline_event(
        conversation,
        "tagged",
        f"tags {summary}",
        by=actor.id,
        now=now,
        new_id=new_id,
        added=added,
        removed=removed,
    )
    _add_events(ports, conversation, (event,), now)
    return tuple(tags)


def _tags(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    tags: list[str] = []
    for value in values:
        tag = str(value).strip().lower()
        if not TAG.fullmatch(tag):
            raise Invalid(
                f"{value!r}: tags are 1 to 32 letters a-z, digits, '-' or '_'", field="tags"
            )
        if tag not in tags:
            tags.append(tag)
    return tags


# --- shared -----------------------------------------------------------------------------------


def _workable(actor: Agent, conversation_id: str, ports: ConsolePorts) -> Conversation:
    conversation = visible_conversation(actor, conversation_id, ports)
    if conversation.status is ConversationStatus.RESOLVED:
        raise Conflict("the conversation is resolved: reopen it first", code="resolved")
    return conversation


def _resident_of(conversation: Conversation, ports: ConsolePorts) -> Resident:
    resident = ports.residents.get(conversation.resident_key)
    if resident is None:
        raise NotFound(RESIDENT_GONE)
    return resident


def _agent(ports: ConsolePorts, agent_id: str | None) -> Agent:
    agent = ports.agents.get(agent_id_for(agent_id)) if agent_id else None
    if agent is None or agent.disabled:
        raise Invalid("no such agent", field="agent_id")
    return agent


def _take_if_unassigned(
    actor: Agent,
    conversation: Conversation,
    definition: MunicipalityDefinition,
    now: datetime,
    new_id: Callable[[], str],
) -> tuple[Conversation, dict[str, int], tuple[StoredMessage, ...]]:
    """Working on nobody's conversation makes it the actor's."""
    if conversation.holder is not None:
        return conversation, {}, ()
    team = conversation.team if conversation.team in definition.teams else None
    team = team or (actor.teams[0] if actor.teams else definition.fallback_team.id)
    taken = assigned_to(conversation, actor.id, team=team, now=now)
    taken = start_sla(taken, definition.sla, clock_for(definition), now)
    event = timeline_event(
        taken,
        "assigned",
        "took it",
        by=actor.id,
        now=now,
        new_id=new_id,
        agent=actor.id,
        previous=None,
    )
    return taken, {actor.id: 1}, (event,)


def _load(*changes: Mapping[str | None, int]) -> dict[str, int]:
    """Agents' open_count changes, summed; no entry for nobody or for no change."""
    total: dict[str, int] = {}
    for change in changes:
        for agent_id, delta in change.items():
            if agent_id is not None:
                total[agent_id] = total.get(agent_id, 0) + delta
    return {agent_id: delta for agent_id, delta in total.items() if delta}


def _language(
    definition: MunicipalityDefinition, conversation: Conversation, resident: Resident | None
) -> str:
    """The conversation's language once set, else the resident's, else the town's."""
    return (
        definition.supported_language(conversation.bot_state.get("language"))
        or definition.supported_language(resident.language if resident else None)
        or definition.default_language
    )


def _text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid("the text is empty", field=field)
    if len(text) > TEXT_MAX:
        raise Invalid(f"at most {TEXT_MAX} characters", field=field)
    return text
