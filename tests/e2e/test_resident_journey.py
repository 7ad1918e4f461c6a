"""The whole resident journey in `civicchat run`, as a person on the phone page makes it:
consent → menu → report a problem with a photo and a location → a reference → its status →
a person → STOP. In Portuguese and in Arabic; every expected text comes from the bundled
configuration, so the test checks the wiring, not the wording."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.settings import BUNDLED_CONFIG
from tests.e2e import stack_process
from tests.e2e.stack_process import RunningStack, running_stack, wait_for

pytestmark = pytest.mark.e2e

# A 1×1 PNG: the simulator stores it as the resident's upload, the app fetches it from there.
PHOTO = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6b3e2"
        "0000000049454e44ae426082"
    )
).decode()
REFERENCE = re.compile(r"[A-Z]{2,6}-\d{4}-\d{6}")


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)


class Phone(stack_process.Phone):
    """A phone that taps the buttons and rows it was offered."""

    def tap(self, reply_id: str, offered: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kind = next(
            (
                "button_reply" if body["interactive"]["type"] == "button" else "list_reply"
                for body in offered
                if reply_id in option_ids(body)
            ),
            None,
        )
        assert kind, f"{reply_id} was not offered in {offered}"
        return self.send(type=kind, reply_id=reply_id)


def stored_photos(stack: RunningStack, wa_id: str) -> list[str]:
    s3 = stack.aws("s3")
    [bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if "-media-" in b["Name"]]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"residents/wa:{wa_id}/media/")
    return [item["Key"] for item in listing.get("Contents", [])]


def option_ids(body: dict[str, Any]) -> list[str]:
    if body.get("type") != "interactive":
        return []
    action = body["interactive"]["action"]
    if "buttons" in action:
        return [button["reply"]["id"] for button in action["buttons"]]
    return [row["id"] for section in action["sections"] for row in section["rows"]]


def text_of(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    return body["interactive"]["body"]["text"]


def matches(template: str, text: str) -> bool:
    """`text` is `template` with its {placeholders} filled by something."""
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{\w+\\\}", ".+?", pattern)
    return re.fullmatch(pattern, text, re.DOTALL) is not None


@pytest.mark.parametrize(
    ("language", "wa_id", "hello", "stop"),
    [("pt", "351910004001", "Olá, bom dia", "STOP"), ("ar", "212600004001", "مرحبا", "إيقاف")],
)
def test_consent_menu_report_status_person_stop(
    stack: RunningStack,
    town: MunicipalityDefinition,
    language: str,
    wa_id: str,
    hello: str,
    stop: str,
) -> None:
    phone = Phone(stack, wa_id, "Residente")
    text = lambda key: town.text(key, language)  # noqa: E731

    # Consent first, in the language guessed from the number and the greeting.
    [consent] = phone.send(type="text", text=hello)
    assert text_of(consent) == town.consent.text[language]
    assert option_ids(consent) == ["consent:accept", "consent:decline", "consent:language"]

    welcome, menu = phone.tap("consent:accept", [consent])
    assert text_of(welcome) == town.welcome[language]
    assert text_of(menu) == town.main_menu.title[language]

    # Report a problem: category, description, photo, location pin → a reference.
    flow = town.flows["report_problem"]
    [categories] = phone.tap("report_problem", [menu])
    assert text_of(categories) == flow.steps[0].prompt[language]
    [ask_description] = phone.tap("choice:pothole", [categories])
    assert text_of(ask_description) == flow.steps[1].prompt[language]
    [ask_photo] = phone.send(type="text", text="Buraco grande / حفرة كبيرة")
    assert text_of(ask_photo) == flow.steps[2].prompt[language]
    assert "step:skip" in option_ids(ask_photo)
    [ask_location] = phone.send(type="image", image_base64=PHOTO, mime_type="image/png")
    assert text_of(ask_location) == flow.steps[3].prompt[language]
    created, *rest = phone.send(
        type="location", latitude=38.7223, longitude=-9.1393, location_name="Escola"
    )
    assert matches(text("ticket_created"), text_of(created)), text_of(created)
    reference = REFERENCE.search(text_of(created)).group(0)
    assert rest and rest[-1]["type"] == "interactive"  # the menu again
    assert wait_for(lambda: stored_photos(stack, wa_id), what="the photo in the media bucket")

    # Its status, by typing the reference.
    [status, *_] = phone.send(type="text", text=reference.lower())
    assert matches(text("ticket_status"), text_of(status))
    assert reference in text_of(status)
    assert town.tickets.statuses["open"][language] in text_of(status)

    # A person: the acknowledgement says who will answer.
    menu = next(body for body in reversed(rest) if "human" in option_ids(body))
    [handoff] = phone.tap("human", [menu])
    team = town.teams["front_desk"].display_name[language]
    assert text_of(handoff).startswith(text("handoff").replace("{team}", team))

    # STOP works even while a person has the conversation.
    [confirmation] = phone.send(type="text", text=stop)
    assert text_of(confirmation) == text("opted_out")
