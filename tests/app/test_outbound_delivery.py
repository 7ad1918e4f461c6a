"""Outbound delivery through the real reply sender, moto and the simulator's injected faults,
and the operator commands that list and replay what was given up on."""

from __future__ import annotations

import argparse
import time

from chalicelib import operator_commands
from chalicelib.domain.messages import DeliveryStatus
from chalicelib.domain.retry_policy import MAX_SEND_ATTEMPTS
from chalicelib.simulator.faults import ThrottleBurst
from chalicelib.wiring import container
from tests.app.conftest import PHONE_NUMBER_ID, AppHarness
from tests.app.test_webhook_to_reply import _text_webhook


def _first_reply(harness: AppHarness, wamid: str) -> str:
    return container().messages.get(wamid).reply_ids[0]


def _store_turn(harness: AppHarness, wa_id: str, wamid: str) -> None:
    assert harness.post_webhook(_text_webhook(wa_id, wamid, "Olá")).status_code == 200
    harness.run_worker("inbound_worker", harness.names.inbound_queue)


def _send_until(harness: AppHarness, done, timeout: float = 8.0) -> list[dict]:
    """Run the reply sender as SQS redelivers (deferred records come back after their delay)."""
    results = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        results.append(harness.run_worker("reply_sender", harness.names.outbound_replies_queue))
        time.sleep(0.3)
    return results


def _cli(harness: AppHarness, *argv: str) -> list[str]:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    operator_commands.add_commands(commands)
    args = parser.parse_args(
        [*argv, "--stage", harness.names.stage, "--phone-number-id", PHONE_NUMBER_ID]
    )
    printed: list[str] = []
    assert operator_commands.run(args, printed.append) == 0
    return printed


def test_a_transient_fault_is_retried_and_the_reply_still_goes_out_once(
    harness: AppHarness,
) -> None:
    _store_turn(harness, "351917000001", "wamid.transient")
    reply_id = _first_reply(harness, "wamid.transient")
    harness.simulator.set_faults(throttle_burst=ThrottleBurst(count=1, code=131000))

    first = harness.run_worker("reply_sender", harness.names.outbound_replies_queue)
    assert len(first["batchItemFailures"]) == 1  # the record, not the batch
    assert container().messages.get(reply_id).attempts == 1

    _send_until(harness, lambda: container().messages.get(reply_id).status is DeliveryStatus.SENT)
    sent = [m for m in harness.simulator.outbox() if m["to"] == "351917000001"]
    assert [m["biz_opaque_callback_data"] for m in sent].count(reply_id) == 1
    assert harness.simulator.stats()["duplicates_by_callback_data"] == 0


def test_an_expired_token_pauses_the_sender_until_an_operator_resumes_it(
    harness: AppHarness,
) -> None:
    _store_turn(harness, "351917000002", "wamid.paused")
    reply_id = _first_reply(harness, "wamid.paused")
    harness.simulator.set_faults(throttle_burst=ThrottleBurst(count=1, code=190))

    harness.run_worker("reply_sender", harness.names.outbound_replies_queue)

    (status_line,) = _cli(harness, "sender", "status")
    assert "PAUSED" in status_line and "(190)" in status_line
    assert container().messages.get(reply_id).status is DeliveryStatus.QUEUED

    assert _cli(harness, "sender", "resume") == [f"sender for {PHONE_NUMBER_ID} resumed"]
    # The record was deferred for the pause; bring it back now rather than in three minutes.
    container().outbound_queue.enqueue([reply_id], container().priority_of_queue("x"))
    _send_until(harness, lambda: container().messages.get(reply_id).status is DeliveryStatus.SENT)
    assert container().messages.get(reply_id).wamid


def test_a_message_out_of_attempts_is_dead_lettered_listed_and_replayed(
    harness: AppHarness,
) -> None:
    _store_turn(harness, "351917000003", "wamid.dead")
    reply_id = _first_reply(harness, "wamid.dead")
    messages = container().messages
    for _ in range(MAX_SEND_ATTEMPTS - 1):  # earlier deliveries that failed
        messages.claim_for_sending(reply_id, messages.get(reply_id).created_at)
        messages.release_claim(
            reply_id, messages.get(reply_id).created_at, error_code=131016, error_title="x"
        )
    harness.simulator.set_faults(throttle_burst=ThrottleBurst(count=1, code=131016))

    harness.run_worker("reply_sender", harness.names.outbound_replies_queue)

    assert messages.get(reply_id).status is DeliveryStatus.FAILED
    listing = _cli(harness, "dlq", "list")
    assert any(
        line.startswith(reply_id) and f"gave up after {MAX_SEND_ATTEMPTS} attempts" in line
        for line in listing
    ), listing

    harness.simulator.clear_faults()
    (replayed,) = _cli(harness, "dlq", "replay", "--message-id", reply_id)
    assert reply_id in replayed
    _send_until(harness, lambda: messages.get(reply_id).status is DeliveryStatus.SENT)
    assert messages.get(reply_id).attempts == 0
    assert _cli(harness, "dlq", "list")[-1].startswith("0 parked")


def test_an_operator_resolves_a_conversation_and_the_resident_rates_it(
    harness: AppHarness,
) -> None:
    wa_id = "351917000009"
    for n, text in enumerate(("Olá", "Aceito", "Falar com uma pessoa")):
        _store_turn_saying(harness, wa_id, f"wamid.rate-{n}", text)
    _, handed_off = container().residents.load(f"wa:{wa_id}")
    assert handed_off.status.value == "queued"

    printed = _cli(harness, "conversation", "resolve", "--phone", f"+{wa_id}", "--by", "ana")
    assert printed == [f"conversation {handed_off.id} resolved; satisfaction question sent"]
    harness.run_worker("reply_sender", harness.names.outbound_replies_queue)
    survey = [m for m in harness.simulator.outbox() if m["to"] == wa_id][-1]["body"]
    rows = survey["interactive"]["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [f"csat:{n}" for n in range(1, 6)]

    _store_turn_saying(harness, wa_id, "wamid.rate-5", "5")
    _, rated = container().residents.load(f"wa:{wa_id}")
    assert (rated.id, rated.status.value, rated.csat_score) == (handed_off.id, "resolved", 5)


def _store_turn_saying(harness: AppHarness, wa_id: str, wamid: str, text: str) -> None:
    assert harness.post_webhook(_text_webhook(wa_id, wamid, text)).status_code == 200
    harness.run_worker("inbound_worker", harness.names.inbound_queue)
    harness.run_worker("reply_sender", harness.names.outbound_replies_queue)
