"""How residents read a ticket: its status when they ask with its reference."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.bot.definition import StartFlow
from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.replies import TextReply
from chalicelib.domain.tickets import Ticket, TicketLookup, format_reference

EXAMPLE_NUMBER = 123


def ticket_status_reply(book: Phrasebook, lookup: TicketLookup) -> TextReply:
    """The ticket's status, or "not found" (also for another resident's ticket)."""
    ticket = lookup.ticket
    if ticket is None:
        return TextReply(text=book.text("ticket_not_found", reference=lookup.reference))
    local_date = ticket.created_at.astimezone(book.definition.zone)
    return TextReply(
        text=book.text(
            "ticket_status",
            reference=ticket.reference,
            status=_status_name(book, ticket),
            category=_category_name(book, ticket),
            date=local_date.strftime("%d/%m/%Y"),
        )
    )


def example_reference(book: Phrasebook, now: datetime) -> str:
    """A made-up reference of this year, to show residents what one looks like."""
    tickets = book.definition.tickets
    prefix = tickets.reference_prefix if tickets is not None else "REF"
    return format_reference(prefix, now.astimezone(book.definition.zone).year, EXAMPLE_NUMBER)


def _status_name(book: Phrasebook, ticket: Ticket) -> str:
    tickets = book.definition.tickets
    names = tickets.statuses.get(ticket.status.value) if tickets is not None else None
    return book.local(names) if names else ticket.status.value


def _category_name(book: Phrasebook, ticket: Ticket) -> str:
    """The category's label; else the label of the menu option that started the flow."""
    definition = book.definition
    flow = definition.flows.get(ticket.flow)
    choices = (choice for step in flow.steps for choice in step.choices) if flow else ()
    if (choice := next((c for c in choices if c.id == ticket.category), None)) is not None:
        return book.local(choice.label)
    for item in definition.main_menu.items:
        if item.action == StartFlow(ticket.flow):
            return book.local(item.label)
    return ticket.category or ticket.flow
