"""What agents do to a conversation, in memory: each action's state, timeline event, the agents'
load, and what reaches the resident."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.agents import Role
from chalicelib.domain.bot.state import Mode, read_state
from chalicelib.domain.conversations import ConversationStatus, SlaTarget
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority
from chalicelib.domain.replies import MediaReply, MenuReply, TemplateReply, TextReply
from chalicelib.domain.residents import ConsentState
from chalicelib.domain.sla import clock_for
from chalicelib.services.agent_actions import (
    ATTACHMENT_MAX_BYTES,
    add_note,
    assign,
    reopen,
    resolve,
    send_agent_attachment,
    send_agent_reply,
    set_tags,
    snooze,
    transfer,
)
from chalicelib.services.check_slas import SlaRun, check_slas
from chalicelib.services.console_context import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
)
from chalicelib.services.console_conversation import conversation_history, media_link
from chalicelib.services.console_ports import InboxView
from chalicelib.services.ports import GraphApiError
from tests.services.conftest import NOW
from tests.services.console_world import Console

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


# --- replies ----------------------------------------------------------------------------------


def test_a_reply_is_queued_in_the_conversation_and_reaches_the_resident(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    message = send_agent_reply(ana, conversation.id, text="  Bom dia! Já vejo.  ", **console.deps())

    assert message.direction is Direction.OUTBOUND and message.status is DeliveryStatus.QUEUED
    assert message.sent_by == ana.id and message.conversation_id == conversation.id
    assert message.body == "Bom dia! Já vejo."
    assert (message.id, Priority.REPLY) in console.world.outbound.enqueued
    saved = console.get(conversation.id)
    assert saved.preview == "Bom dia! Já vejo." and saved.last_message_at == NOW
    console.world.send_all()
    [(recipient, reply)] = console.world.sender.sent
    assert recipient == conversation.resident_key.removeprefix("wa:")
    assert reply == TextReply(text="Bom dia! Já vejo.")
    assert console.world.messages.get(message.id).status is DeliveryStatus.SENT


def test_the_first_reply_records_the_first_response_once(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    assert console.get(conversation.id).first_response_at is None

    send_agent_reply(ana, conversation.id, text="Olá", **console.deps())
    later = NOW + timedelta(minutes=5)
    send_agent_reply(ana, conversation.id, text="Mais uma coisa", **console.deps(now=later))

    saved = console.get(conversation.id)
    assert saved.first_response_at == NOW
    # the first-response target is met: only the resolution is watched now
    assert saved.sla_next_check is not None and saved.sla_next_check > saved.first_response_due


def test_replying_to_a_queued_conversation_makes_it_yours(console: Console) -> None:
    ana = console.agent("Ana", "front_desk", online=False)
    conversation = console.waiting("front_desk")

    send_agent_reply(ana, conversation.id, text="Eu trato disto", **console.deps())

    saved = console.get(conversation.id)
    assert saved.status is ConversationStatus.ASSIGNED and saved.assignee == ana.id
    assert saved.last_agent == ana.id and saved.assigned_at == NOW
    assert console.fresh_agent(ana.id).open_count == 1
    assert console.events(conversation.id) == ["assigned"]


def test_a_quick_reply_shortcut_becomes_its_text_in_the_residents_language(
    console: Console,
) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana, language="es")

    message = send_agent_reply(ana, conversation.id, text="/horario", **console.deps())

    quick = console.definition.quick_replies[0]
    assert message.payload["text"] == quick.text["es"]
    other = send_agent_reply(ana, conversation.id, text="/horario amanhã", **console.deps())
    assert other.payload["text"] == "/horario amanhã"  # only the shortcut alone is expanded


def test_free_text_after_24_hours_is_refused_and_nothing_is_stored(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana, at=NOW - timedelta(hours=25))
    before = len(console.timeline(conversation.id))

    with pytest.raises(Conflict) as refused:
        send_agent_reply(ana, conversation.id, text="Olá?", **console.deps())

    assert refused.value.code == "window_closed" and refused.value.status == 409
    assert len(console.timeline(conversation.id)) == before
    assert console.world.outbound.enqueued == []


def test_a_template_may_be_sent_after_24_hours(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana, at=NOW - timedelta(hours=30), language="en")

    message = send_agent_reply(
        ana, conversation.id, template="reopen_conversation", **console.deps()
    )

    assert message.message_type == "template"
    console.world.send_all()
    [(_, reply)] = console.world.sender.sent
    assert reply == TemplateReply(name="reopen_conversation", language="en")


def test_templates_are_checked_against_the_configuration(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    arabic = console.held_by(ana, language="ar")
    portuguese = console.held_by(ana, language="pt")

    cases = [
        (arabic.id, {"template": "no_such_template"}, "template"),
        (arabic.id, {"template": "payment_due", "params": ["a", "b", "c", "d"]}, "template"),
        (portuguese.id, {"template": "licence_renewal", "params": ["Maria"]}, "params"),
        (portuguese.id, {"template": "licence_renewal", "params": ["Maria", " ", "x"]}, "params"),
        (portuguese.id, {"text": "olá", "template": "reopen_conversation"}, "text"),
        (portuguese.id, {}, "text"),
        (portuguese.id, {"text": "   "}, "text"),
    ]
    for conversation_id, arguments, field in cases:
        with pytest.raises(Invalid) as refused:
            send_agent_reply(ana, conversation_id, **arguments, **console.deps())
        assert refused.value.field == field, arguments

    sent = send_agent_reply(
        ana,
        portuguese.id,
        template="licence_renewal",
        params=["Maria", "01/03/2027", "https://example.org/renew"],
        **console.deps(),
    )
    assert list(sent.payload["body_params"]) == ["Maria", "01/03/2027", "https://example.org/renew"]
    # checked against the config's "pt"; sent under the code Meta approved it as
    assert sent.payload["language"] == "pt_PT"
    console.world.send_all()
    assert console.world.sender.sent[-1][1] == TemplateReply(
        name="licence_renewal",
        language="pt_PT",
        body_params=("Maria", "01/03/2027", "https://example.org/renew"),
    )


def test_a_resolved_conversation_takes_no_reply(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    resolve(ana, conversation.id, **console.deps())

    with pytest.raises(Conflict) as refused:
        send_agent_reply(ana, conversation.id, text="Olá", **console.deps())
    assert refused.value.code == "resolved"


# --- attachments ------------------------------------------------------------------------------


def test_a_photo_is_kept_uploaded_and_sent_by_id(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    message = send_agent_attachment(
        ana,
        conversation.id,
        filename="C:\\fotos\\buraco.jpg",
        mime_type="image/jpeg",
        content=JPEG,
        caption="Já está reparado",
        **console.deps(),
    )

    key = f"residents/{conversation.resident_key}/outbound/{message.id}"
    assert message.media_key == key
    assert console.archive.get(key) == (JPEG, "image/jpeg")
    assert console.uploader.uploads == [(JPEG, "image/jpeg", "buraco.jpg")]
    assert media_link(ana, conversation.id, message.id, ports=console.ports) == f"memory://{key}"
    console.world.send_all()
    [(_, reply)] = console.world.sender.sent
    assert reply == MediaReply(media_type="image", media_id="media-1", caption="Já está reparado")


def test_other_files_go_as_documents_with_their_name(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    message = send_agent_attachment(
        ana,
        conversation.id,
        filename="declaração.pdf",
        mime_type="application/pdf",
        content=b"%PDF-1.7 ...",
        **console.deps(),
    )

    assert message.payload["media_type"] == "document"
    assert message.payload["filename"] == "declaração.pdf"


def test_attachments_are_refused_when_too_big_odd_or_late(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    late = console.held_by(ana, at=NOW - timedelta(hours=24, seconds=1))

    def attach(conversation_id: str, **overrides):
        arguments = {"filename": "a.jpg", "mime_type": "image/jpeg", "content": JPEG}
        return send_agent_attachment(
            ana, conversation_id, **(arguments | overrides), **console.deps()
        )

    for overrides, field in [
        ({"content": b"x" * (ATTACHMENT_MAX_BYTES + 1)}, "data_base64"),
        ({"content": b""}, "data_base64"),
        ({"mime_type": "jpeg"}, "mime_type"),
        ({"filename": "  "}, "filename"),
        ({"mime_type": "audio/ogg", "caption": "ouça"}, "caption"),
    ]:
        with pytest.raises(Invalid) as refused:
            attach(conversation.id, **overrides)
        assert refused.value.field == field
    with pytest.raises(Conflict) as closed:
        attach(late.id)
    assert closed.value.code == "window_closed"
    assert console.uploader.uploads == [] and console.archive.keys() == []


class FailingUploader:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        raise self.error


def test_an_upload_whatsapp_fails_for_now_is_try_again_and_one_it_refuses_is_invalid(
    console: Console,
) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    def attach(error: Exception) -> None:
        ports = dataclasses.replace(console.ports, media_uploader=FailingUploader(error))
        send_agent_attachment(
            ana,
            conversation.id,
            filename="a.jpg",
            mime_type="image/jpeg",
            content=JPEG,
            **console.deps(ports=ports),
        )

    for error in (
        GraphApiError(2, "Service temporarily unavailable", http_status=500),
        GraphApiError(4, "Application request limit reached", http_status=429),
        ConnectionError("no answer"),
    ):
        with pytest.raises(Unavailable):
            attach(error)
    with pytest.raises(Invalid) as refused:
        attach(GraphApiError(131053, "Media upload error", http_status=400))
    assert refused.value.field == "data_base64"
    assert "Media upload error" in refused.value.message
    with pytest.raises(ValueError):  # anything else is a bug, not WhatsApp's answer
        attach(ValueError("bug"))
    assert console.world.outbound.enqueued == []


def test_media_links_only_for_files_of_that_conversation(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    first, second = console.held_by(ana), console.held_by(ana)
    photo = send_agent_attachment(
        ana, first.id, filename="a.jpg", mime_type="image/jpeg", content=JPEG, **console.deps()
    )
    text = send_agent_reply(ana, first.id, text="olá", **console.deps())

    for conversation_id, message_id in [
        (second.id, photo.id),  # another conversation's file
        (first.id, text.id),  # no file
        (first.id, "missing"),
    ]:
        with pytest.raises(NotFound):
            media_link(ana, conversation_id, message_id, ports=console.ports)


# --- notes ------------------------------------------------------------------------------------


def test_a_note_is_kept_with_the_conversation_and_never_sent(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    note = add_note(ana, conversation.id, "Ligar amanhã de manhã", **console.deps())

    assert note.direction is Direction.NOTE and note.message_type == "note"
    assert note.body == "Ligar amanhã de manhã" and note.sent_by == ana.id
    history = conversation_history(ana, conversation.id, ports=console.ports)
    assert history.items[0].id == note.id
    assert console.world.outbound.enqueued == []
    console.world.send_all()
    assert console.world.sender.sent == []
    with pytest.raises(Invalid):
        add_note(ana, conversation.id, " ", **console.deps())


def test_the_history_can_be_polled_for_what_is_new(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    add_note(ana, conversation.id, "primeira", **console.deps())
    later = NOW + timedelta(seconds=10)
    newer = add_note(ana, conversation.id, "segunda", **console.deps(now=later))

    page = conversation_history(ana, conversation.id, ports=console.ports, after=NOW)

    assert [m.id for m in page.items] == [newer.id]
    with pytest.raises(Invalid) as refused:
        conversation_history(ana, conversation.id, ports=console.ports, cursor="%%%")
    assert refused.value.field == "cursor"


# --- assignment by hand -----------------------------------------------------------------------


def test_an_agent_takes_a_conversation_of_their_team(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.waiting("front_desk")

    saved = assign(ana, conversation.id, ana.id, **console.deps())

    assert saved.status is ConversationStatus.ASSIGNED and saved.assignee == ana.id
    assert saved.last_agent == ana.id and saved.assigned_at == NOW
    state = read_state(saved.bot_state)
    assert state.mode is Mode.WITH_PERSON and state.team == "front_desk"
    assert state.language == "pt"
    agent = console.fresh_agent(ana.id)
    assert agent.open_count == 1 and agent.last_assigned_at == NOW
    [event] = [m for m in console.timeline(conversation.id) if m.message_type == "event"]
    assert event.payload == {"event": "assigned", "agent": ana.id, "previous": None}
    assert event.sent_by == ana.id and event.direction is Direction.NOTE


def test_handing_to_a_teammate_moves_the_load(console: Console) -> None:
    ana, bruno = console.agent("Ana", "front_desk"), console.agent("Bruno", "front_desk")
    conversation = console.held_by(ana)

    saved = assign(ana, conversation.id, "BRUNO@town.example", **console.deps())

    assert saved.assignee == bruno.id
    assert console.fresh_agent(ana.id).open_count == 0
    assert console.fresh_agent(bruno.id).open_count == 1
    assert assign(bruno, conversation.id, bruno.id, **console.deps()).version == saved.version


def test_agents_assign_only_within_the_team(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    fabio = console.agent("Fabio", "finance")
    conversation = console.waiting("front_desk")

    with pytest.raises(Invalid) as outsider:
        assign(ana, conversation.id, fabio.id, **console.deps())
    assert outsider.value.field == "agent_id"
    with pytest.raises(Invalid):
        assign(ana, conversation.id, "nobody@town.example", **console.deps())
    with pytest.raises(NotFound):  # another team's conversation does not exist for Fabio
        assign(fabio, conversation.id, fabio.id, **console.deps())


def test_a_supervisor_assigns_anyone_and_the_team_stays(console: Console) -> None:
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    fabio = console.agent("Fabio", "finance")
    conversation = console.waiting("public_works")

    saved = assign(sara, conversation.id, fabio.id, **console.deps())

    assert saved.assignee == fabio.id and saved.team == "public_works"
    # Fabio sees it now (it is his), though public works is not his team
    assert [c.id for c in console.conversations.inbox(InboxView.MINE, fabio.id).items] == [
        conversation.id
    ]


# --- transfer ---------------------------------------------------------------------------------


def test_a_transfer_to_another_team_offers_it_to_that_team(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    fabio = console.agent("Fabio", "finance")
    conversation = console.held_by(ana)

    saved = transfer(
        ana, conversation.id, team="finance", note="Pergunta sobre o IMI", **console.deps()
    )

    assert saved.team == "finance" and saved.assignee == fabio.id
    assert saved.status is ConversationStatus.ASSIGNED
    assert read_state(saved.bot_state).team == "finance"
    assert console.fresh_agent(ana.id).open_count == 0
    assert console.fresh_agent(fabio.id).open_count == 1
    timeline = console.timeline(conversation.id)
    assert [m.payload.get("event", m.message_type) for m in timeline] == [
        "assigned",
        "transferred",
        "note",
        "assigned",
    ]
    moved = timeline[1].payload
    assert moved["from_team"] == "front_desk" and moved["to_team"] == "finance"
    assert timeline[2].body == "Pergunta sobre o IMI"
    # and Ana, not in finance, cannot see it any more
    with pytest.raises(NotFound):
        send_agent_reply(ana, conversation.id, text="olá", **console.deps())


def test_a_transfer_back_to_the_queue_goes_to_a_teammate(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    bruno = console.agent("Bruno", "front_desk", online=False)
    conversation = console.held_by(ana)
    console.agents.set_online(ana.id, False, NOW)

    queued = transfer(ana, conversation.id, team="front_desk", **console.deps())

    assert queued.status is ConversationStatus.QUEUED and queued.assignee is None
    assert queued.last_agent is None  # no preference for the one who let it go
    assert console.fresh_agent(ana.id).open_count == 0
    console.agents.set_online(ana.id, True, NOW)
    console.agents.set_online(bruno.id, True, NOW)
    from chalicelib.services.assign_conversations import assign_waiting

    assign_waiting("front_desk", **console.deps())
    # equally busy: the one who waited longest for a conversation takes it
    assert console.get(conversation.id).assignee == bruno.id


def test_a_transfer_straight_to_an_agent(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    paulo = console.agent("Paulo", "public_works", online=False)
    conversation = console.held_by(ana)

    saved = transfer(ana, conversation.id, team="public_works", agent_id=paulo.id, **console.deps())

    assert saved.assignee == paulo.id and saved.team == "public_works"
    assert console.fresh_agent(paulo.id).open_count == 1
    with pytest.raises(Invalid) as refused:
        transfer(paulo, conversation.id, team="nowhere", **console.deps())
    assert refused.value.field == "team"
    with pytest.raises(Invalid):
        transfer(paulo, conversation.id, team="finance", agent_id=ana.id, **console.deps())


# --- resolve ----------------------------------------------------------------------------------


def test_resolving_closes_asks_for_a_rating_and_frees_the_agent(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    saved = resolve(ana, conversation.id, **console.deps())

    assert saved.status is ConversationStatus.RESOLVED and saved.resolved_at == NOW
    assert saved.sla_next_check is None and saved.last_agent == ana.id
    assert read_state(saved.bot_state).mode is Mode.AWAITING_CSAT
    assert console.fresh_agent(ana.id).open_count == 0
    assert console.events(conversation.id) == ["assigned", "resolved"]
    console.world.send_all()
    [(_, survey)] = console.world.sender.sent
    assert isinstance(survey, MenuReply)
    assert survey.body == console.definition.csat.question["pt"]
    # resolving again changes nothing
    assert resolve(ana, conversation.id, **console.deps()).version == saved.version
    assert console.fresh_agent(ana.id).open_count == 0


def test_an_operator_resolving_from_the_command_line_frees_the_agent_too(
    console: Console,
) -> None:
    from chalicelib.services.resolve_conversation import resolve_conversation

    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    resolution = resolve_conversation(
        conversation.resident_key, resolved_by="operator", **console.deps()
    )

    assert resolution.conversation_id == conversation.id and resolution.csat_asked
    assert console.fresh_agent(ana.id).open_count == 0
    assert console.events(conversation.id) == ["assigned", "resolved"]


def test_no_rating_is_asked_after_stop_or_outside_the_window(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    stopped = console.held_by(ana, opted_out=True)
    late = console.held_by(ana, at=NOW - timedelta(hours=25))

    for conversation in (stopped, late):
        saved = resolve(ana, conversation.id, **console.deps())
        assert saved.status is ConversationStatus.RESOLVED
        assert read_state(saved.bot_state).mode is Mode.MENU
    assert console.world.outbound.enqueued == []


# --- snooze -----------------------------------------------------------------------------------


def test_snoozing_puts_it_aside_until_a_moment(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.waiting("front_desk")
    until = NOW + timedelta(hours=2)

    saved = snooze(ana, conversation.id, until, **console.deps())

    assert saved.status is ConversationStatus.SNOOZED and saved.snoozed_until == until
    assert saved.assignee == ana.id  # nobody's conversation became hers
    assert console.fresh_agent(ana.id).open_count == 1
    assert saved.sla_next_check is not None and saved.sla_next_check <= until
    assert console.events(conversation.id) == ["assigned", "snoozed"]
    assert [c.id for c in console.conversations.inbox(InboxView.MINE, ana.id).items] == [
        conversation.id
    ]


def test_a_snooze_must_be_in_the_next_30_days(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    for until in (
        NOW - timedelta(minutes=1),
        NOW,
        NOW + timedelta(days=30, seconds=1),
        NOW.replace(tzinfo=None) + timedelta(hours=1),
    ):
        with pytest.raises(Invalid) as refused:
            snooze(ana, conversation.id, until, **console.deps())
        assert refused.value.field == "until"


# --- reopen -----------------------------------------------------------------------------------


def test_a_reopened_conversation_goes_back_to_its_agent(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    console.agent("Bruno", "front_desk")
    conversation = console.held_by(ana)
    resolve(ana, conversation.id, **console.deps())

    saved = reopen(ana, conversation.id, **console.deps(now=NOW + timedelta(hours=1)))

    assert saved.status is ConversationStatus.ASSIGNED and saved.assignee == ana.id
    assert saved.resolved_at is None
    assert read_state(saved.bot_state).mode is Mode.WITH_PERSON
    assert console.fresh_agent(ana.id).open_count == 1
    assert console.events(conversation.id)[-1] == "reopened"


def test_a_reopened_conversation_whose_agent_is_away_goes_to_the_queue(
    console: Console,
) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    resolve(ana, conversation.id, **console.deps())
    console.agents.set_online(ana.id, False, NOW)
    bruno = console.agent("Bruno", "front_desk")

    saved = reopen(bruno, conversation.id, **console.deps())

    assert saved.assignee == bruno.id  # the queue offered it to who is at work
    assert console.fresh_agent(ana.id).open_count == 0
    reopened = [m for m in console.timeline(conversation.id) if m.payload.get("event")][-2]
    assert reopened.payload == {"event": "reopened", "agent": None, "team": "front_desk"}


def test_reopening_restarts_the_resolution_target_from_now(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    send_agent_reply(ana, conversation.id, text="Olá", **console.deps())
    resolve(ana, conversation.id, **console.deps(now=NOW + timedelta(hours=1)))
    # Its resolution had been warned about, and even missed: that was the last time.
    console.store(
        dataclasses.replace(
            console.get(conversation.id),
            sla_warned=frozenset({SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION}),
            sla_breached=frozenset({SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION}),
        )
    )
    later = NOW + timedelta(days=30)  # a Wednesday morning, a month on
    console.agents.touch(ana.id, later)

    saved = reopen(ana, conversation.id, **console.deps(now=later))

    clock, sla = clock_for(console.definition), console.definition.sla
    assert saved.resolution_due == clock.add(later, sla.resolution)
    assert saved.sla_warned == {SlaTarget.FIRST_RESPONSE}  # the first response keeps its story
    assert saved.sla_breached == {SlaTarget.FIRST_RESPONSE}
    # Warned at 80 % of the new target, counted from the reopening, not from the hand-off.
    assert saved.sla_next_check == clock.add(later, sla.resolution * sla.warn_at)
    assert console.get(conversation.id) == saved
    minute = later + timedelta(minutes=1)
    console.agents.touch(ana.id, minute)
    assert check_slas(**console.deps(now=minute)) == SlaRun()
    assert console.get(conversation.id).assignee == ana.id
    assert console.events(conversation.id)[-1] == "reopened"


def test_only_the_residents_latest_resolved_conversation_reopens(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    old = console.held_by(ana)
    resolve(ana, old.id, **console.deps())
    resident = console.world.residents.get(old.resident_key)
    console.waiting("front_desk", resident=resident)  # the resident wrote again since

    with pytest.raises(Conflict) as superseded:
        reopen(ana, old.id, **console.deps())
    assert superseded.value.code == "superseded"
    open_one = console.held_by(ana)
    with pytest.raises(Conflict) as not_resolved:
        reopen(ana, open_one.id, **console.deps())
    assert not_resolved.value.code == "not_resolved"


# --- tags -------------------------------------------------------------------------------------


def test_tags_are_the_residents_and_normalised(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)

    tags = set_tags(ana, conversation.id, add=[" VIP ", "idoso", "vip"], **console.deps())
    assert tags == ("vip", "idoso")
    tags = set_tags(ana, conversation.id, add=["obras"], remove=["idoso"], **console.deps())

    assert tags == ("vip", "obras")
    assert console.world.residents.get(conversation.resident_key).tags == ("vip", "obras")
    tagged = [m.payload for m in console.timeline(conversation.id) if m.message_type == "event"]
    assert tagged[-1] == {"event": "tagged", "added": ["obras"], "removed": ["idoso"]}
    for bad in (["com espaço"], ["x" * 33], [""], ["ação"]):
        with pytest.raises(Invalid) as refused:
            set_tags(ana, conversation.id, add=bad, **console.deps())
        assert refused.value.field == "tags"


def test_residents_who_did_not_consent_are_not_tagged(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana, consent=ConsentState.UNKNOWN)

    with pytest.raises(Conflict):
        set_tags(ana, conversation.id, add=["vip"], **console.deps())


def test_a_resident_erased_while_being_tagged_is_not_found(console: Console) -> None:
    ana = console.agent("Ana", "front_desk")
    conversation = console.held_by(ana)
    database = console.world.database

    class ErasedMeanwhile:
        """The console's store, with the resident erased between the read and the write."""

        def __getattr__(self, name: str) -> Any:
            return getattr(console.conversations, name)

        def set_resident_tags(self, resident_key: str, tags: Any) -> None:
            del database.residents[resident_key]
            console.conversations.set_resident_tags(resident_key, tags)

    ports = dataclasses.replace(console.ports, conversations=ErasedMeanwhile())
    with pytest.raises(NotFound):
        set_tags(ana, conversation.id, add=["vip"], **console.deps(ports=ports))


# --- who may, and racing -------------------------------------------------------------------


def test_another_teams_conversation_does_not_exist_for_an_agent(console: Console) -> None:
    fabio = console.agent("Fabio", "finance")
    conversation = console.waiting("front_desk")

    for action in (
        lambda: send_agent_reply(fabio, conversation.id, text="olá", **console.deps()),
        lambda: add_note(fabio, conversation.id, "olá", **console.deps()),
        lambda: resolve(fabio, conversation.id, **console.deps()),
        lambda: snooze(fabio, conversation.id, NOW + timedelta(hours=1), **console.deps()),
        lambda: transfer(fabio, conversation.id, team="finance", **console.deps()),
        lambda: set_tags(fabio, conversation.id, add=["x"], **console.deps()),
        lambda: reopen(fabio, conversation.id, **console.deps()),
        lambda: conversation_history(fabio, conversation.id, ports=console.ports),
    ):
        with pytest.raises(NotFound) as hidden:
            action()
        assert hidden.value.status == 404
    assert console.get(conversation.id) == conversation


def test_an_agent_cannot_assign_a_conversation_they_only_hold(console: Console) -> None:
    sara = console.agent("Sara", role=Role.SUPERVISOR)
    fabio = console.agent("Fabio", "finance")
    console.agent("Ana", "front_desk")
    conversation = console.waiting("front_desk")
    assign(sara, conversation.id, fabio.id, **console.deps())

    with pytest.raises(Forbidden):
        assign(fabio, conversation.id, "ana@town.example", **console.deps())


def test_a_change_made_meanwhile_is_a_conflict_to_reload(console: Console) -> None:
    ana, bruno = console.agent("Ana", "front_desk"), console.agent("Bruno", "front_desk")
    conversation = console.waiting("front_desk")
    store = console.conversations
    read = store.get

    def read_then_bruno_takes_it(conversation_id: str):
        seen = read(conversation_id)
        store.get = read  # only once
        assign(bruno, conversation_id, bruno.id, **console.deps())
        return seen

    store.get = read_then_bruno_takes_it

    with pytest.raises(Conflict) as clash:
        assign(ana, conversation.id, ana.id, **console.deps())

    assert clash.value.code == "changed"
    assert console.get(conversation.id).assignee == bruno.id
    assert console.fresh_agent(ana.id).open_count == 0


def test_a_note_is_kept_even_when_the_conversation_changes_meanwhile(console: Console) -> None:
    ana, bruno = console.agent("Ana", "front_desk"), console.agent("Bruno", "front_desk")
    conversation = console.waiting("front_desk")
    store = console.conversations
    read = store.get

    def read_then_bruno_takes_it(conversation_id: str):
        seen = read(conversation_id)
        store.get = read
        assign(bruno, conversation_id, bruno.id, **console.deps())
        return seen

    store.get = read_then_bruno_takes_it
    note = add_note(ana, conversation.id, "visto", **console.deps())

    assert console.world.messages.get(note.id).body == "visto"
    assert console.get(conversation.id).assignee == bruno.id


def test_the_bot_stays_silent_once_people_have_the_conversation(console: Console) -> None:
    from chalicelib.services.handle_inbound_message import handle_inbound_message
    from tests.services.inbound_messages import ResidentPhone

    world = console.world
    ana = console.agent("Ana", "front_desk")
    phone = ResidentPhone("351910009999")

    def handle(message):
        return handle_inbound_message(
            message, definition=world.definition, ports=world.ports, now=NOW, new_id=world.new_id
        )

    handle(phone.text("Olá"))
    handle(phone.tap_button("consent:accept"))
    handed = handle(phone.tap_row("human"))
    assert handed.handed_off_to == "front_desk"
    from chalicelib.services.assign_conversations import assign_waiting

    [conversation_id] = assign_waiting("front_desk", **console.deps())
    assert console.get(conversation_id).assignee == ana.id
    send_agent_reply(ana, conversation_id, text="Olá, sou a Ana.", **console.deps())
    world.send_all()
    world.sender.sent.clear()

    outcome = handle(phone.text("Obrigado, Ana"))

    assert outcome.reply_ids == ()
    conversation = console.get(conversation_id)
    assert conversation.status is ConversationStatus.ASSIGNED
    assert conversation.first_response_at == NOW
    assert dataclasses.replace(conversation).preview == "Obrigado, Ana"
