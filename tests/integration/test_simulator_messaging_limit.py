"""The simulator's portfolio messaging limit over its Graph API: only business-initiated
messages (outside the resident's service window) count, each recipient once in a moving 24 h,
and a message over the limit is accepted, then fails with 131048 in its status webhook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from chalicelib.simulator.server import GraphApiSimulator

TOKEN = "limit-token"
NUMBER = "100000000000009"
DAY = 24 * 60 * 60


@pytest.fixture
def simulator() -> Iterator[tuple[GraphApiSimulator, list[float]]]:
    moment = [1_800_000_000.0]
    sim = GraphApiSimulator(
        port=0,
        access_token=TOKEN,
        app_secret="limit-secret",
        phone_number_id=NUMBER,
        templates={"town_news": ["pt_PT"]},
        clock=lambda: moment[0],
        status_delay_seconds=0,
        messaging_limit=2,
    )
    sim.start()
    try:
        yield sim, moment
    finally:
        sim.stop()


def send(sim: GraphApiSimulator, to: str) -> None:
    response = requests.post(
        f"{sim.graph_base_url()}/{NUMBER}/messages",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "messaging_product": "whatsapp",
            "to": to,
            "type": "template",
            "template": {"name": "town_news", "language": {"code": "pt_PT"}},
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text


def test_only_new_business_initiated_recipients_count_and_one_over_fails_with_131048(
    simulator: tuple[GraphApiSimulator, list[float]],
) -> None:
    sim, moment = simulator
    sim.resident_says("351900000003", text="Olá")  # opens Eva's service window
    for to in ("351900000001", "351900000002", "351900000001", "351900000003"):
        send(sim, to)  # Ana, Rui, Ana again (free), Eva in her window (free)
    assert sim.wait_until_idle(5)
    stats = sim.stats()
    assert (stats["messaging_limit_used"], stats["failed_by_code"].get("131048", 0)) == (2, 0)

    send(sim, "351900000004")  # a third business-initiated recipient: over the limit
    assert sim.wait_until_idle(5)
    assert sim.stats()["failed_by_code"]["131048"] == 1
    failed = [m for m in sim.outbox() if m["to"] == "351900000004"]
    assert [m["status"] for m in failed] == ["failed"]

    moment[0] += DAY  # 24 h after Ana and Rui were last reached: they leave the count
    assert sim.stats()["messaging_limit_used"] == 0
    send(sim, "351900000004")
    assert sim.wait_until_idle(5)
    assert sim.stats()["failed_by_code"]["131048"] == 1
    assert sim.stats()["messaging_limit_used"] == 1
