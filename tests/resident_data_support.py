"""What a back office registers for a resident, for the data-rights tests: an obligation
`TAX-<digits>` with its planned reminders and a notification `DOC-<digits>`."""

from __future__ import annotations

from datetime import date, datetime

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.obligations import Notification, Obligation
from chalicelib.domain.reminder_plan import plan_reminders
from chalicelib.services.ports import NotificationStore, ObligationStore
from chalicelib.settings import BUNDLED_CONFIG


def register_for(
    digits: str, at: datetime, *, obligations: ObligationStore, notifications: NotificationStore
) -> None:
    """Register both for the resident `wa:<digits>` at `at` (the bundled configuration's
    reminder plan)."""
    key = f"wa:{digits}"
    obligation = Obligation(
        external_id=f"TAX-{digits}",
        kind="tax_payment",
        phone=f"+{digits}",
        resident_key=key,
        language="en",
        due_date=date(2026, 12, 15),
        params={"name": "Resident", "amount": "€12", "payment_url": "https://pay/x"},
        created_at=at,
        updated_at=at,
        registered_by="finance",
    )
    definition = load_municipality_file(BUNDLED_CONFIG)
    obligations.save(obligation, plan_reminders(obligation, definition, at))
    assert notifications.add(
        Notification(
            external_id=f"DOC-{digits}",
            kind="document_ready",
            phone=f"+{digits}",
            resident_key=key,
            language="en",
            send_at=at,
            created_at=at,
            registered_by="registry",
        )
    )
