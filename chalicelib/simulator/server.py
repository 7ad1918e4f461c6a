"""`GraphApiSimulator`: the embedded WhatsApp Cloud API stand-in, served over real HTTP.

sim = GraphApiSimulator(port=0, access_token="t", app_secret="s", phone_number_id="123",
                        webhook_url="http://127.0.0.1:8000/webhooks/whatsapp")
sim.start()
client_base_url = sim.graph_base_url()          # http://127.0.0.1:<port>/v23.0
wamid = sim.resident_says("351912345678", text="Olá")
sim.set_faults(server_error_rate=0.2, seed=7)   # see `faults` for what can be injected
...
sim.stats()["max_accepted_in_any_1s_window"]   # see `stats`
sim.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any

from chalicelib.simulator.engine import SimulatorConfig, SimulatorEngine, WindowErrors
from chalicelib.simulator.faults import FaultSettings
from chalicelib.simulator.http_app import SimulatorHttpApp
from chalicelib.simulator.ids import IdFactory
from chalicelib.simulator.limits import DEFAULT_MAX_MPS
from chalicelib.simulator.scheduler import Scheduler
from chalicelib.simulator.validation import TemplateCatalog
from chalicelib.simulator.webhooks import BusinessNumber, WebhookPoster

logger = logging.getLogger(__name__)

NO_TEMPLATES: Mapping[str, Collection[str]] = MappingProxyType({})
DEFAULT_PORT = 8025
DEFAULT_GRAPH_VERSION = "v23.0"
DEFAULT_WABA_ID = "102290129340398"
MAX_REQUEST_BYTES = 110 * 1024 * 1024  # a 100 MB document plus multipart overhead


class _SimulatorHttpServer(ThreadingHTTPServer):
    # ThreadingMixIn joins request threads in server_close(), so stop() leaves none behind.
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SimulatorHttpApp) -> None:
        self.app = app
        # Set by stop(): a request held by an injected timeout must not hold up the join.
        self.stopping = threading.Event()
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _SimulatorHttpServer
    # HTTP/1.0 (the default): one request per connection, so no idle keep-alive thread can
    # hold up stop(); the timeout bounds a client that stalls mid-request.
    timeout = 30
    server_version = "GraphApiSimulator/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "invalid Content-Length")
            return
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.send_error(413, "request body too large")
            return
        body = self.rfile.read(length) if length else b""
        response = self.server.app.handle(method, self.path, self.headers, body)
        if response.hold_seconds > 0 and self.server.stopping.wait(response.hold_seconds):
            return  # stopping: drop the connection unanswered, as a server going down would
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except OSError as exc:  # the client gave up first, as after an injected timeout
            logger.debug("client went away before the answer: %s", exc)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


class GraphApiSimulator:
    """A fake Graph API for one business phone number, plus the residents who write to it.

    `webhook_url` is a plain attribute and may be set after construction; it is read at each
    delivery attempt. The clock drives message timestamps, the 24 h window, rate limits and
    media URL expiry; delays before webhooks are real time.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        access_token: str,
        app_secret: str,
        phone_number_id: str,
        display_phone_number: str = "15550001234",
        webhook_url: str | None = None,
        templates: Mapping[str, Collection[str]] = NO_TEMPLATES,
        clock: Callable[[], float] = time.time,
        status_delay_seconds: float = 0.05,
        window_errors: str = "async",
        max_mps: int = DEFAULT_MAX_MPS,
        messaging_limit: int | None = None,
    ) -> None:
        for name, value in (
            ("access_token", access_token),
            ("app_secret", app_secret),
            ("phone_number_id", phone_number_id),
        ):
            if not value:
                raise ValueError(f"{name} must be a non-empty string")
        if status_delay_seconds < 0:
            raise ValueError("status_delay_seconds must not be negative")
        if max_mps < 1:
            raise ValueError("max_mps must be at least 1")
        if messaging_limit is not None and messaging_limit < 1:
            raise ValueError("messaging_limit must be at least 1 (None: unlimited)")
        try:
            window_mode = WindowErrors(window_errors)
        except ValueError:
            raise ValueError("window_errors must be 'async' or 'sync'") from None
        self.host = host
        self.port = port
        self.webhook_url = webhook_url
        self._scheduler = Scheduler()
        self._poster = WebhookPoster(
            scheduler=self._scheduler, app_secret=app_secret, url_provider=self._webhook_url
        )
        config = SimulatorConfig(
            business=BusinessNumber(DEFAULT_WABA_ID, phone_number_id, display_phone_number),
            status_delay_seconds=status_delay_seconds,
            window_errors=window_mode,
            max_mps=max_mps,
            messaging_limit=messaging_limit,
        )
        self._engine = SimulatorEngine(
            config,
            templates=TemplateCatalog(templates),
            clock=clock,
            scheduler=self._scheduler,
            poster=self._poster,
            ids=IdFactory(),
        )
        self._app = SimulatorHttpApp(
            self._engine, access_token=access_token, base_url=lambda: self.url
        )
        self._httpd: _SimulatorHttpServer | None = None
        self._serve_thread: threading.Thread | None = None

    def _webhook_url(self) -> str | None:
        return self.webhook_url

    @property
    def templates(self) -> dict[str, list[str]]:
        """Approved template name → language codes; assignable at any time."""
        return self._engine.templates.as_mapping()

    @templates.setter
    def templates(self, approved: Mapping[str, Collection[str]]) -> None:
        self._engine.templates = TemplateCatalog(approved)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind (port 0 picks a free port) and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("simulator already started")
        httpd = _SimulatorHttpServer((self.host, self.port), self._app)
        self._scheduler.start()
        self._httpd = httpd
        self._serve_thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"graph-simulator-{httpd.server_address[1]}",
            daemon=True,
        )
        self._serve_thread.start()
        logger.info("WhatsApp Cloud API simulator listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving, drop pending webhooks and join every thread. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        thread, self._serve_thread = self._serve_thread, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._scheduler.stop()
        self._poster.close()

    def __enter__(self) -> GraphApiSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
        port = self._httpd.server_address[1] if self._httpd is not None else self.port
        return f"http://{host}:{port}"

    def graph_base_url(self, version: str = DEFAULT_GRAPH_VERSION) -> str:
        return f"{self.url}/{version}"

    # ---- test helpers (the same data as the /_sim HTTP API) --------------------------------

    def resident_says(
        self, wa_id: str, *, name: str = "Resident", text: str | None = None, **kind: Any
    ) -> str:
        """Post a signed inbound-message webhook from a resident; returns its wamid.

        `kind` takes the fields of `POST /_sim/residents/{wa_id}/messages`: `type`
        (text, button_reply, list_reply, image, location), `reply_id`, `title`,
        `context_wamid`, `caption`, `image_base64` or `image_bytes`, `mime_type`, `latitude`,
        `longitude`, `location_name`, `address`. Raises ValueError on a malformed message.
        """
        spec = dict(kind)
        if text is not None:
            spec["text"] = text
        return self._engine.resident_says(wa_id, name=name, spec=spec)

    def outbox(self) -> list[dict[str, Any]]:
        """Every message accepted via Graph, in order: wamid, to, input, type, body,
        accepted_at, status, errors, biz_opaque_callback_data (None when the send had none)."""
        return self._engine.outbox()

    def thread(
        self, wa_id: str, *, after: int = 0, mark_read: bool = False
    ) -> list[dict[str, Any]]:
        return self._engine.thread(wa_id, after_rev=after, mark_read=mark_read)

    def mark_read(self, wamid: str) -> bool:
        """The resident read this outbound message: post its `read` status."""
        return self._engine.advance_status(wamid, "read")

    def webhook_log(self) -> list[dict[str, Any]]:
        return self._engine.webhook_log()

    def reset(self) -> None:
        """Forget conversations, media, limits, the webhook log, fault settings and stats."""
        self._engine.reset()

    # ---- fault injection and stats (the same as /_sim/faults and /_sim/stats) --------------

    def set_faults(self, settings: FaultSettings | None = None, /, **fields: Any) -> FaultSettings:
        """Inject faults into `POST .../messages`: pass a `FaultSettings`, or its fields as
        keywords (`set_faults(server_error_rate=0.2, seed=7)`). Replaces the settings whole.
        Raises `FaultSettingsError` (a ValueError) on settings that cannot apply."""
        if settings is not None and fields:
            raise TypeError("pass a FaultSettings or its fields, not both")
        applied = settings if settings is not None else FaultSettings(**fields)
        self._engine.set_faults(applied)
        return applied

    def clear_faults(self) -> None:
        self._engine.clear_faults()

    def faults(self) -> FaultSettings:
        return self._engine.fault_settings()

    def stats(self) -> dict[str, Any]:
        """Counts since the last reset: the JSON of `GET /_sim/stats` (see `stats.SendStats`)."""
        return self._engine.stats()

    def set_messaging_limit(self, limit: int | None) -> None:
        """The portfolio's messaging limit: unique recipients of business-initiated messages
        in a moving 24 h (None: unlimited, the default). A send over it is accepted and then
        fails with a `failed` status carrying 131048 (Meta documents no code of its own)."""
        if limit is not None and limit < 1:
            raise ValueError("the messaging limit must be at least 1 (None: unlimited)")
        self._engine.set_messaging_limit(limit)

    def reset_stats(self) -> None:
        """Start a new stats period without forgetting conversations (`DELETE /_sim/stats`)."""
        self._engine.reset_stats()

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every scheduled status and webhook delivery (retries included) is done."""
        return self._scheduler.wait_until_idle(timeout)
