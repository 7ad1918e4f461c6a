"""The console API's JSON: how agents, conversations, messages and residents look to the web
console (the contract in chalicelib/console/console.js). Datetimes are ISO 8601 UTC with "Z"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.agents import Agent
    from chalicelib.domain.bot.definition import MunicipalityDefinition
    from chalicelib.domain.conversations import Conversation
    from chalicelib.domain.messages import StoredMessage
    from chalicelib.domain.obligations import Obligation
    from chalicelib.domain.residents import Resident
    from chalicelib.domain.sla import BusinessClock, SlaStatus
    from chalicelib.domain.tickets import Ticket
    from chalicelib.services.console_conversation import ConversationDetail

WHATSAPP_KEY_PREFIX = "wa:"


def time_json(moment: datetime | date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role.value,
        "teams": list(agent.teams),
        "capacity": agent.capacity,
        "online": agent.online,
        "open_count": agent.open_count,
        "last_seen_at": time_json(agent.last_seen_at),
        "sees_all": agent.sees_all,
    }


def colleague_json(agent: Agent) -> dict[str, Any]:
    """Another agent, as the assign and transfer pickers show them."""
    return {"id": agent.id, "name": agent.name, "teams": list(agent.teams), "online": agent.online}


def me_json(
    agent: Agent, *, definition: MunicipalityDefinition, colleagues: Sequence[Agent]
) -> dict[str, Any]:
    return {
        "agent": agent_json(agent),
        "teams": [{"id": team.id, "name": team.name} for team in definition.teams.values()],
        "agents": [
            colleague_json(a) for a in sorted(colleagues, key=lambda a: a.name) if not a.disabled
        ],
        "quick_replies": [
            {"shortcut": reply.shortcut, "text": dict(reply.text)}
            for reply in definition.quick_replies
        ],
        "templates": [
            {
                "name": template.name,
                "languages": list(template.languages),
                "category": template.category,
            }
            for template in definition.templates.values()
        ],
        "languages": list(definition.languages),
        "default_language": definition.default_language,
    }


# --- conversations ----------------------------------------------------------------------------


def sla_json(status: SlaStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "target": status.target.value,
        "due": time_json(status.due),
        "seconds_left": status.seconds_left,
        "state": status.state,
    }


def phone_of(resident_key: str) -> str | None:
    """The WhatsApp number (wa_id, digits) of a phone-based resident key; None for a BSUID."""
    if resident_key.startswith(WHATSAPP_KEY_PREFIX):
        return resident_key.removeprefix(WHATSAPP_KEY_PREFIX)
    return None


def conversation_row(conversation: Conversation, sla: SlaStatus | None) -> dict[str, Any]:
    from chalicelib.domain.bot.state import read_state

    return {
        "id": conversation.id,
        "status": conversation.status.value,
        "team": conversation.team,
        "assignee": conversation.assignee,
        "resident_key": conversation.resident_key,
        "phone": phone_of(conversation.resident_key),
        "name": conversation.resident_name,
        "language": read_state(conversation.bot_state).language,
        "preview": conversation.preview,
        "last_message_at": time_json(conversation.last_message_at),
        "opened_at": time_json(conversation.opened_at),
        "snoozed_until": time_json(conversation.snoozed_until),
        "sla": sla_json(sla),
    }


class RowMaker:
    """Rows with their SLA time left, computed with one business clock per request."""

    def __init__(self, definition: MunicipalityDefinition, now: datetime) -> None:
        from chalicelib.domain.sla import clock_for

        self._policy = definition.sla
        self._clock: BusinessClock = clock_for(definition)
        self._now = now

    def row(self, conversation: Conversation) -> dict[str, Any]:
        from chalicelib.domain.sla import sla_status

        status = sla_status(conversation, self._policy, self._clock, self._now)
        return conversation_row(conversation, status)

    def rows(self, conversations: Iterable[Conversation]) -> list[dict[str, Any]]:
        return [self.row(c) for c in conversations]


def resident_json(resident: Resident | None, resident_key: str) -> dict[str, Any]:
    if resident is None:
        return {
            "key": resident_key,
            "phone": phone_of(resident_key),
            "name": None,
            "language": None,
            "tags": [],
            "custom_fields": {},
            "consent": None,
            "consent_at": None,
            "opted_out": False,
        }
    return {
        "key": resident.key,
        "phone": resident.wa_id or phone_of(resident.key),
        "name": resident.profile_name,
        "language": resident.language,
        "tags": list(resident.tags),
        "custom_fields": dict(resident.custom_fields),
        "consent": resident.consent.value,
        "consent_at": time_json(resident.consent_at),
        "opted_out": resident.opted_out,
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "reference": ticket.reference,
        "status": ticket.status.value,
        "category": ticket.category,
        "team": ticket.team,
        "created_at": time_json(ticket.created_at),
        "description": ticket.description,
    }


def reminder_json(obligation: Obligation) -> dict[str, Any]:
    return {
        "external_id": obligation.external_id,
        "kind": obligation.kind,
        "due_date": obligation.due_date.isoformat(),
        "state": obligation.state.value,
    }


def past_conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "status": conversation.status.value,
        "opened_at": time_json(conversation.opened_at),
        "resolved_at": time_json(conversation.resolved_at),
    }


def detail_json(detail: ConversationDetail) -> dict[str, Any]:
    conversation = detail.conversation
    return {
        "conversation": conversation_row(conversation, detail.sla),
        "resident": resident_json(detail.resident, conversation.resident_key),
        "tickets": [ticket_json(t) for t in detail.tickets],
        "reminders": [reminder_json(o) for o in detail.obligations],
        "past_conversations": [past_conversation_json(c) for c in detail.past_conversations],
        "window_open": detail.window_open,
        "window_closes_at": time_json(detail.window_closes_at),
    }


# --- messages ---------------------------------------------------------------------------------


def message_json(message: StoredMessage) -> dict[str, Any]:
    payload = message.payload if isinstance(message.payload, dict) else {}
    return {
        "id": message.id,
        "direction": message.direction.value,
        "type": message.message_type,
        "body": message.body,
        "payload": payload,
        "status": message.status.value,
        "created_at": time_json(message.created_at),
        "sent_by": message.sent_by,
        "media": _media_json(message, payload),
        "location": _location_json(message, payload),
        "error_title": message.error_title,
    }


def _media_json(message: StoredMessage, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Present once the file is in the archive (the console fetches it through the media link)."""
    if not message.media_key:
        return None
    kind = payload.get("media_type") or message.message_type
    inner = payload.get(message.message_type)
    mime_type = (inner.get("mime_type") if isinstance(inner, dict) else None) or payload.get(
        "mime_type"
    )
    return {
        "message_id": message.id,
        "mime_type": mime_type or _mime_for(kind),
        "filename": (inner.get("filename") if isinstance(inner, dict) else None)
        or payload.get("filename"),
    }


def _mime_for(kind: str) -> str:
    """A generic type when the message did not say: enough for the console to pick a viewer."""
    return {
        "image": "image/*",
        "sticker": "image/webp",
        "audio": "audio/*",
        "voice": "audio/ogg",
        "video": "video/*",
    }.get(kind, "application/octet-stream")


def _location_json(message: StoredMessage, payload: dict[str, Any]) -> dict[str, Any] | None:
    if message.message_type != "location":
        return None
    location = payload.get("location")
    if not isinstance(location, dict):
        return None
    return {
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "name": location.get("name"),
        "address": location.get("address"),
    }
