"""The WhatsApp Cloud API simulator over real HTTP: a simulator on a free port, a tiny local
webhook receiver standing in for the app, and a fake clock for windows, limits and expiry."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
import requests

from chalicelib.simulator.server import GraphApiSimulator

ACCESS_TOKEN = "sim-access-token"
APP_SECRET = "sim-app-secret"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550001234"
RESIDENT = "351912345678"
STRANGER = "351900000009"  # never wrote: outside the 24 h window
TEMPLATES = {"hello_world": ["en_US"], "aviso_recolha": ["pt_PT"], "lembrete": ["es"]}
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n\xff\xd9"
DAY = 24 * 60 * 60

T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, timeout: float = 5.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def value(self) -> dict[str, Any]:
        return self.payload["entry"][0]["changes"][0]["value"]


class WebhookReceiver:
    """Stands in for the app's /webhooks/whatsapp: records every POST, answers scripted codes."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._answers: deque[int] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.deliveries.append(Delivery(dict(self.headers.items()), body))
                    code = receiver._answers.popleft() if receiver._answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/whatsapp"

    def answer_next(self, *codes: int) -> None:
        with self._lock:
            self._answers.extend(codes)

    def all(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def messages(self) -> list[tuple[Delivery, dict[str, Any]]]:
        return [(d, m) for d in self.all() for m in d.value.get("messages", [])]

    def statuses(self, wamid: str) -> list[dict[str, Any]]:
        return [s for d in self.all() for s in d.value.get("statuses", []) if s["id"] == wamid]

    def wait_for_message(self, wamid: str) -> tuple[Delivery, dict[str, Any]]:
        def find() -> tuple[Delivery, dict[str, Any]] | None:
            return next(((d, m) for d, m in self.messages() if m["id"] == wamid), None)

        return wait_for(find, what=f"the webhook for {wamid}")

    def wait_for_status(self, wamid: str, status: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((s for s in self.statuses(wamid) if s["status"] == status), None)

        return wait_for(find, what=f"a {status} status for {wamid}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver()
    yield running
    running.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(
    receiver: WebhookReceiver, clock: FakeClock
) -> Iterator[Callable[..., GraphApiSimulator]]:
    started: list[GraphApiSimulator] = []

    def make(**overrides: Any) -> GraphApiSimulator:
        options: dict[str, Any] = {
            "port": 0,
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "phone_number_id": PHONE_NUMBER_ID,
            "display_phone_number": DISPLAY_NUMBER,
            "webhook_url": receiver.url,
            "templates": TEMPLATES,
            "clock": clock,
            "status_delay_seconds": 0.01,
        }
        simulator = GraphApiSimulator(**(options | overrides))
        simulator.start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_sim: Callable[..., GraphApiSimulator]) -> GraphApiSimulator:
    return make_sim()


# ---- helpers --------------------------------------------------------------------------------


def graph(
    simulator: GraphApiSimulator,
    method: str,
    path: str,
    *,
    token: str | None = ACCESS_TOKEN,
    **kwargs: Any,
) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{simulator.graph_base_url()}{path}"
    return requests.request(method, url, headers=headers, timeout=5, **kwargs)


def send(simulator: GraphApiSimulator, body: Any, **kwargs: Any) -> requests.Response:
    return graph(simulator, "POST", f"/{PHONE_NUMBER_ID}/messages", json=body, **kwargs)


def sim_api(simulator: GraphApiSimulator, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{simulator.url}{path}", timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def text(to: str = RESIDENT, body: str = "Olá") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


def template(name: str = "hello_world", code: str = "en_US", to: str = RESIDENT) -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"code": code}},
    }


BUTTONS = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": RESIDENT,
    "type": "interactive",
    "interactive": {
        "type": "button",
        "body": {"text": "Confirm the pickup?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "no", "title": "No"}},
            ]
        },
    },
}

LIST = {
    "messaging_product": "whatsapp",
    "to": RESIDENT,
    "type": "interactive",
    "interactive": {
        "type": "list",
        "header": {"type": "text", "text": "Services"},
        "body": {"text": "What do you need?"},
        "footer": {"text": "Câmara Municipal"},
        "action": {
            "button": "Options",
            "sections": [
                {
                    "title": "Waste",
                    "rows": [
                        {"id": "bulky", "title": "Bulky waste", "description": "Book a pickup"},
                        {"id": "bins", "title": "Bins"},
                    ],
                }
            ],
        },
    },
}


def image_by_link(caption: str | None = None, kind: str = "image") -> dict[str, Any]:
    media: dict[str, Any] = {"link": "https://example.org/a.jpg"}
    if caption is not None:
        media["caption"] = caption
    return {"messaging_product": "whatsapp", "to": RESIDENT, "type": kind, kind: media}


def error_of(response: requests.Response) -> dict[str, Any]:
    return response.json()["error"]


_DELETE = object()


def changed(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


def buttons(count: int, **reply: str) -> list[dict[str, Any]]:
    return [
        {"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}", **reply}}
        for i in range(count)
    ]


def sections(*row_counts: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"Section {s}",
            "rows": [{"id": f"r{s}-{r}", "title": f"Row {r}"} for r in range(count)],
        }
        for s, count in enumerate(row_counts)
    ]


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


# ---- authentication and addressing ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {ACCESS_TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_graph_requests_without_the_right_token_get_401_code_190(
    sim: GraphApiSimulator, headers: dict[str, str]
) -> None:
    response = send(sim, text(), token=None, headers=headers)

    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == 190
    assert error["type"] == "OAuthException"
    assert error["message"].startswith("(#190) ")
    assert error["error_data"]["details"]
    assert error["fbtrace_id"]
    assert sim.outbox() == []


def test_every_graph_path_needs_the_token(sim: GraphApiSimulator) -> None:
    assert graph(sim, "GET", f"/{PHONE_NUMBER_ID}", token=None).status_code == 401
    assert graph(sim, "GET", "/123456", token="nope").status_code == 401
    assert graph(sim, "DELETE", "/123456", token=None).status_code == 401


def test_unknown_phone_number_id_is_code_100(sim: GraphApiSimulator) -> None:
    response = graph(sim, "POST", "/999999999/messages", json=text())

    assert response.status_code == 400
    assert error_of(response)["code"] == 100


def test_any_graph_version_is_accepted(sim: GraphApiSimulator) -> None:
    url = f"{sim.url}/v17.0/{PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}

    assert requests.post(url, json=template(), headers=headers, timeout=5).status_code == 200
    assert sim.graph_base_url() == f"{sim.url}/v23.0"
    assert sim.graph_base_url("v25.0") == f"{sim.url}/v25.0"


def test_send_answers_exactly_like_meta_and_normalises_to(sim: GraphApiSimulator) -> None:
    sim.resident_says(RESIDENT, text="hi")
    to = "+351 (91) 234-5678"

    first = send(sim, text(to=to))
    second = send(sim, text(to=to))

    assert first.status_code == 200, first.text
    answer = first.json()
    assert set(answer) == {"messaging_product", "contacts", "messages"}
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": to, "wa_id": RESIDENT}]
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    base64.b64decode(wamid.removeprefix("wamid."), validate=True)
    assert second.json()["messages"][0]["id"] != wamid
    assert [m["to"] for m in sim.outbox()] == [RESIDENT, RESIDENT]


def test_a_business_scoped_user_id_can_replace_to(sim: GraphApiSimulator) -> None:
    body = template()
    del body["to"]
    body["recipient"] = "PT.123abc"

    response = send(sim, body)

    assert response.status_code == 200, response.text
    assert response.json()["contacts"] == [{"input": "PT.123abc", "user_id": "PT.123abc"}]
    assert sim.outbox()[0]["to"] == "PT.123abc"


# ---- strict validation ----------------------------------------------------------------------

_INVALID_BODIES: list[tuple[str, dict[str, Any], tuple[Any, ...], Any, int]] = [
    # name, base body, path to change, new value (or _DELETE), expected code
    ("messaging_product missing", text(), ("messaging_product",), _DELETE, 100),
    ("messaging_product wrong", text(), ("messaging_product",), "sms", 100),
    ("misspelled top-level key", text(), ("txt",), {"body": "x"}, 100),
    ("misspelled text key", text(), ("text", "bodyy"), "x", 100),
    ("unsupported type", text(), ("type",), "hologram", 100),
    ("to missing", text(), ("to",), _DELETE, 131008),
    ("to not a number", text(), ("to",), "call me", 131009),
    ("to too long", text(), ("to",), "1" * 16, 131009),
    ("recipient_type group", text(), ("recipient_type",), "group", 131009),
    ("text object missing", text(), ("text",), _DELETE, 131008),
    ("text body missing", text(), ("text", "body"), _DELETE, 131008),
    ("text body empty", text(), ("text", "body"), "", 100),
    ("text body 4097", text(), ("text", "body"), "x" * 4097, 100),
    ("text body not a string", text(), ("text", "body"), 42, 131009),
    ("preview_url not boolean", text(), ("text", "preview_url"), "yes", 131009),
    ("context without message_id", text(), ("context",), {}, 131008),
    ("buttons: none", BUTTONS, ("interactive", "action", "buttons"), [], 100),
    ("buttons: four", BUTTONS, ("interactive", "action", "buttons"), buttons(4), 100),
    (
        "buttons: title 21",
        BUTTONS,
        ("interactive", "action", "buttons", 0, "reply", "title"),
        "x" * 21,
        100,
    ),
    (
        "buttons: title empty",
        BUTTONS,
        ("interactive", "action", "buttons", 0, "reply", "title"),
        "",
        100,
    ),
    (
        "buttons: duplicate title",
        BUTTONS,
        ("interactive", "action", "buttons", 1, "reply", "title"),
        "Yes",
        131009,
    ),
    (
        "buttons: duplicate id",
        BUTTONS,
        ("interactive", "action", "buttons", 1, "reply", "id"),
        "yes",
        131009,
    ),
    (
        "buttons: id 257",
        BUTTONS,
        ("interactive", "action", "buttons", 0, "reply", "id"),
        "x" * 257,
        100,
    ),
    (
        "buttons: id with spaces",
        BUTTONS,
        ("interactive", "action", "buttons", 0, "reply", "id"),
        " yes",
        131009,
    ),
    ("buttons: type url", BUTTONS, ("interactive", "action", "buttons", 0, "type"), "url", 131009),
    ("buttons: body 1025", BUTTONS, ("interactive", "body", "text"), "x" * 1025, 100),
    ("buttons: body missing", BUTTONS, ("interactive", "body"), _DELETE, 131008),
    ("buttons: action missing", BUTTONS, ("interactive", "action"), _DELETE, 131008),
    ("interactive: unknown type", BUTTONS, ("interactive", "type"), "carousel", 131009),
    ("list: 11 rows in total", LIST, ("interactive", "action", "sections"), sections(6, 5), 100),
    ("list: 11 sections", LIST, ("interactive", "action", "sections"), sections(*[1] * 11), 100),
    ("list: no sections", LIST, ("interactive", "action", "sections"), [], 100),
    ("list: section without rows", LIST, ("interactive", "action", "sections", 0, "rows"), [], 100),
    (
        "list: untitled section among two",
        LIST,
        ("interactive", "action", "sections"),
        [
            {"rows": [{"id": "a", "title": "A"}]},
            {"title": "B", "rows": [{"id": "b", "title": "B"}]},
        ],
        131008,
    ),
    (
        "list: row title 25",
        LIST,
        ("interactive", "action", "sections", 0, "rows", 0, "title"),
        "x" * 25,
        100,
    ),
    (
        "list: row id 201",
        LIST,
        ("interactive", "action", "sections", 0, "rows", 0, "id"),
        "x" * 201,
        100,
    ),
    (
        "list: row description 73",
        LIST,
        ("interactive", "action", "sections", 0, "rows", 0, "description"),
        "x" * 73,
        100,
    ),
    (
        "list: duplicate row id",
        LIST,
        ("interactive", "action", "sections", 0, "rows", 1, "id"),
        "bulky",
        131009,
    ),
    ("list: button label missing", LIST, ("interactive", "action", "button"), _DELETE, 131008),
    ("list: button label 21", LIST, ("interactive", "action", "button"), "x" * 21, 100),
    ("list: header 61", LIST, ("interactive", "header", "text"), "x" * 61, 100),
    (
        "list: image header",
        LIST,
        ("interactive", "header"),
        {"type": "image", "image": {"link": "https://e.org/a.jpg"}},
        131009,
    ),
    ("list: footer 61", LIST, ("interactive", "footer", "text"), "x" * 61, 100),
    ("list: body 4097", LIST, ("interactive", "body", "text"), "x" * 4097, 100),
    ("media: id and link", image_by_link(), ("image", "id"), "1234", 131009),
    ("media: neither id nor link", image_by_link(), ("image", "link"), _DELETE, 131008),
    ("media: unknown id", image_by_link(), ("image",), {"id": "1234567"}, 100),
    ("media: link not http", image_by_link(), ("image", "link"), "file:///etc/passwd", 131009),
    ("media: caption 1025", image_by_link("x" * 1025), (), None, 100),
    ("media: caption on audio", image_by_link("hello", kind="audio"), (), None, 100),
    ("media: caption on sticker", image_by_link("hello", kind="sticker"), (), None, 100),
    (
        "location: latitude 91",
        {
            "messaging_product": "whatsapp",
            "to": RESIDENT,
            "type": "location",
            "location": {"latitude": 91, "longitude": 0},
        },
        (),
        None,
        131009,
    ),
    (
        "location: longitude missing",
        {
            "messaging_product": "whatsapp",
            "to": RESIDENT,
            "type": "location",
            "location": {"latitude": 1},
        },
        (),
        None,
        131008,
    ),
    ("template: name missing", template(), ("template", "name"), _DELETE, 131008),
    ("template: language missing", template(), ("template", "language"), _DELETE, 131008),
    (
        "template: language code missing",
        template(),
        ("template", "language", "code"),
        _DELETE,
        131008,
    ),
    (
        "template: bad component type",
        template(),
        ("template", "components"),
        [{"type": "footer"}],
        131009,
    ),
    (
        "mark read: message_id missing",
        {"messaging_product": "whatsapp", "status": "read"},
        (),
        None,
        131008,
    ),
    (
        "mark read: bad typing indicator",
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.x",
            "typing_indicator": {"type": "audio"},
        },
        (),
        None,
        131009,
    ),
    (
        "mark read: status delivered",
        {"messaging_product": "whatsapp", "status": "delivered", "message_id": "wamid.x"},
        (),
        None,
        131009,
    ),
]


@pytest.mark.parametrize(
    ("base", "path", "value", "code"),
    [case[1:] for case in _INVALID_BODIES],
    ids=[case[0] for case in _INVALID_BODIES],
)
def test_invalid_bodies_get_meta_shaped_errors(
    sim: GraphApiSimulator, base: dict[str, Any], path: tuple[Any, ...], value: Any, code: int
) -> None:
    body = changed(base, path, value) if path else base

    response = send(sim, body)

    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == code, error
    assert error["message"].startswith(f"(#{code}) ")
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    assert error["fbtrace_id"]
    assert sim.outbox() == []


def test_non_json_and_non_object_bodies_are_code_100(sim: GraphApiSimulator) -> None:
    path = f"/{PHONE_NUMBER_ID}/messages"

    assert error_of(graph(sim, "POST", path, data=b"{not json"))["code"] == 100
    assert error_of(graph(sim, "POST", path, json=["whatsapp"]))["code"] == 100


def test_bodies_exactly_at_every_limit_are_accepted(sim: GraphApiSimulator) -> None:
    sim.resident_says(RESIDENT, text="hi")
    widest_buttons = changed(BUTTONS, ("interactive", "body", "text"), "b" * 1024)
    widest_buttons["interactive"]["action"]["buttons"] = [
        {"type": "reply", "reply": {"id": f"{i}" * 256, "title": f"{i}" * 20}} for i in range(3)
    ]
    widest_buttons["interactive"]["header"] = {"type": "text", "text": "h" * 60}
    widest_buttons["interactive"]["footer"] = {"text": "f" * 60}
    widest_list = changed(LIST, ("interactive", "body", "text"), "l" * 4096)
    widest_list["interactive"]["action"] = {
        "button": "x" * 20,
        "sections": [
            {
                "title": "s" * 24,
                "rows": [
                    {"id": f"{i}" * 200, "title": f"{i}" * 24, "description": "d" * 72}
                    for i in range(10)
                ],
            }
        ],
    }
    ten_sections = changed(LIST, ("interactive", "action", "sections"), sections(*[1] * 10))
    media = image_by_link("c" * 1024)
    document = image_by_link("caption", kind="document")
    document["document"]["filename"] = "aviso.pdf"
    location = {
        "messaging_product": "whatsapp",
        "to": RESIDENT,
        "type": "location",
        "location": {"latitude": "38.7", "longitude": -9.1, "name": "Câmara", "address": "Praça"},
    }
    reaction = {
        "messaging_product": "whatsapp",
        "to": RESIDENT,
        "type": "reaction",
        "reaction": {"message_id": "wamid.x", "emoji": "👍"},
    }
    no_type = text(body="t" * 4096)
    del no_type["type"]  # Meta defaults the type to text

    for body in (
        text(body="t" * 4096),
        no_type,
        widest_buttons,
        widest_list,
        ten_sections,
        media,
        document,
        location,
        reaction,
    ):
        response = send(sim, body)
        assert response.status_code == 200, response.text


# ---- templates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "accepted"),
    [
        ("hello_world", "en_US", True),
        ("aviso_recolha", "pt_PT", True),
        ("aviso_recolha", "pt", False),  # Meta has no bare pt: only the approved code counts
        ("lembrete", "es", True),
        ("lembrete", "es_ES", False),  # a regional variant is another translation
        ("hello_world", "en", False),  # and so is the bare language of a regional one
        ("hello_world", "en_GB", False),
        ("hello_world", "pt_PT", False),
        ("no_such_template", "en_US", False),
    ],
)
def test_templates_must_be_approved_in_that_language(
    sim: GraphApiSimulator, name: str, code: str, accepted: bool
) -> None:
    response = send(sim, template(name, code))

    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert error_of(response)["code"] == 132001
        assert error_of(response)["message"].startswith("(#132001) ")


def test_template_with_components_is_accepted(sim: GraphApiSimulator) -> None:
    body = template("aviso_recolha", "pt_PT")
    body["template"]["components"] = [
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "STOP"}],
        },
    ]
    body["template"]["language"]["policy"] = "deterministic"

    assert send(sim, body).status_code == 200


def test_approved_templates_can_be_replaced_after_construction(sim: GraphApiSimulator) -> None:
    sim.templates = {"novo_aviso": ["pt_PT"]}

    assert sim.templates == {"novo_aviso": ["pt_PT"]}
    assert send(sim, template("novo_aviso", "pt_PT")).status_code == 200
    assert error_of(send(sim, template()))["code"] == 132001


# ---- rate limits ----------------------------------------------------------------------------


def test_exceeding_max_mps_is_130429_until_the_second_has_passed(
    make_sim: Callable[..., GraphApiSimulator], clock: FakeClock
) -> None:
    sim = make_sim(max_mps=3)
    for n in range(3):
        assert send(sim, template(to=f"35191000000{n}")).status_code == 200

    refused = send(sim, template(to="351910000009"))

    assert refused.status_code == 400
    assert error_of(refused)["code"] == 130429
    clock.advance(1.0)
    assert send(sim, template(to="351910000009")).status_code == 200


def test_46th_rapid_message_to_one_resident_is_131056(
    sim: GraphApiSimulator, clock: FakeClock
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    for n in range(45):
        response = send(sim, text(body=f"message {n}"))
        assert response.status_code == 200, (n, response.text)

    refused = send(sim, text(body="one too many"))

    assert refused.status_code == 400
    assert error_of(refused)["code"] == 131056
    assert send(sim, template(to="351934567890")).status_code == 200  # other pairs unaffected
    clock.advance(6.0)
    assert send(sim, text(body="after six seconds")).status_code == 200
    assert error_of(send(sim, text(body="too soon again")))["code"] == 131056
    assert len([m for m in sim.outbox() if m["to"] == RESIDENT]) == 46


# ---- the 24 h customer service window -------------------------------------------------------


def test_free_form_outside_the_window_is_accepted_then_fails_with_131047(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    response = send(sim, text(to=STRANGER))

    assert response.status_code == 200, response.text
    wamid = response.json()["messages"][0]["id"]
    failed = receiver.wait_for_status(wamid, "failed")
    assert failed["recipient_id"] == STRANGER
    assert failed["timestamp"].isdigit()
    [error] = failed["errors"]
    assert error["code"] == 131047
    assert error["title"] == error["message"]
    assert error["error_data"]["details"]
    assert error["href"]
    assert "pricing" not in failed
    sim.wait_until_idle()
    assert [s["status"] for s in receiver.statuses(wamid)] == ["failed"]
    assert sim.outbox()[0]["status"] == "failed"


def test_the_window_closes_24_hours_after_the_last_inbound_message(
    sim: GraphApiSimulator, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    clock.advance(DAY - 1)
    inside = send(sim, text()).json()["messages"][0]["id"]
    clock.advance(2)
    outside = send(sim, text()).json()["messages"][0]["id"]

    receiver.wait_for_status(inside, "delivered")
    receiver.wait_for_status(outside, "failed")
    sim.resident_says(RESIDENT, text="back again")
    reopened = send(sim, text()).json()["messages"][0]["id"]
    receiver.wait_for_status(reopened, "delivered")


def test_templates_are_allowed_outside_the_window_and_billed(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    wamid = send(sim, template(to=STRANGER)).json()["messages"][0]["id"]

    sent = receiver.wait_for_status(wamid, "sent")
    assert sent["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }


def test_sync_mode_refuses_free_form_outside_the_window_with_400(
    make_sim: Callable[..., GraphApiSimulator],
) -> None:
    sim = make_sim(window_errors="sync")

    refused = send(sim, text(to=STRANGER))

    assert refused.status_code == 400
    assert error_of(refused)["code"] == 131047
    assert send(sim, template(to=STRANGER)).status_code == 200
    sim.resident_says(STRANGER, text="hello")
    assert send(sim, text(to=STRANGER)).status_code == 200
    assert [m["type"] for m in sim.outbox()] == ["template", "text"]


def test_window_errors_must_be_async_or_sync() -> None:
    with pytest.raises(ValueError, match="window_errors"):
        GraphApiSimulator(access_token="t", app_secret="s", phone_number_id="1", window_errors="x")


# ---- media ----------------------------------------------------------------------------------


def upload(sim: GraphApiSimulator, content: bytes = JPEG, **fields: str) -> requests.Response:
    data = {"messaging_product": "whatsapp", "type": "image/jpeg"} | fields
    files = {"file": ("pothole.jpg", content, "image/jpeg")}
    return graph(sim, "POST", f"/{PHONE_NUMBER_ID}/media", data=data, files=files)


def test_media_upload_lookup_download_and_expiry(sim: GraphApiSimulator, clock: FakeClock) -> None:
    uploaded = upload(sim)
    assert uploaded.status_code == 200, uploaded.text
    media_id = uploaded.json()["id"]
    assert media_id.isdigit()

    info = graph(sim, "GET", f"/{media_id}").json()
    assert info == {
        "messaging_product": "whatsapp",
        "url": info["url"],
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(JPEG).hexdigest(),
        "file_size": str(len(JPEG)),
        "id": media_id,
    }
    assert info["url"].startswith(f"{sim.url}/_media/")

    assert requests.get(info["url"], timeout=5).status_code == 401
    download = requests.get(
        info["url"], headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5
    )
    assert download.status_code == 200
    assert download.content == JPEG
    assert download.headers["Content-Type"] == "image/jpeg"

    clock.advance(299)
    assert requests.get(
        info["url"], headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5
    ).ok
    clock.advance(2)
    expired = requests.get(
        info["url"], headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5
    )
    assert expired.status_code == 404

    fresh = graph(sim, "GET", f"/{media_id}", params={"phone_number_id": PHONE_NUMBER_ID}).json()
    assert fresh["url"] != info["url"]
    again = requests.get(
        fresh["url"], headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5
    )
    assert again.content == JPEG


def test_uploaded_media_can_be_sent_by_id_until_deleted(sim: GraphApiSimulator) -> None:
    sim.resident_says(RESIDENT, text="hi")
    media_id = upload(sim).json()["id"]
    by_id = {
        "messaging_product": "whatsapp",
        "to": RESIDENT,
        "type": "image",
        "image": {"id": media_id, "caption": "Reparado"},
    }

    assert send(sim, by_id).status_code == 200
    assert graph(sim, "DELETE", f"/{media_id}").json() == {"success": True}
    assert error_of(send(sim, by_id))["code"] == 100
    assert error_of(graph(sim, "GET", f"/{media_id}"))["code"] == 100
    assert error_of(graph(sim, "DELETE", f"/{media_id}"))["code"] == 100


def test_unknown_media_id_is_code_100(sim: GraphApiSimulator) -> None:
    response = graph(sim, "GET", "/1234567890")

    assert response.status_code == 400
    assert error_of(response)["code"] == 100


def test_media_upload_is_validated(sim: GraphApiSimulator) -> None:
    without_file = graph(
        sim, "POST", f"/{PHONE_NUMBER_ID}/media", files={"messaging_product": (None, "whatsapp")}
    )
    without_product = graph(
        sim, "POST", f"/{PHONE_NUMBER_ID}/media", files={"file": ("a.jpg", JPEG, "image/jpeg")}
    )

    assert error_of(without_file)["code"] == 131008
    assert error_of(without_product)["code"] == 100
    assert error_of(upload(sim, type="image/gif"))["code"] == 131053
    assert error_of(graph(sim, "POST", "/999/media", data={"x": "y"}))["code"] == 100


# ---- inbound webhooks -----------------------------------------------------------------------


def test_inbound_text_is_posted_in_meta_envelope_and_correctly_signed(
    sim: GraphApiSimulator, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    wamid = sim.resident_says(RESIDENT, name="Maria Silva", text="Olá / café")

    delivery, _ = receiver.wait_for_message(wamid)

    assert delivery.headers["X-Hub-Signature-256"] == signature(delivery.body)
    assert delivery.headers["Content-Type"] == "application/json"
    # Escaped like Meta's own JSON, so only a check over the raw bytes verifies.
    assert b"Ol\\u00e1 \\/ caf\\u00e9" in delivery.body
    payload = delivery.payload
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    assert entry["id"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    assert change["value"] == {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Maria Silva"}, "wa_id": RESIDENT}],
        "messages": [
            {
                "from": RESIDENT,
                "id": wamid,
                "timestamp": str(int(clock.now)),
                "type": "text",
                "text": {"body": "Olá / café"},
            }
        ],
    }


def test_resident_can_send_an_image_over_the_sim_api(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    answer = sim_api(
        sim,
        "POST",
        f"/_sim/residents/{RESIDENT}/messages",
        json={
            "name": "Maria",
            "type": "image",
            "image_base64": base64.b64encode(JPEG).decode(),
            "mime_type": "image/jpeg",
            "caption": "Buraco na rua",
        },
    )

    _, message = receiver.wait_for_message(answer["wamid"])
    image = message["image"]
    assert message["type"] == "image"
    assert image["caption"] == "Buraco na rua"
    assert image["mime_type"] == "image/jpeg"
    assert image["sha256"] == base64.b64encode(hashlib.sha256(JPEG).digest()).decode()
    url = graph(sim, "GET", f"/{image['id']}").json()["url"]
    downloaded = requests.get(url, headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=5)
    assert downloaded.content == JPEG


def test_resident_can_send_a_location(sim: GraphApiSimulator, receiver: WebhookReceiver) -> None:
    answer = sim_api(
        sim,
        "POST",
        f"/_sim/residents/{RESIDENT}/messages",
        json={
            "name": "Maria",
            "type": "location",
            "latitude": 38.7077,
            "longitude": "-9.1365",
            "location_name": "Praça do Município",
            "address": "Lisboa",
        },
    )

    _, message = receiver.wait_for_message(answer["wamid"])
    assert message["location"] == {
        "address": "Lisboa",
        "latitude": 38.7077,
        "longitude": -9.1365,
        "name": "Praça do Município",
    }


def test_button_and_list_replies_point_at_the_business_message(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    buttons_wamid = send(sim, BUTTONS).json()["messages"][0]["id"]
    list_wamid = send(sim, LIST).json()["messages"][0]["id"]

    tapped = sim.resident_says(RESIDENT, type="button_reply", reply_id="yes")
    picked = sim_api(
        sim,
        "POST",
        f"/_sim/residents/{RESIDENT}/messages",
        json={"name": "Maria", "type": "list_reply", "reply_id": "bulky"},
    )["wamid"]

    _, button_message = receiver.wait_for_message(tapped)
    assert button_message["context"] == {"from": DISPLAY_NUMBER, "id": buttons_wamid}
    assert button_message["type"] == "interactive"
    assert button_message["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "yes", "title": "Yes"},
    }
    _, list_message = receiver.wait_for_message(picked)
    assert list_message["context"] == {"from": DISPLAY_NUMBER, "id": list_wamid}
    assert list_message["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "bulky", "title": "Bulky waste", "description": "Book a pickup"},
    }


def test_malformed_resident_messages_are_400(sim: GraphApiSimulator) -> None:
    path = f"{sim.url}/_sim/residents/{RESIDENT}/messages"

    for body in (
        {"type": "smoke_signal"},
        {"type": "text"},
        {"type": "button_reply", "reply_id": "never-offered"},
        {"type": "location", "latitude": 200, "longitude": 0},
        {"type": "image", "image_base64": "%%%"},
    ):
        response = requests.post(path, json=body, timeout=5)
        assert response.status_code == 400, body
        assert response.json()["error"]
    with pytest.raises(ValueError, match="type"):
        sim.resident_says(RESIDENT)


def test_inbound_message_from_a_username_only_resident(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    wamid = sim.resident_says("PT.123abc", name="Rui", text="olá")

    delivery, message = receiver.wait_for_message(wamid)
    assert delivery.value["contacts"] == [{"profile": {"name": "Rui"}, "user_id": "PT.123abc"}]
    assert message["from_user_id"] == "PT.123abc"
    assert "from" not in message


# ---- status webhooks ------------------------------------------------------------------------


def test_statuses_sent_then_delivered_then_read_when_the_phone_shows_it(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    wamid = send(sim, text(body="Recebemos o seu pedido")).json()["messages"][0]["id"]

    sent = receiver.wait_for_status(wamid, "sent")
    delivered = receiver.wait_for_status(wamid, "delivered")
    free = {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    for status in (sent, delivered):
        assert status["recipient_id"] == RESIDENT
        assert status["timestamp"].isdigit()
        assert status["pricing"] == free
        assert "conversation" not in status
    status_delivery = next(d for d in receiver.all() if d.value.get("statuses"))
    assert "contacts" not in status_delivery.value
    assert status_delivery.headers["X-Hub-Signature-256"] == signature(status_delivery.body)

    thread = sim_api(sim, "GET", f"/_sim/residents/{RESIDENT}/thread", params={"mark_read": "1"})

    read = receiver.wait_for_status(wamid, "read")
    assert "pricing" not in read  # it came with delivered already
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "delivered", "read"]
    outbound = next(entry for entry in thread if entry["wamid"] == wamid)
    assert outbound["status"] == "read"
    assert outbound["body"]["text"]["body"] == "Recebemos o seu pedido"


def test_viewing_the_thread_without_mark_read_reads_nothing(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    wamid = send(sim, text()).json()["messages"][0]["id"]
    receiver.wait_for_status(wamid, "delivered")

    sim_api(sim, "GET", f"/_sim/residents/{RESIDENT}/thread")

    sim.wait_until_idle()
    assert "read" not in [s["status"] for s in receiver.statuses(wamid)]
    assert sim_api(sim, "POST", f"/_sim/messages/{wamid}/read") == {"success": True}
    receiver.wait_for_status(wamid, "read")
    assert requests.post(f"{sim.url}/_sim/messages/{wamid}/read", timeout=5).status_code == 404


def test_biz_opaque_callback_data_is_echoed_on_statuses(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    body = template() | {"biz_opaque_callback_data": "ticket-42"}
    wamid = send(sim, body).json()["messages"][0]["id"]

    assert receiver.wait_for_status(wamid, "sent")["biz_opaque_callback_data"] == "ticket-42"
    assert receiver.wait_for_status(wamid, "delivered")["biz_opaque_callback_data"] == "ticket-42"
    assert sim.outbox()[0]["biz_opaque_callback_data"] == "ticket-42"


def test_a_non_200_answer_is_retried_with_backoff(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    receiver.answer_next(500, 503)

    wamid = sim.resident_says(RESIDENT, text="retry me")

    def delivered() -> list[dict[str, Any]]:
        return [
            e
            for e in sim_api(sim, "GET", "/_sim/webhooks")
            if e["wamid"] == wamid and e["delivered"]
        ]

    [entry] = wait_for(delivered, timeout=8, what="the third attempt")
    assert entry["attempts"] == 3
    assert entry["status_code"] == 200
    assert entry["kind"] == "message.text"
    attempts = [d for d, m in receiver.messages() if m["id"] == wamid]
    assert len(attempts) == 3
    assert len({d.body for d in attempts}) == 1
    assert all(d.headers["X-Hub-Signature-256"] == signature(d.body) for d in attempts)


def test_delivery_never_blocks_the_graph_request(
    sim: GraphApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.webhook_url = "http://127.0.0.1:9/unreachable"  # nothing listens on the discard port
    sim.resident_says(RESIDENT, text="hi")

    started = time.monotonic()
    assert send(sim, text()).status_code == 200
    assert time.monotonic() - started < 1.0
    sim.webhook_url = receiver.url


# ---- mark as read, typing, inspection -------------------------------------------------------


def test_mark_as_read_with_typing_indicator(sim: GraphApiSimulator) -> None:
    first = sim.resident_says(RESIDENT, text="hi")
    second = sim.resident_says(RESIDENT, text="are you there?")
    body = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": second,
        "typing_indicator": {"type": "text"},
    }

    assert send(sim, body).json() == {"success": True}

    resident = sim_api(sim, "GET", f"/_sim/residents/{RESIDENT}")
    assert resident["typing"] is True
    assert resident["service_window_open"] is True
    statuses = {e["wamid"]: e["status"] for e in sim.thread(RESIDENT)}
    assert statuses == {first: "read", second: "read"}  # earlier messages are read too
    send(sim, text())
    assert sim_api(sim, "GET", f"/_sim/residents/{RESIDENT}")["typing"] is False
    unknown = send(sim, body | {"message_id": "wamid.unknown"})
    assert error_of(unknown)["code"] == 100


def test_thread_after_returns_only_what_changed(
    make_sim: Callable[..., GraphApiSimulator],
) -> None:
    # The delivery must come after the first read of the thread, even on a loaded machine.
    sim = make_sim(status_delay_seconds=1.0)
    sim.resident_says(RESIDENT, text="hi")
    send(sim, text())
    thread = sim_api(sim, "GET", f"/_sim/residents/{RESIDENT}/thread")
    assert [e["direction"] for e in thread] == ["inbound", "outbound"]
    last_rev = max(e["rev"] for e in thread)
    sim.wait_until_idle()

    changed_since = sim_api(
        sim, "GET", f"/_sim/residents/{RESIDENT}/thread", params={"after": last_rev}
    )

    assert [(e["direction"], e["status"]) for e in changed_since] == [("outbound", "delivered")]
    assert sim.thread("+351 912 345 678") == sim_api(
        sim, "GET", f"/_sim/residents/{RESIDENT}/thread"
    )


def test_phone_number_throughput(sim: GraphApiSimulator) -> None:
    answer = graph(sim, "GET", f"/{PHONE_NUMBER_ID}", params={"fields": "throughput"}).json()

    assert answer == {"throughput": {"level": "STANDARD"}, "id": PHONE_NUMBER_ID}


def test_outbox_webhook_log_and_reset(
    sim: GraphApiSimulator, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    sim.resident_says(RESIDENT, text="hi")
    wamid = send(sim, text(to="+351912345678", body="Bom dia")).json()["messages"][0]["id"]
    receiver.wait_for_status(wamid, "delivered")

    outbox = sim_api(sim, "GET", "/_sim/outbox")
    assert outbox == sim.outbox()
    [entry] = outbox
    assert entry["wamid"] == wamid
    assert entry["to"] == RESIDENT
    assert entry["input"] == "+351912345678"
    assert entry["accepted_at"] == clock.now
    assert entry["body"] == text(to="+351912345678", body="Bom dia")
    assert entry["status"] == "delivered"
    assert entry["biz_opaque_callback_data"] is None
    kinds = [e["kind"] for e in sim_api(sim, "GET", "/_sim/webhooks")]
    assert kinds == ["message.text", "status.sent", "status.delivered"]

    assert sim_api(sim, "POST", "/_sim/reset") == {"success": True}

    assert sim.outbox() == []
    assert sim.webhook_log() == []
    assert sim.thread(RESIDENT) == []
    assert sim_api(sim, "GET", f"/_sim/residents/{RESIDENT}")["service_window_open"] is False
    new_wamid = sim.resident_says(RESIDENT, text="again")
    assert new_wamid != wamid


def test_phone_page_is_served(sim: GraphApiSimulator) -> None:
    page = requests.get(f"{sim.url}/", timeout=5)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'dir="auto"' in page.text
    assert "/_sim/residents/" in page.text
    assert "<script src" not in page.text  # self-contained, no CDN
    info = sim_api(sim, "GET", "/_sim/info")
    assert info["phone_number_id"] == PHONE_NUMBER_ID
    assert info["display_phone_number"] == DISPLAY_NUMBER


def test_stop_releases_the_port_and_every_thread(receiver: WebhookReceiver) -> None:
    before = set(threading.enumerate())
    sim = GraphApiSimulator(
        port=0, access_token=ACCESS_TOKEN, app_secret=APP_SECRET, phone_number_id=PHONE_NUMBER_ID
    )
    sim.webhook_url = receiver.url
    sim.start()
    port = int(sim.url.rsplit(":", 1)[1])
    sim.resident_says(RESIDENT, text="hi")
    assert send(sim, text()).status_code == 200

    sim.stop()
    sim.stop()  # idempotent

    assert [t.name for t in threading.enumerate() if t.name.startswith("graph-simulator")] == []
    # The simulator's request threads were joined by stop(); the test receiver's own request
    # threads may take a moment longer to wind down.
    wait_for(lambda: not set(threading.enumerate()) - before, timeout=3, what="threads to end")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    again = GraphApiSimulator(
        port=port, access_token=ACCESS_TOKEN, app_secret=APP_SECRET, phone_number_id=PHONE_NUMBER_ID
    )
    with again:
        assert requests.get(f"{again.url}/_sim/outbox", timeout=5).json() == []
