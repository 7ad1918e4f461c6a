"""Fault injection, `biz_opaque_callback_data` and send statistics over real HTTP: what the
outbound pipeline's retries, backoff, pacing and dead-letter queue are tested against."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from chalicelib.simulator.errors import ERROR_KINDS
from chalicelib.simulator.faults import FaultSettings, FaultSettingsError, ThrottleBurst
from chalicelib.simulator.server import GraphApiSimulator
from tests.integration import test_simulator_api as api
from tests.integration.test_simulator_api import (
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    RESIDENT,
    STRANGER,
    FakeClock,
    WebhookReceiver,
    error_of,
    send,
    sim_api,
    template,
    text,
    wait_for,
)

# The simulator, webhook receiver and fake clock of the API tests.
receiver = api.receiver
clock = api.clock
make_sim = api.make_sim
sim = api.sim

EXAMPLE_FAULTS = {
    "server_error_rate": 0.2,
    "timeout_rate": 0.0,
    "timeout_seconds": 15,
    "error_codes": {"131000": 0.05, "130429": 0.0, "131016": 0.0, "2": 0.0, "190": 0.0},
    "throttle_burst": {"code": 130429, "count": 50},
    "seed": 7,
}
NO_FAULTS = {
    "server_error_rate": 0.0,
    "timeout_rate": 0.0,
    "timeout_seconds": 15.0,
    "error_codes": {},
    "throttle_burst": None,
    "seed": None,
}


def set_faults(simulator: GraphApiSimulator, **settings: Any) -> dict[str, Any]:
    return sim_api(simulator, "POST", "/_sim/faults", json=settings)


def stats(simulator: GraphApiSimulator) -> dict[str, Any]:
    answer = sim_api(simulator, "GET", "/_sim/stats")
    assert answer == simulator.stats()
    return answer


def recipient(n: int) -> str:
    return f"3519100{n:05d}"


def answers(simulator: GraphApiSimulator, count: int) -> list[tuple[int, int | None]]:
    """HTTP status and Meta code (None for a non-Meta body) of `count` template sends, each to
    a new recipient so that only the throughput limit could refuse them."""
    result = []
    for n in range(count):
        response = send(simulator, template(to=recipient(n)))
        code = response.json()["error"]["code"] if _is_meta_error(response) else None
        result.append((response.status_code, code))
    return result


def _is_meta_error(response: requests.Response) -> bool:
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return False
    return "error" in response.json()


# ---- settings -------------------------------------------------------------------------------


def test_faults_are_set_shown_and_cleared_over_http(sim: GraphApiSimulator) -> None:
    assert sim_api(sim, "GET", "/_sim/faults") == {
        "active": False,
        "settings": NO_FAULTS,
        "throttle_burst_remaining": 0,
    }

    applied = set_faults(sim, **EXAMPLE_FAULTS)

    expected = {
        "active": True,
        "settings": EXAMPLE_FAULTS
        | {"error_codes": {"2": 0.0, "190": 0.0, "130429": 0.0, "131000": 0.05, "131016": 0.0}},
        "throttle_burst_remaining": 50,
    }
    assert applied == expected
    assert sim_api(sim, "GET", "/_sim/faults") == expected
    assert sim.faults() == FaultSettings(
        server_error_rate=0.2,
        timeout_seconds=15,
        error_codes={131000: 0.05, 130429: 0.0, 131016: 0.0, 2: 0.0, 190: 0.0},
        throttle_burst=ThrottleBurst(code=130429, count=50),
        seed=7,
    )
    cleared = sim_api(sim, "DELETE", "/_sim/faults")
    assert cleared["active"] is False
    assert cleared["settings"] == NO_FAULTS
    assert sim.faults() == FaultSettings()


@pytest.mark.parametrize(
    "body",
    [
        {"server_error_rate": 1.5},
        {"timeout_rate": -0.1},
        {"server_error_rate": "0.2"},
        {"server_error_rate": 0.6, "error_codes": {"131000": 0.5}},
        {"error_codes": {"999": 0.1}},
        {"error_codes": {"abc": 0.1}},
        {"error_codes": [131000]},
        {"timeout_seconds": 0},
        {"timeout_seconds": 10_000},
        {"throttle_burst": {"count": -1}},
        {"throttle_burst": {"code": 130429}},
        {"throttle_burst": {"count": 5, "code": 999}},
        {"seed": "seven"},
        {"server_eror_rate": 0.2},
    ],
)
def test_settings_that_cannot_apply_are_400_and_change_nothing(
    sim: GraphApiSimulator, body: dict[str, Any]
) -> None:
    set_faults(sim, server_error_rate=0.1)

    response = requests.post(f"{sim.url}/_sim/faults", json=body, timeout=5)

    assert response.status_code == 400, body
    assert response.json()["error"]
    assert sim.faults() == FaultSettings(server_error_rate=0.1)


def test_in_process_settings_are_checked_too(sim: GraphApiSimulator) -> None:
    with pytest.raises(FaultSettingsError, match="at most 1"):
        sim.set_faults(server_error_rate=0.7, timeout_rate=0.7)
    with pytest.raises(ValueError, match="error_codes"):
        sim.set_faults(FaultSettings(error_codes={42: 0.1}))
    with pytest.raises(TypeError):
        sim.set_faults(FaultSettings(), seed=1)

    assert sim.set_faults(timeout_rate=0.5) == FaultSettings(timeout_rate=0.5)
    assert sim_api(sim, "GET", "/_sim/faults")["settings"]["timeout_rate"] == 0.5
    sim.clear_faults()
    assert sim.faults() == FaultSettings()


# ---- each kind of fault ---------------------------------------------------------------------


def test_server_errors_mix_meta_and_non_meta_bodies_and_are_never_accepted(
    sim: GraphApiSimulator,
) -> None:
    set_faults(sim, server_error_rate=1.0, seed=7)

    responses = [send(sim, template(to=recipient(n))) for n in range(24)]

    by_status = {response.status_code: response for response in responses}
    assert set(by_status) == {500, 502, 503}
    meta = error_of(by_status[500])
    assert meta["code"] == 2
    assert meta["message"] == "(#2) API Service"
    assert meta["type"] == "OAuthException"
    assert meta["fbtrace_id"]
    assert by_status[502].headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in by_status[502].content
    assert by_status[503].content == b""
    assert sim.outbox() == []
    counts = stats(sim)
    assert counts["accepted"] == 0
    assert counts["faults_injected"]["server_error"] == 24
    by_http_status = counts["faults_injected_by_http_status"]
    assert sum(by_http_status.values()) == 24
    assert by_http_status["500"] == counts["faults_injected_by_code"]["2"]

    sim.clear_faults()
    assert send(sim, template()).status_code == 200


@pytest.mark.parametrize("code", [131000, 130429, 131016, 2, 190, 131056, 368])
def test_injected_error_codes_have_meta_title_and_http_status(
    sim: GraphApiSimulator, code: int
) -> None:
    set_faults(sim, error_codes={str(code): 1.0})

    response = send(sim, template())

    kind = ERROR_KINDS[code]
    assert response.status_code == kind.http_status
    error = error_of(response)
    assert error["code"] == code
    assert error["message"] == f"(#{code}) {kind.title}"
    assert error["type"] == "OAuthException"
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": kind.details}
    assert error["fbtrace_id"]
    if code == 190:
        assert "invalid_token" in response.headers["WWW-Authenticate"]
    assert sim.outbox() == []
    counts = stats(sim)
    assert counts["faults_injected"]["error_code"] == 1
    assert counts["faults_injected_by_code"] == {str(code): 1}
    # Injected refusals are not the simulator's own: a benchmark reads pacing off these.
    assert set(counts["rejected_by_code"].values()) == {0}


def test_throttle_burst_answers_the_next_count_requests(sim: GraphApiSimulator) -> None:
    set_faults(sim, throttle_burst={"count": 3})

    first = answers(sim, 2)
    assert sim_api(sim, "GET", "/_sim/faults")["throttle_burst_remaining"] == 1
    rest = answers(sim, 2)

    assert first + rest == [(400, 130429), (400, 130429), (400, 130429), (200, None)]
    faults = sim_api(sim, "GET", "/_sim/faults")
    assert faults["throttle_burst_remaining"] == 0
    assert faults["active"] is False
    counts = stats(sim)
    assert counts["faults_injected"]["throttle_burst"] == 3
    assert counts["faults_injected_by_code"] == {"130429": 3}
    assert counts["rejected_by_code"]["130429"] == 0
    assert counts["accepted"] == 1


def test_a_timed_out_request_is_held_and_not_accepted(sim: GraphApiSimulator) -> None:
    set_faults(sim, timeout_rate=1.0, timeout_seconds=0.5)
    url = f"{sim.graph_base_url()}/{PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}

    with pytest.raises(requests.ReadTimeout):
        requests.post(url, json=template(), headers=headers, timeout=0.2)
    started = time.monotonic()
    patient = requests.post(url, json=template(), headers=headers, timeout=5)
    waited = time.monotonic() - started

    assert patient.status_code == 504
    assert patient.headers["Content-Type"].startswith("text/html")
    assert waited >= 0.45
    assert sim.outbox() == []
    counts = stats(sim)
    assert counts["accepted"] == 0
    assert counts["faults_injected"]["timeout"] == 2
    assert counts["faults_injected_by_http_status"] == {"504": 2}
    sim.clear_faults()
    assert send(sim, template()).status_code == 200


def test_stop_does_not_wait_for_a_held_request(
    make_sim: Callable[..., GraphApiSimulator],
) -> None:
    simulator = make_sim()
    simulator.set_faults(timeout_rate=1.0, timeout_seconds=60)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(send(simulator, template()).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_for(lambda: simulator.stats()["faults_injected"]["timeout"] == 1, what="the held request")

    started = time.monotonic()
    simulator.stop()

    assert time.monotonic() - started < 2.0
    caller.join(5)
    # A server going down answers nothing: the connection just drops.
    [dropped] = outcome
    assert isinstance(dropped, requests.ConnectionError)


def test_faults_strike_only_well_formed_authorised_requests(sim: GraphApiSimulator) -> None:
    set_faults(sim, error_codes={"131000": 1.0})

    malformed = send(sim, template() | {"typo": 1})
    unauthorised = send(sim, template(), token="wrong")
    not_json = requests.post(
        f"{sim.graph_base_url()}/{PHONE_NUMBER_ID}/messages",
        data=b"{",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    )
    phone = requests.get(
        f"{sim.graph_base_url()}/{PHONE_NUMBER_ID}",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    )

    assert error_of(malformed)["code"] == 100
    assert error_of(unauthorised)["code"] == 190
    assert error_of(not_json)["code"] == 100
    assert phone.status_code == 200  # only POST .../messages is faulted
    assert stats(sim)["faults_injected"]["total"] == 0
    assert error_of(send(sim, template()))["code"] == 131000
    counts = stats(sim)
    assert counts["faults_injected"]["total"] == 1
    assert counts["rejected_by_code"]["100"] == 2
    assert counts["rejected_by_code"]["190"] == 1
    assert counts["rejected"] == 3


def test_mark_as_read_requests_draw_faults_too(sim: GraphApiSimulator) -> None:
    inbound = sim.resident_says(RESIDENT, text="hi")
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound}
    set_faults(sim, throttle_burst={"count": 1, "code": 131016})

    assert error_of(send(sim, body))["code"] == 131016
    assert send(sim, body).json() == {"success": True}
    counts = stats(sim)
    assert counts["marked_read"] == 1
    assert counts["accepted"] == 0
    assert counts["requests"] == 2


# ---- determinism and the rate limits --------------------------------------------------------


def test_the_same_seed_gives_the_same_faults(sim: GraphApiSimulator, clock: FakeClock) -> None:
    mix = {"server_error_rate": 0.3, "error_codes": {"131000": 0.2, "131016": 0.1}}

    set_faults(sim, **mix, seed=7)
    first = answers(sim, 40)
    clock.advance(1.0)
    set_faults(sim, **mix, seed=7)
    again = answers(sim, 40)
    clock.advance(1.0)
    set_faults(sim, **mix, seed=8)
    other = answers(sim, 40)

    assert first == again
    assert first != other
    assert {(200, None), (500, 131000), (503, 131016)} <= set(first)


def test_faulted_requests_do_not_use_up_the_80_per_second_limit(sim: GraphApiSimulator) -> None:
    set_faults(sim, throttle_burst={"count": 40})
    throttled = answers(sim, 40)
    set_faults(sim, server_error_rate=1.0, seed=1)
    failed = answers(sim, 40)
    sim.clear_faults()

    admitted = answers(sim, 80)  # the fake clock stands still: all within one second
    over = send(sim, template(to=recipient(99_999)))

    assert throttled == [(400, 130429)] * 40
    assert {status for status, _ in failed} == {500, 502, 503}
    assert admitted == [(200, None)] * 80
    assert error_of(over)["code"] == 130429  # the genuine limit, after exactly 80
    counts = stats(sim)
    assert counts["accepted"] == 80
    assert counts["rejected_by_code"]["130429"] == 1
    assert counts["faults_injected"]["total"] == 80
    assert counts["max_accepted_in_any_1s_window"] == 80


# ---- biz_opaque_callback_data ---------------------------------------------------------------


def test_callback_data_is_in_the_outbox_and_every_status_webhook(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    tagged = send(sim, text() | {"biz_opaque_callback_data": "out-1"}).json()["messages"][0]["id"]
    plain = send(sim, text()).json()["messages"][0]["id"]
    failed = send(sim, text(to=STRANGER) | {"biz_opaque_callback_data": "out-2"})
    failed_wamid = failed.json()["messages"][0]["id"]
    receiver.wait_for_status(tagged, "delivered")
    receiver.wait_for_status(plain, "delivered")

    sim.thread(RESIDENT, mark_read=True)

    receiver.wait_for_status(tagged, "read")
    tagged_statuses = receiver.statuses(tagged)
    assert [s["status"] for s in tagged_statuses] == ["sent", "delivered", "read"]
    assert {s["biz_opaque_callback_data"] for s in tagged_statuses} == {"out-1"}
    receiver.wait_for_status(plain, "read")
    assert all("biz_opaque_callback_data" not in s for s in receiver.statuses(plain))
    failure = receiver.wait_for_status(failed_wamid, "failed")
    assert failure["biz_opaque_callback_data"] == "out-2"
    assert failure["errors"][0]["code"] == 131047
    outbox = {entry["wamid"]: entry for entry in sim_api(sim, "GET", "/_sim/outbox")}
    assert outbox[tagged]["biz_opaque_callback_data"] == "out-1"
    assert outbox[plain]["biz_opaque_callback_data"] is None
    assert outbox[failed_wamid]["biz_opaque_callback_data"] == "out-2"
    assert stats(sim)["failed_by_code"] == {"131047": 1}


def test_callback_data_is_at_most_512_characters(sim: GraphApiSimulator) -> None:
    longest = send(sim, template() | {"biz_opaque_callback_data": "x" * 512})
    too_long = send(sim, template() | {"biz_opaque_callback_data": "x" * 513})
    not_text = send(sim, template() | {"biz_opaque_callback_data": 42})

    assert longest.status_code == 200
    assert error_of(too_long)["code"] == 100
    assert error_of(not_text)["code"] == 131009


# ---- stats ----------------------------------------------------------------------------------


def test_stats_count_acceptances_windows_and_duplicates(
    sim: GraphApiSimulator, clock: FakeClock
) -> None:
    t0 = clock.now
    callback_data = iter(["a", "b", "a", "c", "b", "b", None, "d", "e", "f"])

    def send_tagged(count: int) -> None:
        for _ in range(count):
            body = template()
            data = next(callback_data)
            if data is not None:
                body["biz_opaque_callback_data"] = data
            assert send(sim, body).status_code == 200

    send_tagged(5)  # at t0
    clock.advance(0.5)
    send_tagged(3)  # at t0 + 0.5: eight within one second
    clock.advance(0.6)
    send_tagged(2)  # at t0 + 1.1: the window (t0 + 0.1, t0 + 1.1] holds five
    assert error_of(send(sim, template(name="unknown_template")))["code"] == 132001

    counts = stats(sim)

    assert counts["since"] == t0
    assert counts["accepted"] == 10
    assert counts["first_accepted_at"] == t0
    assert counts["last_accepted_at"] == pytest.approx(t0 + 1.1)
    assert counts["max_accepted_in_any_1s_window"] == 8
    assert counts["accepted_per_second"] == {str(int(t0)): 8, str(int(t0) + 1): 2}
    assert counts["rejected"] == 1
    assert counts["rejected_by_code"]["132001"] == 1
    assert counts["rejected_by_code"]["130429"] == 0
    assert counts["rejected_by_code"]["131056"] == 0
    assert counts["requests"] == 11
    assert counts["duplicates_by_callback_data"] == 2
    assert counts["duplicate_callback_data"] == {"a": 2, "b": 3}


def test_stats_can_restart_and_reset_clears_stats_and_faults(sim: GraphApiSimulator) -> None:
    assert send(sim, template()).status_code == 200
    set_faults(sim, server_error_rate=0.5, seed=3)

    fresh = sim_api(sim, "DELETE", "/_sim/stats")

    assert fresh["accepted"] == 0
    assert fresh["first_accepted_at"] is None
    assert fresh["max_accepted_in_any_1s_window"] == 0
    assert len(sim.outbox()) == 1  # conversations are kept
    assert sim.faults().server_error_rate == 0.5  # and so are the faults
    answers(sim, 4)
    assert stats(sim)["requests"] == 4

    assert sim_api(sim, "POST", "/_sim/reset") == {"success": True}

    assert sim_api(sim, "GET", "/_sim/faults")["active"] is False
    counts = stats(sim)
    assert counts["requests"] == 0
    assert counts["faults_injected"] == {
        "total": 0,
        "timeout": 0,
        "server_error": 0,
        "error_code": 0,
        "throttle_burst": 0,
    }
    assert counts["duplicates_by_callback_data"] == 0
