"""What a resident reads when their conversation goes to a person: which team, whether it speaks
their language, and when to expect an answer (soon, or when the office next opens)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.replies import TextReply


def handoff_notice(book: Phrasebook, team_id: str, now: datetime) -> TextReply:
    definition = book.definition
    team = definition.teams[team_id]
    parts = [book.text("handoff", team=book.local(team.display_name))]
    if book.language not in team.languages:
        names = ", ".join(definition.language_names[code] for code in team.languages)
        parts.append(book.text("team_languages", languages=names))
    if definition.is_staffed(now):
        if definition.sla is not None:
            minutes = int(definition.sla.first_response // timedelta(minutes=1))
            parts.append(book.text("answer_soon", minutes=str(minutes)))
    elif (when := next_opening_text(book, now)) is not None:
        parts.append(book.text("out_of_hours", when=when))
    return TextReply(text="\n\n".join(parts))


def next_opening_text(book: Phrasebook, now: datetime) -> str | None:
    """ "today at 14:00", "tomorrow at 09:00" or "on Monday 28/12 at 09:00", in local time."""
    hours = book.definition.business_hours
    if hours is None:
        return None
    local = now.astimezone(book.definition.zone)
    opening = hours.next_opening(local)
    if opening is None:
        return None
    time = opening.strftime("%H:%M")
    days_ahead = (opening.date() - local.date()).days
    if days_ahead == 0:
        return book.text("when_today", time=time)
    if days_ahead == 1:
        return book.text("when_tomorrow", time=time)
    weekday = book.definition.weekday_names[book.language][opening.weekday()]
    return book.text("when_day", weekday=weekday, date=opening.strftime("%d/%m"), time=time)
