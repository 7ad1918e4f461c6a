"""Back-office reminders in `civicchat run`: 50 obligations registered over the API, the job run
at chosen moments with `civicchat reminders run --at`, and what reaches the simulator."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.stack_process import CIVICCHAT, RunningStack, running_stack, wait_for

pytestmark = pytest.mark.e2e

LANGUAGES = ("pt", "es", "en", "ar")
# what each is sent as: the example town's template_language_codes (Meta has no bare "pt")
TEMPLATE_CODES = {"pt": "pt_PT", "es": "es", "en": "en", "ar": "ar"}
OPTED_OUT = {f"3519100050{n:02d}" for n in (3, 11, 19, 27, 35)}


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


def civicchat(stack: RunningStack, *args: str) -> str:
    port = stack.aws_emulator.rsplit(":", 1)[1]
    env = {**os.environ, "AWS_EMULATOR_PORT": port}
    for name in ("AWS_ENDPOINT_URL", "CIVICCHAT_STAGE"):
        env.pop(name, None)
    done = subprocess.run(
        [str(CIVICCHAT), *args, "--local"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def counts(output: str) -> dict[str, int]:
    """`queued 50`, `moved 0`, … from the lines `civicchat reminders run` prints."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found


def templates_sent(stack: RunningStack) -> list[dict[str, Any]]:
    sent = requests.get(f"{stack.simulator}/_sim/outbox", timeout=5).json()
    return [m for m in sent if m["body"].get("type") == "template"]


def test_fifty_obligations_get_their_reminders_once_by_day_and_never_after_stop(
    stack: RunningStack,
) -> None:
    key = next(
        line.strip()
        for line in civicchat(
            stack, "apikey", "create", "--name", "e2e-licensing",
            "--scopes", "reminders:write,notifications:write,status:read",
        ).splitlines()
        if line.strip().startswith("cck_")
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {key}"}

    for wa_id in sorted(OPTED_OUT):  # these residents said STOP before any reminder
        answer = requests.post(
            f"{stack.simulator}/_sim/residents/{wa_id}/messages",
            json={"name": "Stop", "type": "text", "text": "STOP"},
            timeout=10,
        )
        assert answer.status_code == 200
    wait_for(lambda: len(_texts_to(stack, OPTED_OUT)) >= len(OPTED_OUT), what="STOP confirmed")

    for n in range(50):
        external_id = f"licence-{n:03d}"
        response = requests.put(
            f"{stack.app}/api/v1/obligations/{external_id}",
            headers=auth,
            json={
                "phone": f"+3519100050{n:02d}",
                "kind": "driving_licence",
                "due_date": "2027-03-01",  # -42 d: Monday 18 January 2027, -7 d: 22 February
                "language": LANGUAGES[n % 4],
                "params": {"name": f"Resident {n}", "renewal_url": "https://example.org/r"},
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text

    # The night before: nothing is due yet.
    assert (
        counts(civicchat(stack, "reminders", "run", "--at", "2027-01-17T23:00:00Z")).get("queued")
        == 0
    )
    # 21:00 on the day: the 09:00 slot was missed (an outage) and it is night now — moved, not sent.
    night = counts(civicchat(stack, "reminders", "run", "--at", "2027-01-18T21:00:00Z"))
    assert night.get("queued") == 0 and night.get("moved") == 50
    # The next morning the catch-up sends them, once.
    morning = counts(civicchat(stack, "reminders", "run", "--at", "2027-01-19T09:00:00Z"))
    assert morning.get("queued") == 50
    assert (
        counts(civicchat(stack, "reminders", "run", "--at", "2027-01-19T09:00:00Z")).get("queued")
        == 0
    )

    wait_for(lambda: len(templates_sent(stack)) >= 45, timeout=60, what="45 reminders sent")
    time.sleep(2)  # room for a duplicate to show up
    sent = templates_sent(stack)
    assert len(sent) == 45
    assert Counter(m["to"] for m in sent).most_common(1)[0][1] == 1
    assert not {m["to"] for m in sent} & OPTED_OUT
    for message in sent:
        n = int(message["to"][-2:])
        template = message["body"]["template"]
        assert template["name"] == "licence_renewal"
        assert template["language"]["code"] == TEMPLATE_CODES[LANGUAGES[n % 4]]
        body = next(c for c in template["components"] if c["type"] == "body")
        texts = [p["text"] for p in body["parameters"]]
        assert texts == [f"Resident {n}", "01/03/2027", "https://example.org/r"]

    status = requests.get(f"{stack.app}/api/v1/obligations/licence-003", headers=auth, timeout=10)
    first = status.json()["reminders"][0]
    assert first["status"] == "skipped" and "opted_out" in str(first)


def _texts_to(stack: RunningStack, wa_ids: set[str]) -> list[dict[str, Any]]:
    sent = requests.get(f"{stack.simulator}/_sim/outbox", timeout=5).json()
    return [m for m in sent if m["to"] in wa_ids]
