"""A marketing stop chosen inside WhatsApp, from Meta's webhook through the inbound queue and
worker to the bulk sender, which then leaves that resident alone; a later resume lifts it."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.replies import TemplateReply, reply_to_dict
from chalicelib.wiring import container
from tests.app.conftest import AppHarness
from tests.webhook_fixtures import load_webhook

WA_ID = "351918000001"
KEY = f"wa:{WA_ID}"


def _preference_webhook(value: str, at: int) -> dict:
    payload = load_webhook(f"user_preferences_{value}")
    change_value = payload["entry"][0]["changes"][0]["value"]
    change_value["contacts"] = [{"wa_id": WA_ID}]
    change_value["user_preferences"][0].update({"wa_id": WA_ID, "timestamp": at})
    return payload


def _queue_bulk(message_id: str) -> None:
    now = datetime.now(UTC)
    container().messages.add_outbound(
        [
            StoredMessage(
                id=message_id,
                direction=Direction.OUTBOUND,
                resident_key=KEY,
                conversation_id=None,
                message_type="template",
                body="reminder",
                payload=reply_to_dict(TemplateReply(name="reopen_conversation", language="pt_PT")),
                created_at=now,
                status=DeliveryStatus.QUEUED,
                status_at=now,
                recipient=WA_ID,
                priority=Priority.BULK,
                sent_by="reminders",
            )
        ]
    )
    container().outbound_queue.enqueue([message_id], Priority.BULK)


def _sent_to_resident(harness: AppHarness) -> list[dict]:
    return [m for m in harness.simulator.outbox() if m["to"] == WA_ID]


def test_a_stop_keeps_bulk_messages_away_until_a_resume(harness: AppHarness) -> None:
    stop, resume = (
        _preference_webhook("stop", 1_780_000_000),
        _preference_webhook("resume", 1_780_000_600),
    )
    assert harness.post_webhook(stop).status_code == 200
    assert harness.post_webhook(stop).status_code == 200  # Meta repeats itself
    assert container().residents.get(KEY) is None  # queued, not applied by the receiver

    harness.run_worker("inbound_worker", harness.names.inbound_queue)

    resident = container().residents.get(KEY)
    assert resident is not None
    assert (resident.opted_out, resident.opted_out_at) == (
        True,
        datetime.fromtimestamp(1_780_000_000, tz=UTC),
    )

    _queue_bulk("bulk-while-stopped")
    harness.run_worker("bulk_sender", harness.names.outbound_bulk_queue)
    skipped = container().messages.get("bulk-while-stopped")
    assert (skipped.status, skipped.note) == (DeliveryStatus.SKIPPED, "opted_out")
    assert _sent_to_resident(harness) == []

    assert harness.post_webhook(resume).status_code == 200
    assert harness.post_webhook(stop).status_code == 200  # an old stop, redelivered late
    harness.run_worker("inbound_worker", harness.names.inbound_queue)
    assert container().residents.get(KEY).opted_out is False

    _queue_bulk("bulk-after-resume")
    harness.run_worker("bulk_sender", harness.names.outbound_bulk_queue)
    assert container().messages.get("bulk-after-resume").status is DeliveryStatus.SENT
    assert len(_sent_to_resident(harness)) == 1
