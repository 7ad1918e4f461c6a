"""Real Cloud API webhook payloads (tests/fixtures/webhooks), one file per kind, for any test.

Each fixture is the wire example of the facts sheet (/work/shared/whatsapp-cloud-api.md §2)
wrapped in the §2.1 envelope. `load_webhook` returns a fresh copy, so tests may mutate it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEBHOOK_FIXTURES_DIR = Path(__file__).parent / "fixtures" / "webhooks"

# One inbound message each (message_<kind>.json).
ALL_MESSAGE_FIXTURES: tuple[str, ...] = (
    "message_text",
    "message_image",
    "message_document",
    "message_audio_voice",
    "message_video",
    "message_sticker",
    "message_location",
    "message_location_current",
    "message_contacts",
    "message_interactive_button_reply",
    "message_interactive_list_reply",
    "message_template_button",
    "message_reaction",
    "message_reaction_removed",
    "message_order",
    "message_system_user_changed_number",
    "message_unsupported",
    "message_username_sender",
)

# One status each (status_<status>.json).
ALL_STATUS_FIXTURES: tuple[str, ...] = (
    "status_sent",
    "status_delivered",
    "status_read",
    "status_failed",
)

ALL_WEBHOOK_FIXTURES: tuple[str, ...] = tuple(
    sorted(path.stem for path in WEBHOOK_FIXTURES_DIR.glob("*.json"))
)


def load_webhook(name: str) -> dict[str, Any]:
    """The payload in `tests/fixtures/webhooks/<name>.json` (the `.json` may be omitted)."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    return json.loads((WEBHOOK_FIXTURES_DIR / file_name).read_text(encoding="utf-8"))


def load_webhook_bytes(name: str) -> bytes:
    """The exact bytes of a fixture, for signature tests and HTTP-level tests."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    return (WEBHOOK_FIXTURES_DIR / file_name).read_bytes()
