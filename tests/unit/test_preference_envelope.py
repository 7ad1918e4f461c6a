"""`user_preferences` events travel the inbound queue as minimal webhooks and come back equal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.whatsapp.events import Sender, UserPreferenceUpdate
from chalicelib.whatsapp.webhook_parser import parse_webhook, preference_envelope_for
from tests.webhook_fixtures import load_webhook


def _fixture_preferences() -> list[UserPreferenceUpdate]:
    return [
        event
        for name in ("user_preferences_stop", "user_preferences_resume", "batched")
        for event in parse_webhook(load_webhook(name)).events
        if isinstance(event, UserPreferenceUpdate)
    ]


AT = datetime(2026, 3, 2, 9, 15, 7, tzinfo=UTC)
MADE_UP = [
    UserPreferenceUpdate(
        sender=Sender(user_id="PT.1502576394655843", username="@ana", profile_name="Ana"),
        category="marketing_messages",
        value="stop",
        timestamp=AT,
    ),
    UserPreferenceUpdate(
        sender=Sender(wa_id="351912345678", user_id="PT.1502576394655843"),
        category="marketing_messages",
        value="resume",
        timestamp=AT,
        detail="User requested to resume marketing messages",
    ),
]


@pytest.mark.parametrize(
    "update",
    [*_fixture_preferences(), *MADE_UP],
    ids=lambda u: f"{u.value}-{u.sender.key}",
)
def test_preference_envelope_round_trips(update: UserPreferenceUpdate) -> None:
    reparsed = parse_webhook(preference_envelope_for(update))

    assert reparsed.events == (update,)
    assert reparsed.problems == ()


def test_every_fixture_preference_is_covered() -> None:
    assert len(_fixture_preferences()) == 3


def test_preference_envelope_is_a_minimal_user_preferences_webhook() -> None:
    (stop,) = parse_webhook(load_webhook("user_preferences_stop")).events
    assert isinstance(stop, UserPreferenceUpdate)

    assert preference_envelope_for(stop) == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "field": "user_preferences",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"wa_id": "16505551234"}],
                            "user_preferences": [
                                {
                                    "wa_id": "16505551234",
                                    "category": "marketing_messages",
                                    "value": "stop",
                                    "timestamp": 1731705001,
                                    "detail": "User requested to stop marketing messages",
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }
