"""Routes of the simulator's HTTP API, as a function from request to response (no sockets here).

- Graph API under `/{vNN.N}/...` and media downloads under `/_media/...`: Bearer token required;
  refusals are Meta-shaped error objects.
- `/_sim/...`: the resident control and inspection API, fault injection (`/_sim/faults`) and
  send statistics (`/_sim/stats`); refusals are `{"error": "..."}`.
- `/`: the resident's phone page.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from chalicelib.simulator.engine import SimulatorEngine
from chalicelib.simulator.errors import GraphError, graph_error_body, new_fbtrace_id
from chalicelib.simulator.faults import (
    Fault,
    FaultInjectedError,
    FaultKind,
    FaultSettings,
    FaultSettingsError,
)
from chalicelib.simulator.residents import ResidentMessageError

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PHONE_PAGE = "phone.html"
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Message
    body: bytes
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = _JSON
    headers: tuple[tuple[str, str], ...] = ()
    hold_seconds: float = 0.0  # wait this long before answering (an injected timeout)


def json_response(payload: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, ensure_ascii=False).encode())


class SimRequestError(Exception):
    """A malformed `/_sim` request (HTTP 400 unless told otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[SimulatorHttpApp, HttpRequest], HttpResponse]


_VERSION = r"/(?P<version>v\d+\.\d+)"
_NODE = r"(?P<node>[^/]+)"
_MESSAGES = rf"{_VERSION}/{_NODE}/messages"
_MESSAGES_PATH = re.compile(_MESSAGES)


class SimulatorHttpApp:
    def __init__(
        self, engine: SimulatorEngine, *, access_token: str, base_url: Callable[[], str]
    ) -> None:
        self._engine = engine
        self._access_token = access_token
        self._base_url = base_url

    # ---- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Message, body: bytes) -> HttpResponse:
        url = urlsplit(raw_path)
        path = unquote(url.path)
        query = {name: values[0] for name, values in parse_qs(url.query, True).items()}
        graph_path = re.match(r"/v\d+\.\d+(/|$)", path) is not None or path.startswith("/_media/")
        try:
            if graph_path and not self._authorised(headers, query):
                raise GraphError(190)
            for route in ROUTES:
                match = route.pattern.fullmatch(path)
                if match and route.method == method:
                    request = HttpRequest(method, path, query, headers, body, match.groupdict())
                    return route.handler(self, request)
            if graph_path:
                raise GraphError(100, f"Unsupported {method.lower()} request: unknown path.")
            raise SimRequestError(f"no route for {method} {path}", status=404)
        except GraphError as error:
            if method == "POST" and _MESSAGES_PATH.fullmatch(path):
                self._engine.record_refusal(error.code)
            return _graph_error(error)
        except (SimRequestError, ResidentMessageError) as error:
            status = error.status if isinstance(error, SimRequestError) else 400
            return json_response({"error": str(error)}, status)
        except Exception:
            logger.exception("simulator failed on %s %s", method, path)
            if graph_path:
                return _graph_error(GraphError(1))
            return json_response({"error": "simulator error"}, 500)

    def _authorised(self, headers: Message, query: Mapping[str, str]) -> bool:
        authorization = headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            token = query.get("access_token", "")
        return bool(token) and hmac.compare_digest(token.strip(), self._access_token)

    # ---- Graph API -------------------------------------------------------------------------

    def graph_post_messages(self, request: HttpRequest) -> HttpResponse:
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise GraphError(100, "The request body is not valid JSON.") from None
        try:
            answer = self._engine.post_messages(request.params["node"], body)
        except FaultInjectedError as injected:
            return _fault_response(injected.fault)
        return json_response(answer)

    def graph_post_media(self, request: HttpRequest) -> HttpResponse:
        content_type = request.headers.get("Content-Type", "")
        answer = self._engine.upload_media(request.params["node"], content_type, request.body)
        return json_response(answer)

    def graph_get_node(self, request: HttpRequest) -> HttpResponse:
        node = request.params["node"]
        if self._engine.is_graph_node(node):
            return json_response(self._engine.phone_number(node, request.query.get("fields")))
        answer = self._engine.media_url(
            node, base_url=self._base_url(), phone_number_id=request.query.get("phone_number_id")
        )
        return json_response(answer)

    def graph_delete_node(self, request: HttpRequest) -> HttpResponse:
        answer = self._engine.delete_media(
            request.params["node"], phone_number_id=request.query.get("phone_number_id")
        )
        return json_response(answer)

    def media_download(self, request: HttpRequest) -> HttpResponse:
        media = self._engine.download_media(request.params["token"])
        if media is None:  # unknown or expired: a plain 404, as Meta's CDN answers
            return HttpResponse(404, b"Not Found", "text/plain")
        return HttpResponse(200, media.content, media.mime_type)

    # ---- /_sim -----------------------------------------------------------------------------

    def sim_resident_message(self, request: HttpRequest) -> HttpResponse:
        spec = _json_object(request.body)
        name = spec.get("name", "Resident")
        wamid = self._engine.resident_says(request.params["resident"], name=name, spec=spec)
        return json_response({"wamid": wamid})

    def sim_thread(self, request: HttpRequest) -> HttpResponse:
        try:
            after = int(request.query.get("after") or 0)
        except ValueError:
            raise SimRequestError("'after' must be an integer") from None
        mark_read = request.query.get("mark_read", "").lower() in ("1", "true", "yes")
        thread = self._engine.thread(
            request.params["resident"], after_rev=after, mark_read=mark_read
        )
        return json_response(thread)

    def sim_resident(self, request: HttpRequest) -> HttpResponse:
        return json_response(self._engine.resident(request.params["resident"]))

    def sim_read_message(self, request: HttpRequest) -> HttpResponse:
        if not self._engine.advance_status(request.params["wamid"], "read"):
            raise SimRequestError("no outbound message with that wamid awaiting a read", 404)
        return json_response({"success": True})

    def sim_outbox(self, _: HttpRequest) -> HttpResponse:
        return json_response(self._engine.outbox())

    def sim_webhooks(self, _: HttpRequest) -> HttpResponse:
        return json_response(self._engine.webhook_log())

    def sim_reset(self, _: HttpRequest) -> HttpResponse:
        self._engine.reset()
        return json_response({"success": True})

    def sim_get_faults(self, _: HttpRequest) -> HttpResponse:
        return json_response(self._engine.faults())

    def sim_set_faults(self, request: HttpRequest) -> HttpResponse:
        try:
            settings = FaultSettings.from_json(_json_object(request.body))
        except FaultSettingsError as error:
            raise SimRequestError(str(error)) from None
        return json_response(self._engine.set_faults(settings))

    def sim_clear_faults(self, _: HttpRequest) -> HttpResponse:
        return json_response(self._engine.clear_faults())

    def sim_stats(self, _: HttpRequest) -> HttpResponse:
        return json_response(self._engine.stats())

    def sim_reset_stats(self, _: HttpRequest) -> HttpResponse:
        self._engine.reset_stats()
        return json_response(self._engine.stats())

    def sim_info(self, _: HttpRequest) -> HttpResponse:
        config = self._engine.config
        return json_response(
            {
                "phone_number_id": config.business.phone_number_id,
                "display_phone_number": config.business.display_phone_number,
                "verified_name": config.verified_name,
                "graph_base_url": f"{self._base_url()}/v23.0",
                "window_errors": config.window_errors.value,
            }
        )

    def sim_media(self, request: HttpRequest) -> HttpResponse:
        # For the phone page, which holds no access token: shows images in the chat.
        media = self._engine.media_by_id(request.params["media_id"])
        if media is None:
            raise SimRequestError("unknown media id", 404)
        return HttpResponse(200, media.content, media.mime_type)

    def phone_page(self, _: HttpRequest) -> HttpResponse:
        page = (STATIC_DIR / PHONE_PAGE).read_bytes()
        return HttpResponse(200, page, "text/html; charset=utf-8")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SimRequestError("the body must be JSON") from None
    if not isinstance(value, dict):
        raise SimRequestError("the body must be a JSON object")
    return value


def _graph_error(error: GraphError) -> HttpResponse:
    headers: tuple[tuple[str, str], ...] = ()
    if error.code == 190:
        headers = (("WWW-Authenticate", 'OAuth "Facebook Platform" "invalid_token"'),)
    body = json.dumps(graph_error_body(error, new_fbtrace_id())).encode()
    return HttpResponse(error.http_status, body, _JSON, headers)


_BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server did not answer.</p></body></html>"
)
_GATEWAY_TIMEOUT_PAGE = (
    b"<html><head><title>504 Gateway Time-out</title></head>"
    b"<body><h1>504 Gateway Time-out</h1></body></html>"
)
_HTML = "text/html; charset=utf-8"


def _fault_response(fault: Fault) -> HttpResponse:
    """An injected fault as the client sees it (see `faults` for why each body looks so)."""
    if fault.kind is FaultKind.TIMEOUT:
        return HttpResponse(
            fault.http_status, _GATEWAY_TIMEOUT_PAGE, _HTML, hold_seconds=fault.hold_seconds
        )
    if fault.code is not None:
        return _graph_error(GraphError(fault.code, http_status=fault.http_status))
    if fault.http_status == 502:
        return HttpResponse(502, _BAD_GATEWAY_PAGE, _HTML)
    return HttpResponse(fault.http_status, b"", "text/plain")


def _route(
    method: str, pattern: str, handler: Callable[[SimulatorHttpApp, HttpRequest], HttpResponse]
) -> Route:
    return Route(method, re.compile(pattern), handler)


_RESIDENT = r"/_sim/residents/(?P<resident>[^/]+)"
App = SimulatorHttpApp

ROUTES: tuple[Route, ...] = (
    _route("POST", _MESSAGES, App.graph_post_messages),
    _route("POST", rf"{_VERSION}/{_NODE}/media", App.graph_post_media),
    _route("GET", rf"{_VERSION}/{_NODE}", App.graph_get_node),
    _route("DELETE", rf"{_VERSION}/{_NODE}", App.graph_delete_node),
    _route("GET", r"/_media/(?P<token>[A-Za-z0-9_\-]+)", App.media_download),
    _route("POST", rf"{_RESIDENT}/messages", App.sim_resident_message),
    _route("GET", rf"{_RESIDENT}/thread", App.sim_thread),
    _route("GET", _RESIDENT, App.sim_resident),
    _route("POST", r"/_sim/messages/(?P<wamid>[^/]+)/read", App.sim_read_message),
    _route("GET", r"/_sim/outbox", App.sim_outbox),
    _route("GET", r"/_sim/webhooks", App.sim_webhooks),
    _route("POST", r"/_sim/reset", App.sim_reset),
    _route("GET", r"/_sim/faults", App.sim_get_faults),
    _route("POST", r"/_sim/faults", App.sim_set_faults),
    _route("DELETE", r"/_sim/faults", App.sim_clear_faults),
    _route("GET", r"/_sim/stats", App.sim_stats),
    _route("DELETE", r"/_sim/stats", App.sim_reset_stats),
    _route("GET", r"/_sim/info", App.sim_info),
    _route("GET", r"/_sim/media/(?P<media_id>[0-9]+)", App.sim_media),
    _route("GET", r"/(?:phone(?:\.html)?)?", App.phone_page),
)
