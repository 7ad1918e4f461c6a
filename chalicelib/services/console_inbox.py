"""Use cases: an agent's inboxes, and finding a conversation by phone, ticket or words."""

from __future__ import annotations

from chalicelib.domain.agents import Agent, can_see
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.search_terms import phone_digits, query_terms
from chalicelib.domain.tickets import find_reference
from chalicelib.services.console_context import ConsolePorts, Forbidden, Invalid
from chalicelib.services.console_ports import InboxView, Page

SEARCH_QUERY_MAX = 200
# Matches read per result asked for: others' conversations (other teams') are dropped only
# after reading, and must not crowd out the agent's own.
SEARCH_READ_FACTOR = 5


def list_inbox(
    actor: Agent,
    view: InboxView,
    team: str | None,
    cursor: str | None,
    *,
    ports: ConsolePorts,
    limit: int = 50,
) -> Page[Conversation]:
    key: str | None
    if view is InboxView.MINE:
        key = actor.id
    elif view is InboxView.ALL:
        if not actor.sees_all:
            raise Forbidden("only supervisors see every conversation")
        key = None
    else:
        key = team or (actor.teams[0] if actor.teams else None)
        if key is None:
            raise Invalid("choose a team", field="team")
        if key not in actor.teams and not actor.sees_all:
            raise Forbidden("that is not one of your teams")
    try:
        return ports.conversations.inbox(view, key, limit=limit, cursor=cursor)
    except ValueError:
        raise Invalid("not a cursor of this inbox", field="cursor") from None


def search_conversations(
    actor: Agent,
    query: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    limit: int = 20,
) -> list[Conversation]:
    """A phone number finds the resident's conversations, a ticket reference its conversation,
    anything else the conversations whose words or resident's name match; newest first, only
    those the agent may see."""
    query = (query or "").strip()[:SEARCH_QUERY_MAX]
    if not query or limit < 1:
        return []
    found: list[Conversation]
    reading = limit * SEARCH_READ_FACTOR
    if (digits := phone_digits(query)) is not None:
        found = []
        for key in _resident_keys(digits, definition):
            found = ports.conversations.for_resident(key, reading)
            if found:
                break
    elif definition.tickets is not None and (
        reference := find_reference(definition.tickets.reference_prefix, query)
    ):
        ticket = ports.tickets.get(reference)
        conversation = ports.conversations.get(ticket.conversation_id) if ticket else None
        found = [conversation] if conversation is not None else []
    else:
        ids: list[str] = []
        for term in query_terms(query):
            ids.extend(ports.conversations.find(term, limit=reading))
        ids = list(dict.fromkeys(ids))
        by_id = {c.id: c for c in ports.conversations.get_many(ids)} if ids else {}
        found = [by_id[i] for i in ids if i in by_id]
    return [c for c in found if can_see(actor, c)][:limit]


def _resident_keys(digits: str, definition: MunicipalityDefinition) -> list[str]:
    """The keys a typed number may stand for: as written with its country code, and read as a
    local number of the municipality's region ("912 345 678" in Portugal)."""
    from chalicelib.services.back_office_input import default_region
    from chalicelib.services.phone_input import InvalidPhoneError, normalise_phone

    keys = [f"wa:{digits}"]
    try:
        number = normalise_phone(digits, default_region(definition))
    except InvalidPhoneError:
        return keys
    return list(dict.fromkeys([*keys, number.resident_key]))
