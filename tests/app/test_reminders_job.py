"""The scheduled `run_reminders` handler in-process: due reminders reach the simulator as
approved templates through the bulk sender, once each, in the residents' languages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib import workers
from chalicelib.domain.obligations import Obligation
from chalicelib.domain.reminder_plan import plan_reminders
from chalicelib.local_stack.scheduler import scheduled_event
from chalicelib.wiring import container
from tests.app.conftest import AppHarness

REGISTERED = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def register(external_id: str, digits: str, language: str) -> None:
    deps = container()
    obligation = Obligation(
        external_id=external_id,
        kind="driving_licence",
        phone=f"+{digits}",
        resident_key=f"wa:{digits}",
        language=language,
        due_date=date(2027, 1, 12),  # -42d: Tuesday 1 December 2026, 09:00 in Lisbon (UTC)
        params={"name": "Ana", "renewal_url": "https://imt.example/r"},
        created_at=REGISTERED,
        updated_at=REGISTERED,
        registered_by="imt",
    )
    deps.obligations.save(obligation, plan_reminders(obligation, deps.definition, REGISTERED))


def run_job(harness: AppHarness, monkeypatch: pytest.MonkeyPatch, at: str) -> dict:
    moment = datetime.fromisoformat(at)
    monkeypatch.setattr(workers, "utc_now", lambda: moment)
    event = scheduled_event("arn:aws:events:eu-west-1:123456789012:rule/run_reminders", moment)
    return harness.client.lambda_.invoke("run_reminders", event).payload


def test_due_reminders_reach_the_simulator_once_in_their_language(
    harness: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.simulator.templates = {"licence_renewal": ["pt_PT", "es", "en", "ar"]}
    register("LIC-A", "351918000001", "pt")
    register("LIC-B", "351918000002", "ar")

    night = run_job(harness, monkeypatch, "2026-12-01T03:00:00+00:00")
    morning = run_job(harness, monkeypatch, "2026-12-01T09:00:00+00:00")
    again = run_job(harness, monkeypatch, "2026-12-01T09:05:00+00:00")
    for _ in range(3):
        harness.run_worker("bulk_sender", harness.names.outbound_bulk_queue)

    assert (night["queued"], morning["queued"], again["queued"]) == (0, 2, 0)
    sent = sorted(
        (m["to"], m["body"]["template"]["name"], m["body"]["template"]["language"]["code"])
        for m in harness.simulator.outbox()
    )
    assert sent == [
        ("351918000001", "licence_renewal", "pt_PT"),  # approved at Meta as pt_PT
        ("351918000002", "licence_renewal", "ar"),
    ]
    first = next(m for m in harness.simulator.outbox() if m["to"] == "351918000001")
    assert first["body"]["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "Ana"},
        {"type": "text", "text": "12/01/2027"},
        {"type": "text", "text": "https://imt.example/r"},
    ]
    assert first["biz_opaque_callback_data"] == "rem|LIC-A|-42|2027-01-12"
