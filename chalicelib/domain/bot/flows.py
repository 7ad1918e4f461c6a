"""Menu flows: a few questions, one at a time, then a ticket or a ticket's status.

Answers are kept in the state as JSON, by the step's `ask`: a choice id, a text, a photo
({message_id, media_id, mime_type}, or None when skipped), a place ({"pin": {...}} or
{"address": "..."}), a reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain.bot.definition import CHOICE_ROW, Flow, FlowOutcome, FlowStep, StepKind
from chalicelib.domain.bot.events import PhotoAnswer, TicketRequested
from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.bot.state import BotState, Mode, Outcome
from chalicelib.domain.bot.ticket_replies import example_reference, ticket_status_reply
from chalicelib.domain.bot.turns import BotInput
from chalicelib.domain.bot.understanding import is_wordless, labelled, typed, worded
from chalicelib.domain.replies import Button, ButtonsReply, MenuReply, MenuRow, Reply, TextReply
from chalicelib.domain.tickets import Location

SKIP = "step:skip"
_NO_ANSWER = object()


def start_flow(book: Phrasebook, state: BotState, flow: Flow) -> Outcome:
    started = state.menu(mode=Mode.IN_FLOW, flow=flow.id, step=0, answers={})
    return Outcome(state=started, replies=(prompt(book, flow.steps[0]),))


def continue_flow(
    book: Phrasebook, state: BotState, flow: Flow, event: BotInput, now: datetime
) -> Outcome:
    """`state` is in `flow` at a step that exists (the engine checks)."""
    step = flow.steps[state.step]
    answer = _answer(book, step, event)
    if answer is _NO_ANSWER:
        return Outcome(state=state, replies=_reprompt(book, step, event, now))
    answers = {**state.answers, step.ask: answer}
    if flow.outcome is FlowOutcome.TICKET_STATUS and step.expect is StepKind.REFERENCE:
        lookup = event.ticket_lookup
        replies = (ticket_status_reply(book, lookup),) if lookup is not None else ()
        return Outcome(state=state.menu(), replies=(*replies, book.anything_else()))
    if state.step + 1 < len(flow.steps):
        following = dataclasses.replace(state, step=state.step + 1, answers=answers)
        return Outcome(state=following, replies=(prompt(book, flow.steps[state.step + 1]),))
    if flow.outcome is FlowOutcome.CREATE_TICKET:
        return _create_ticket(book, state, flow, answers)
    return Outcome(state=state.menu(), replies=(book.anything_else(),))


def prompt(book: Phrasebook, step: FlowStep, body: str | None = None) -> Reply:
    text = body if body is not None else book.local(step.prompt)
    if step.expect is StepKind.CHOICE:
        rows = tuple(
            MenuRow(
                id=f"{CHOICE_ROW}{choice.id}",
                title=book.local(choice.label),
                description=book.local(choice.description) if choice.description else None,
            )
            for choice in step.choices
        )
        return MenuReply(body=text, button=book.text("choose_button"), rows=rows)
    if step.expect is StepKind.IMAGE and step.optional:
        return ButtonsReply(body=text, buttons=(Button(id=SKIP, title=book.text("skip_button")),))
    return TextReply(text=text)


def _answer(book: Phrasebook, step: FlowStep, event: BotInput) -> Any:
    match step.expect:
        case StepKind.CHOICE:
            if event.reply_id and event.reply_id.startswith(CHOICE_ROW):
                chosen = event.reply_id.removeprefix(CHOICE_ROW)
                return chosen if any(c.id == chosen for c in step.choices) else _NO_ANSWER
            labels = [(c.id, label) for c in step.choices for label in c.label.values()]
            return labelled(labels, worded(event)) or _NO_ANSWER
        case StepKind.TEXT:
            return typed(event) or _NO_ANSWER
        case StepKind.IMAGE:
            if _is_photo(event):
                return {
                    "message_id": event.message_id or "",
                    "media_id": event.media_id,
                    "mime_type": event.mime_type or "",
                }
            skip_texts = book.definition.texts.get("skip_button", {})
            skip_labels = [(True, label) for label in skip_texts.values()]
            skipped = event.reply_id == SKIP or labelled(skip_labels, worded(event))
            return None if step.optional and skipped else _NO_ANSWER
        case StepKind.LOCATION:
            if event.message_type == "location" and event.location is not None:
                return {"pin": dataclasses.asdict(event.location)}
            return {"address": text} if (text := typed(event)) else _NO_ANSWER
        case StepKind.REFERENCE:
            lookup = event.ticket_lookup
            return lookup.reference if typed(event) and lookup is not None else _NO_ANSWER
    return _NO_ANSWER


def _is_photo(event: BotInput) -> bool:
    image_document = event.message_type == "document" and (event.mime_type or "").startswith(
        "image/"
    )
    return bool(event.media_id) and (event.message_type == "image" or image_document)


def _reprompt(
    book: Phrasebook, step: FlowStep, event: BotInput, now: datetime
) -> tuple[Reply, ...]:
    match step.expect:
        case StepKind.CHOICE:
            key = "only_text" if is_wordless(event) else "reprompt_choice"
            return (prompt(book, step, book.text(key)),)
        case StepKind.IMAGE:
            return (prompt(book, step, book.text("reprompt_photo")),)
        case StepKind.LOCATION:
            return (TextReply(text=book.text("reprompt_location")),)
        case StepKind.REFERENCE if typed(event):
            example = example_reference(book, now)
            return (TextReply(text=book.text("reprompt_reference", example=example)),)
    if is_wordless(event):
        return (TextReply(text=book.text("only_text")), prompt(book, step))
    return (prompt(book, step),)


def _create_ticket(
    book: Phrasebook, state: BotState, flow: Flow, answers: Mapping[str, Any]
) -> Outcome:
    definition = book.definition
    category: str | None = None
    team = flow.routes_to or definition.fallback_team.id
    descriptions: list[str] = []
    photos: list[PhotoAnswer] = []
    location: Location | None = None
    address: str | None = None
    for step in flow.steps:
        answer = answers.get(step.ask)
        match step.expect:
            case StepKind.CHOICE if category is None and isinstance(answer, str):
                choice = next((c for c in step.choices if c.id == answer), None)
                if choice is not None:
                    category, team = choice.id, choice.team or team
            case StepKind.TEXT if isinstance(answer, str):
                descriptions.append(answer)
            case StepKind.IMAGE if isinstance(answer, Mapping) and answer.get("media_id"):
                photos.append(
                    PhotoAnswer(
                        message_id=str(answer.get("message_id") or ""),
                        media_id=str(answer["media_id"]),
                        mime_type=str(answer.get("mime_type") or ""),
                    )
                )
            case StepKind.LOCATION if isinstance(answer, Mapping):
                location = location or _location(answer.get("pin"))
                if isinstance(answer.get("address"), str):
                    address = address or answer["address"]
    if team not in definition.teams:
        team = definition.fallback_team.id
    request = TicketRequested(
        flow=flow.id,
        team=team,
        category=category,
        description="\n\n".join(descriptions) or None,
        photos=tuple(photos),
        location=location,
        address=address,
        language=book.language,
    )
    team_name = book.local(definition.teams[team].display_name)
    created = TextReply(text=book.text("ticket_created", team=team_name))
    return Outcome(state=state.menu(), replies=(created, book.anything_else()), events=(request,))


def _location(pin: Any) -> Location | None:
    if not isinstance(pin, Mapping):
        return None
    try:
        return Location(
            latitude=float(pin["latitude"]),
            longitude=float(pin["longitude"]),
            name=pin.get("name"),
            address=pin.get("address"),
        )
    except (KeyError, TypeError, ValueError):
        return None
