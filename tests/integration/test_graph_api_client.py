"""GraphApiClient against a tiny real HTTP server on 127.0.0.1 that records every request and
answers with Meta-shaped successes and errors (facts sheet §4.1, §4.2, §6.1, §7)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from chalicelib.domain.replies import Button, ButtonsReply, TextReply
from chalicelib.services.ports import GraphApiError, SendResult
from chalicelib.whatsapp.errors import NO_ERROR_CODE, ErrorClass, classify
from chalicelib.whatsapp.graph_api_client import GraphApiClient
from chalicelib.whatsapp.payloads import PayloadError, build_message_payload

TOKEN = "EAAG-test-token"
PHONE_NUMBER_ID = "106540352242922"
WAMID = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"
ACCEPTED = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
    "messages": [{"id": WAMID}],
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    delay_seconds: float = 0.0
    reason: str | None = None


class FakeGraph:
    """Answers scripted responses in order (then 200 ACCEPTED) and records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._answers: deque[Answer] = deque()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                fake.requests.append(
                    Recorded(
                        method=self.command,
                        path=url.path,
                        query=parse_qs(url.query),
                        headers={key.lower(): value for key, value in self.headers.items()},
                        body=body,
                        client_port=self.client_address[1],
                    )
                )
                answer = fake._next_answer()
                if answer.delay_seconds:
                    time.sleep(answer.delay_seconds)
                self.send_response(answer.status, answer.reason)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, status: int, body: object, **options: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._answers.append(Answer(status, raw, **options))

    def _next_answer(self) -> Answer:
        if self._answers:
            return self._answers.popleft()
        return Answer(200, json.dumps(ACCEPTED).encode())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    server = FakeGraph()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(graph: FakeGraph) -> GraphApiClient:
    return GraphApiClient(
        base_url=f"{graph.url}/v23.0/",
        access_token=TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        timeout=(1.0, 2.0),
    )


def meta_error(code: int, message: str, details: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error | extra | {"fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}


# --- sending ------------------------------------------------------------------------------------


def test_send_posts_the_payload_with_the_bearer_token(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    reply = TextReply(text="Su cita está confirmada.")

    result = client.send("16505551234", reply)

    assert result == SendResult(WAMID)
    (request,) = graph.requests
    assert (request.method, request.path) == ("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == build_message_payload("16505551234", reply)


def test_send_to_a_username_resident_and_as_a_quoted_reply(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    reply = ButtonsReply(body="¿Confirmar?", buttons=(Button(id="yes", title="Sí"),))

    client.send("US.13491208655302741918", reply, context_wamid="wamid.IN")

    body = graph.requests[0].json()
    assert body["recipient"] == "US.13491208655302741918"
    assert "to" not in body
    assert body["context"] == {"message_id": "wamid.IN"}


def test_one_session_and_one_connection_serve_many_calls(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    for text in ("uno", "dos", "tres"):
        client.send("16505551234", TextReply(text=text))
    client.mark_read("wamid.IN")

    assert len(graph.requests) == 4
    assert len({request.client_port for request in graph.requests}) == 1


def test_an_injected_session_is_the_one_used(graph: FakeGraph) -> None:
    session = requests.Session()
    session.headers["X-Civicchat-Test"] = "injected"
    client = GraphApiClient(
        base_url=f"{graph.url}/v23.0",
        access_token=TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        session=session,
    )

    client.send("16505551234", TextReply(text="hola"))

    assert graph.requests[0].headers["x-civicchat-test"] == "injected"


def test_a_payload_error_is_raised_before_anything_is_sent(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    with pytest.raises(PayloadError, match=r"^text\.body: "):
        client.send("16505551234", TextReply(text="x" * 5000))

    assert graph.requests == []


# --- Meta refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "title", "details", "error_class"),
    [
        (
            400,
            meta_error(
                130429,
                "(#130429) Rate limit hit",
                "Cloud API message throughput has been reached.",
                error_subcode=2494055,
            ),
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
            ErrorClass.THROTTLED,
        ),
        (
            400,
            meta_error(
                131056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                "Message failed to send because there were too many messages sent from this "
                "phone number to the same phone number in a short period of time.",
            ),
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this "
            "phone number to the same phone number in a short period of time.",
            ErrorClass.THROTTLED,
        ),
        (
            400,
            meta_error(100, "(#100) Invalid parameter", "Param text['body'] is required."),
            100,
            "Invalid parameter",
            "Param text['body'] is required.",
            ErrorClass.CONFIGURATION,
        ),
        (
            401,
            meta_error(190, "Error validating access token: Session has expired."),
            190,
            "Error validating access token: Session has expired.",
            "",
            ErrorClass.CONFIGURATION,
        ),
        (
            403,
            meta_error(368, "(#368) Temporarily blocked for policies violations", "Blocked."),
            368,
            "Temporarily blocked for policies violations",
            "Blocked.",
            ErrorClass.ACCOUNT,
        ),
        (
            500,
            meta_error(131000, "", "Something went wrong"),
            131000,
            "Something went wrong",  # no message: the table's title
            "Something went wrong",
            ErrorClass.RETRY_LATER,
        ),
    ],
    ids=["throughput", "pair-rate", "bad-parameter", "token-expired", "policy-block", "unknown"],
)
def test_meta_error_bodies_become_graph_api_errors(
    graph: FakeGraph,
    client: GraphApiClient,
    status: int,
    body: dict[str, Any],
    code: int,
    title: str,
    details: str,
    error_class: ErrorClass,
) -> None:
    graph.answer(status, body)

    with pytest.raises(GraphApiError) as raised:
        client.send("16505551234", TextReply(text="hola"))

    error = raised.value
    assert (error.code, error.title, error.http_status, error.details) == (
        code,
        title,
        status,
        details,
    )
    assert str(error) == f"({code}) {title}"
    assert classify(error.code, http_status=error.http_status) is error_class


@pytest.mark.parametrize(
    ("answer", "title", "error_class"),
    [
        (
            Answer(
                502, b"<html><body>Bad Gateway</body></html>", "text/html", reason="Bad Gateway"
            ),
            "HTTP 502 Bad Gateway",
            ErrorClass.RETRY_LATER,
        ),
        (
            Answer(503, b"", "text/plain", reason="Service Unavailable"),
            "HTTP 503 Service Unavailable",
            ErrorClass.RETRY_LATER,
        ),
        (
            Answer(429, b"slow down", "text/plain", reason="Too Many Requests"),
            "HTTP 429 Too Many Requests",
            ErrorClass.THROTTLED,
        ),
        (
            Answer(400, b'{"error": "boom"}', reason="Bad Request"),
            "HTTP 400 Bad Request",
            ErrorClass.CONFIGURATION,
        ),
        (
            Answer(400, b'{"error": {"code": "100"}}', reason="Bad Request"),
            "HTTP 400 Bad Request",
            ErrorClass.CONFIGURATION,
        ),
        (
            Answer(200, b"not json", "text/plain", reason="OK"),
            "HTTP 200 OK",
            ErrorClass.CONFIGURATION,
        ),
    ],
    ids=["html-502", "empty-503", "plain-429", "error-not-object", "code-not-int", "200-not-json"],
)
def test_refusals_without_a_meta_error_carry_the_http_status(
    graph: FakeGraph, client: GraphApiClient, answer: Answer, title: str, error_class: ErrorClass
) -> None:
    graph.answer(answer.status, answer.body, content_type=answer.content_type, reason=answer.reason)

    with pytest.raises(GraphApiError) as raised:
        client.send("16505551234", TextReply(text="hola"))

    error = raised.value
    assert (error.code, error.title, error.http_status) == (NO_ERROR_CODE, title, answer.status)
    assert error.details == answer.body.decode()
    assert classify(error.code, http_status=error.http_status) is error_class


def test_acceptance_without_a_message_id_is_an_error(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    graph.answer(200, {"messaging_product": "whatsapp", "messages": []})

    with pytest.raises(GraphApiError) as raised:
        client.send("16505551234", TextReply(text="hola"))

    assert (raised.value.code, raised.value.http_status) == (NO_ERROR_CODE, 200)
    assert raised.value.title == "Accepted without a message id"


def test_error_object_in_a_200_is_still_a_refusal(graph: FakeGraph, client: GraphApiClient) -> None:
    graph.answer(200, meta_error(131009, "(#131009) Parameter value is not valid", "bad"))

    with pytest.raises(GraphApiError) as raised:
        client.mark_read("wamid.IN")

    assert (raised.value.code, raised.value.http_status) == (131009, 200)


# --- transport faults propagate -------------------------------------------------------------------


def test_a_slow_answer_raises_requests_read_timeout(graph: FakeGraph) -> None:
    client = GraphApiClient(
        base_url=f"{graph.url}/v23.0",
        access_token=TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        timeout=(1.0, 0.2),
    )
    graph.answer(200, ACCEPTED, delay_seconds=1.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.send("16505551234", TextReply(text="hola"))


def test_a_refused_connection_raises_requests_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = GraphApiClient(
        base_url=f"http://127.0.0.1:{closed_port}/v23.0",
        access_token=TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        timeout=(0.5, 0.5),
    )

    with pytest.raises(requests.exceptions.ConnectionError):
        client.send("16505551234", TextReply(text="hola"))


# --- mark as read, media ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typing", "expected"),
    [
        (False, {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}),
        (
            True,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "wamid.IN",
                "typing_indicator": {"type": "text"},
            },
        ),
    ],
)
def test_mark_read_posts_to_the_messages_endpoint(
    graph: FakeGraph, client: GraphApiClient, typing: bool, expected: dict[str, Any]
) -> None:
    graph.answer(200, {"success": True})

    assert client.mark_read("wamid.IN", typing=typing) is None

    (request,) = graph.requests
    assert (request.method, request.path) == ("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == expected


def test_media_info_asks_for_media_of_our_number(graph: FakeGraph, client: GraphApiClient) -> None:
    info = {
        "messaging_product": "whatsapp",
        "url": f"{graph.url}/media/abc?token=1",
        "mime_type": "image/jpeg",
        "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
        "file_size": "303833",
        "id": "1003383421387256",
    }
    graph.answer(200, info)

    assert client.media_info("1003383421387256") == info

    (request,) = graph.requests
    assert (request.method, request.path) == ("GET", "/v23.0/1003383421387256")
    assert request.query == {"phone_number_id": [PHONE_NUMBER_ID]}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_media_info_for_unknown_media_is_a_graph_api_error(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    graph.answer(400, meta_error(100, "(#100) Invalid parameter", "Unknown media id"))

    with pytest.raises(GraphApiError) as raised:
        client.media_info("nope")

    assert (raised.value.code, raised.value.details) == (100, "Unknown media id")


def test_download_media_returns_bytes_and_content_type(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    picture = bytes(range(256)) * 4
    graph.answer(200, picture, content_type="image/jpeg")

    content, content_type = client.download_media(f"{graph.url}/media/abc?token=1")

    assert (content, content_type) == (picture, "image/jpeg")
    (request,) = graph.requests
    assert (request.method, request.path, request.query) == ("GET", "/media/abc", {"token": ["1"]})
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_an_expired_media_url_is_a_graph_api_error(
    graph: FakeGraph, client: GraphApiClient
) -> None:
    graph.answer(404, b"Not Found", content_type="text/plain", reason="Not Found")

    with pytest.raises(GraphApiError) as raised:
        client.download_media(f"{graph.url}/media/abc")

    assert (raised.value.code, raised.value.http_status) == (NO_ERROR_CODE, 404)


def test_repr_never_shows_the_token(client: GraphApiClient) -> None:
    assert TOKEN not in repr(client)
