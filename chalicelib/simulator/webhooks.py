"""Webhooks the simulator posts to the app: payload builders (facts §2), signing (§1.2) and
delivery with retries (§3)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import requests

from chalicelib.simulator.scheduler import Scheduler

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Meta retries non-200 answers for days with decreasing frequency; compressed to seconds here.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)  # 5 attempts in all
DEFAULT_TIMEOUT: tuple[float, float] = (2.0, 5.0)  # connect, read
MAX_LOGGED_DELIVERIES = 5000  # a long `make run` session must not grow without bound
_USER_AGENT = "facebookexternalua"


@dataclass(frozen=True, slots=True)
class BusinessNumber:
    waba_id: str
    phone_number_id: str
    display_phone_number: str

    def metadata(self) -> dict[str, str]:
        return {
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        }


# ---- payloads ------------------------------------------------------------------------------


def _messages_change(business: BusinessNumber, value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": business.waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": business.metadata(),
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def inbound_message_payload(
    business: BusinessNumber, *, contact: Mapping[str, Any], message: Mapping[str, Any]
) -> dict[str, Any]:
    return _messages_change(business, {"contacts": [contact], "messages": [message]})


def status_payload(business: BusinessNumber, status: Mapping[str, Any]) -> dict[str, Any]:
    # Statuses carry no `contacts` (facts §2.1).
    return _messages_change(business, {"statuses": [status]})


def unix_seconds(at: float) -> str:
    return str(int(at))


def status_object(
    *,
    wamid: str,
    status: str,
    at: float,
    recipient: str,
    addressed_by_user_id: bool = False,
    pricing: Mapping[str, Any] | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    biz_opaque_callback_data: str | None = None,
) -> dict[str, Any]:
    """One `statuses[]` item, v24 style: no `conversation` (facts §2.3)."""
    recipient_key = "recipient_user_id" if addressed_by_user_id else "recipient_id"
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": unix_seconds(at),
        recipient_key: recipient,
    }
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if pricing is not None:
        item["pricing"] = dict(pricing)
    if errors:
        item["errors"] = [dict(error) for error in errors]
    return item


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Serialise like Meta does — ASCII with `\\uXXXX` escapes and escaped slashes — so an app
    that verifies the signature over re-serialised JSON instead of the raw bytes fails here
    exactly as it would in production."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


# ---- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    kind: str  # "message.<type>" or "status.<status>"
    wamid: str | None
    payload: Mapping[str, Any]
    url: str | None = None
    attempts: int = 0
    status_code: int | None = None  # of the last attempt; None if it never got an answer
    delivered: bool = False
    gave_up: bool = False
    error: str | None = None

    @property
    def pending(self) -> bool:
        return not (self.delivered or self.gave_up)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "pending": self.pending}


class WebhookPoster:
    """Posts signed webhooks from the scheduler's thread; any answer but 200 is retried after
    each of `retry_delays` in turn, then given up."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        app_secret: str,
        url_provider: Callable[[], str | None],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._scheduler = scheduler
        self._app_secret = app_secret
        self._url_provider = url_provider
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._records: dict[int, DeliveryRecord] = {}
        self._lock = threading.Lock()
        self._session: requests.Session | None = None  # used by the scheduler thread only

    def post(
        self, kind: str, payload: Mapping[str, Any], *, wamid: str | None = None, delay: float = 0.0
    ) -> int:
        with self._lock:
            record = DeliveryRecord(id=next(self._ids), kind=kind, wamid=wamid, payload=payload)
            self._records[record.id] = record
            self._forget_oldest_finished()
        body = encode_payload(payload)
        self._scheduler.call_later(delay, lambda: self._attempt(record.id, body))
        return record.id

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record.as_json() for record in self._records.values()]

    def clear_log(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _forget_oldest_finished(self) -> None:
        excess = len(self._records) - MAX_LOGGED_DELIVERIES
        if excess > 0:
            finished = [key for key, record in self._records.items() if not record.pending]
            for key in finished[:excess]:
                del self._records[key]

    def _update(self, record_id: int, **changes: Any) -> DeliveryRecord | None:
        with self._lock:
            record = self._records.get(record_id)
            if record is None:  # cleared by a reset meanwhile
                return None
            record = replace(record, **changes)
            self._records[record_id] = record
            return record

    def _attempt(self, record_id: int, body: bytes) -> None:
        url = self._url_provider()
        with self._lock:
            current = self._records.get(record_id)
        if current is None:
            return
        if url is None:
            self._update(record_id, gave_up=True, error="no webhook_url configured")
            return
        status_code, error = self._send(url, body)
        attempts = current.attempts + 1
        delivered = status_code == 200
        gave_up = not delivered and attempts > len(self._retry_delays)
        self._update(
            record_id,
            url=url,
            attempts=attempts,
            status_code=status_code,
            delivered=delivered,
            gave_up=gave_up,
            error=error,
        )
        if not delivered and not gave_up:
            delay = self._retry_delays[attempts - 1]
            self._scheduler.call_later(delay, lambda: self._attempt(record_id, body))

    def _send(self, url: str, body: bytes) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = requests.Session()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._app_secret),
            "User-Agent": _USER_AGENT,
        }
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            logger.info("webhook delivery to %s failed: %s", url, exc)
            return None, f"{type(exc).__name__}: {exc}"
        response.close()
        if response.status_code != 200:
            return response.status_code, f"HTTP {response.status_code}"
        return 200, None
