"""Residents' data rights: what of a ticket survives the erasure of the resident who made it.

A ticket is the town hall's work (a pothole to fill), not only the resident's message: erasure
keeps it as an anonymous record — reference, flow, category, team, status, language and dates,
and where the problem is, to about a hundred metres — and drops everything that could name or
describe the resident: their key (a placeholder takes its place), the conversation, the
description they typed, a typed address, the place name of the pin, and the photos (whose
files are deleted with the rest of their media).
"""

from __future__ import annotations

import dataclasses

from chalicelib.domain.tickets import Location, Ticket

ERASED_RESIDENT_KEY = "erased"  # an anonymised ticket's resident_key (and conversation_id)
LOCATION_DECIMALS = 3  # ~110 m of latitude: the street, not the house


def anonymised_ticket(ticket: Ticket) -> Ticket:
    """The ticket as erasure keeps it (see the module docstring). Idempotent."""
    location = ticket.location
    if location is not None:
        location = Location(
            latitude=round(location.latitude, LOCATION_DECIMALS),
            longitude=round(location.longitude, LOCATION_DECIMALS),
        )
    return dataclasses.replace(
        ticket,
        resident_key=ERASED_RESIDENT_KEY,
        conversation_id=ERASED_RESIDENT_KEY,
        description=None,
        location=location,
        address=None,
        attachments=(),
    )
