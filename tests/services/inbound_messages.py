"""Inbound messages as the webhook parser makes them, for one resident, from real fixtures."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from chalicelib.whatsapp.events import InboundMessage
from chalicelib.whatsapp.webhook_parser import parse_webhook
from tests.services.conftest import NOW
from tests.webhook_fixtures import load_webhook

_serial = itertools.count(1)


class ResidentPhone:
    def __init__(self, wa_id: str, name: str = "Maria") -> None:
        self.wa_id, self.name = wa_id, name

    def _message(self, fixture: str, at: datetime, wamid: str | None, **fields: Any):
        payload = load_webhook(fixture)
        value = payload["entry"][0]["changes"][0]["value"]
        value["contacts"] = [{"profile": {"name": self.name}, "wa_id": self.wa_id}]
        message = value["messages"][0]
        message.pop("context", None)
        message.update(
            {
                "from": self.wa_id,
                "id": wamid or f"wamid.{self.wa_id}.{next(_serial)}",
                "timestamp": str(int(at.timestamp())),
                **fields,
            }
        )
        (event,) = parse_webhook(payload).events
        assert isinstance(event, InboundMessage)
        return event

    def text(self, body: str, *, at: datetime = NOW, wamid: str | None = None):
        return self._message("message_text", at, wamid, text={"body": body})

    def tap_button(self, reply_id: str, title: str = "", *, at: datetime = NOW):
        interactive = {
            "type": "button_reply",
            "button_reply": {"id": reply_id, "title": title or reply_id},
        }
        return self._message("message_interactive_button_reply", at, None, interactive=interactive)

    def tap_row(self, row_id: str, title: str = "", *, at: datetime = NOW):
        interactive = {"type": "list_reply", "list_reply": {"id": row_id, "title": title or row_id}}
        return self._message("message_interactive_list_reply", at, None, interactive=interactive)

    def photo(self, media_id: str = "1003383421387256", *, at: datetime = NOW):
        image = {
            "mime_type": "image/jpeg",
            "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            "id": media_id,
        }
        return self._message("message_image", at, None, image=image)

    def pin(self, latitude: float = 38.72, longitude: float = -9.14, *, at: datetime = NOW):
        location = {"latitude": latitude, "longitude": longitude, "name": "Escola Básica"}
        return self._message("message_location", at, None, location=location)
