"""The simulator's behaviour, independent of HTTP: what Meta does when the app calls the Graph
API, and what a resident's phone does. One lock serialises all state; webhooks leave through
the scheduler so no caller ever waits on the app."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import partial
from typing import Any

from chalicelib.simulator.errors import GraphError, webhook_error_object
from chalicelib.simulator.faults import FaultInjectedError, FaultInjector, FaultSettings
from chalicelib.simulator.forms import FormError, parse_multipart_form
from chalicelib.simulator.ids import IdFactory
from chalicelib.simulator.limits import (
    MESSAGING_LIMIT_ERROR_CODE,
    LimitVerdict,
    MessagingLimit,
    OutboundLimits,
    ServiceWindows,
)
from chalicelib.simulator.media import MediaStore, StoredMedia, upload_problem
from chalicelib.simulator.residents import (
    OfferedReply,
    ResidentMessageError,
    ResidentTools,
    build_message_content,
    is_user_id_key,
    reply_options,
    resident_key,
)
from chalicelib.simulator.scheduler import Scheduler
from chalicelib.simulator.state import ConversationLog, InboundRecord, OutboundRecord
from chalicelib.simulator.stats import SendStats
from chalicelib.simulator.validation import (
    MarkRead,
    OutboundMessage,
    TemplateCatalog,
    ValidationContext,
    parse_messages_request,
)
from chalicelib.simulator.webhooks import (
    BusinessNumber,
    WebhookPoster,
    inbound_message_payload,
    status_object,
    status_payload,
    unix_seconds,
)

TYPING_INDICATOR_SECONDS = 25.0


class WindowErrors(Enum):
    """How a free-form message outside the 24 h window is refused (facts §5.5)."""

    ASYNC = "async"  # 200 with a wamid, then a `failed` status carrying 131047
    SYNC = "sync"  # 400 with code 131047


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    business: BusinessNumber
    status_delay_seconds: float
    window_errors: WindowErrors
    max_mps: int
    verified_name: str = "CivicChat Simulator"
    # The portfolio's messaging limit (facts §5.4); None: unlimited. Meta documents no error
    # code for going over it: the simulator accepts the send and then fails it asynchronously
    # with 131048 ("Spam rate limit hit": restrictions on how many messages this number may
    # send), the nearest code Meta does document.
    messaging_limit: int | None = None


_LIMIT_ERROR_CODES = {
    LimitVerdict.THROUGHPUT_EXCEEDED: 130429,
    LimitVerdict.PAIR_RATE_EXCEEDED: 131056,
}

# Per-message pricing, v24 style (facts §2.3, §8). Templates are assumed to be utility
# templates, which are free inside an open service window.
_PRICING: dict[tuple[bool, bool], Mapping[str, Any]] = {
    # (is_template, inside_window)
    (False, True): {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    },
    (False, False): {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    },
    (True, True): {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "utility",
    },
    (True, False): {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    },
}

_PHONE_NUMBER_FIELDS: dict[str, Callable[[SimulatorConfig], Any]] = {
    "verified_name": lambda config: config.verified_name,
    "code_verification_status": lambda _: "VERIFIED",
    "display_phone_number": lambda config: config.business.display_phone_number,
    "quality_rating": lambda _: "GREEN",
    "platform_type": lambda _: "CLOUD_API",
    "throughput": lambda _: {"level": "STANDARD"},
    "name_status": lambda _: "APPROVED",
    "messaging_limit_tier": lambda config: _tier(config.messaging_limit),
    "whatsapp_business_manager_messaging_limit": lambda config: _tier(config.messaging_limit),
}
_DEFAULT_PHONE_NUMBER_FIELDS = (
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
)


def _tier(limit: int | None) -> str:
    """How Graph names a messaging limit (TIER_250, TIER_2K, ..., TIER_UNLIMITED)."""
    if limit is None:
        return "TIER_UNLIMITED"
    if limit >= 1000 and limit % 1000 == 0:
        return f"TIER_{limit // 1000}K"
    return f"TIER_{limit}"


def _unknown_object(object_id: str, verb: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
    )


class SimulatorEngine:
    def __init__(
        self,
        config: SimulatorConfig,
        *,
        templates: TemplateCatalog,
        clock: Callable[[], float],
        scheduler: Scheduler,
        poster: WebhookPoster,
        ids: IdFactory,
    ) -> None:
        self.config = config
        self.templates = templates  # replaced whole when the approved set changes
        self._clock = clock
        self._scheduler = scheduler
        self._poster = poster
        self._ids = ids
        self._lock = threading.RLock()
        self._media = MediaStore(ids)
        self._limits = OutboundLimits(max_mps=config.max_mps)
        self._windows = ServiceWindows()
        self._messaging = MessagingLimit(config.messaging_limit)
        self._log = ConversationLog()
        self._faults = FaultInjector()
        self._stats = SendStats(since=clock())

    # ---- Graph API: messages ---------------------------------------------------------------

    def post_messages(self, phone_number_id: str, body: Any) -> dict[str, Any]:
        """`POST /{v}/{phone_number_id}/messages`: a send, or a mark-as-read. Raises GraphError
        to refuse, or FaultInjectedError when fault injection takes this request (see
        `faults`: after validation, before the rate limits)."""
        self._require_phone_number(phone_number_id, "post")
        context = ValidationContext(self.templates, self._media_exists)
        request = parse_messages_request(body, context)
        with self._lock:
            fault = self._faults.decide()
            if fault is not None:
                self._stats.record_fault(fault)
        if fault is not None:
            raise FaultInjectedError(fault)
        if isinstance(request, MarkRead):
            return self._mark_inbound_read(request)
        return self._send(request)

    def _send(self, message: OutboundMessage) -> dict[str, Any]:
        with self._lock:
            # Read under the lock, so acceptance times follow acceptance order.
            now = self._clock()
            verdict = self._limits.check(message.recipient, now)
            if verdict is not LimitVerdict.ADMITTED:
                raise GraphError(_LIMIT_ERROR_CODES[verdict])
            in_window = self._windows.is_open(message.recipient, now)
            blocked_by_window = not message.is_template and not in_window
            if blocked_by_window and self.config.window_errors is WindowErrors.SYNC:
                raise GraphError(131047)
            # Only a business-initiated message (a template outside the window) that gets
            # through counts against the messaging limit.
            failure: int | None = 131047 if blocked_by_window else None
            if not in_window and not blocked_by_window:
                if self._messaging.allows(message.recipient, now):
                    self._messaging.record(message.recipient, now)
                else:
                    failure = MESSAGING_LIMIT_ERROR_CODE
            self._limits.record(message.recipient, now)
            self._stats.record_accepted(now, message.biz_opaque_callback_data)
            wamid = self._ids.wamid(message.recipient)
            seq, rev = self._log.new_ids()
            self._log.add(
                OutboundRecord(
                    seq=seq,
                    rev=rev,
                    wamid=wamid,
                    recipient=message.recipient,
                    recipient_input=message.recipient_input,
                    addressed_by_user_id=message.addressed_by_user_id,
                    message_type=message.message_type,
                    body=message.body,
                    accepted_at=now,
                    pricing=_PRICING[(message.is_template, in_window)],
                    biz_opaque_callback_data=message.biz_opaque_callback_data,
                )
            )
            self._log.update_resident(message.recipient, typing_until=None)
        self._schedule_statuses(wamid, failure=failure)
        contact_id_key = "user_id" if message.addressed_by_user_id else "wa_id"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": message.recipient_input, contact_id_key: message.recipient}],
            "messages": [{"id": wamid}],
        }

    def _schedule_statuses(self, wamid: str, *, failure: int | None) -> None:
        delay = self.config.status_delay_seconds
        if failure is not None:
            self._scheduler.call_later(
                delay, partial(self.advance_status, wamid, "failed", error_code=failure)
            )
            return
        self._scheduler.call_later(delay, partial(self.advance_status, wamid, "sent"))
        self._scheduler.call_later(2 * delay, partial(self.advance_status, wamid, "delivered"))

    def advance_status(self, wamid: str, status: str, *, error_code: int = 131047) -> bool:
        """Move an outbound message forward and post the status webhook; False if it cannot
        move there (unknown, already further along, or failed). A `failed` status carries
        `error_code`."""
        with self._lock:
            record = self._log.get(wamid)
            if not isinstance(record, OutboundRecord) or not record.can_become(status):
                return False
            now = self._clock()
            # `pricing` comes with `sent` and with one of `delivered`/`read`, never both.
            with_pricing = status in ("sent", "delivered") or (
                status == "read" and not record.delivered_notified
            )
            errors = (webhook_error_object(error_code),) if status == "failed" else ()
            record = self._log.update(
                record,
                status=status,
                status_at=now,
                errors=errors,
                delivered_notified=record.delivered_notified or status == "delivered",
            )
            assert isinstance(record, OutboundRecord)
            for error in errors:
                self._stats.record_failed(error["code"])
            payload = status_payload(
                self.config.business,
                status_object(
                    wamid=wamid,
                    status=status,
                    at=now,
                    recipient=record.recipient,
                    addressed_by_user_id=record.addressed_by_user_id,
                    pricing=record.pricing if with_pricing else None,
                    errors=errors,
                    biz_opaque_callback_data=record.biz_opaque_callback_data,
                ),
            )
        self._poster.post(f"status.{status}", payload, wamid=wamid)
        return True

    def _mark_inbound_read(self, request: MarkRead) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            target = self._log.get(request.message_id)
            if not isinstance(target, InboundRecord):
                raise GraphError(
                    100, f"Param message_id {request.message_id!r} is not a received message."
                )
            # Marking a message read marks the earlier ones in that thread read too.
            for record in self._log.thread(target.resident):
                if not isinstance(record, InboundRecord) or record.read_by_business:
                    continue
                if record.seq <= target.seq:
                    self._log.update(record, read_by_business=True)
            if request.show_typing:
                self._log.update_resident(
                    target.resident, typing_until=now + TYPING_INDICATOR_SECONDS
                )
            self._stats.record_marked_read()
        return {"success": True}

    # ---- Graph API: media and phone number -------------------------------------------------

    def _media_exists(self, media_id: str) -> bool:
        with self._lock:
            return self._media.get(media_id) is not None

    def upload_media(self, phone_number_id: str, content_type: str, body: bytes) -> dict[str, Any]:
        """`POST /{v}/{phone_number_id}/media` (multipart form)."""
        self._require_phone_number(phone_number_id, "post")
        try:
            fields = parse_multipart_form(content_type, body)
        except FormError as exc:
            raise GraphError(100, f"Media upload must be multipart/form-data: {exc}.") from None
        product = fields.get("messaging_product")
        if product is None:
            raise GraphError(100, "The parameter messaging_product is required.")
        if product.text != "whatsapp":
            raise GraphError(100, "Param messaging_product must be 'whatsapp'.")
        upload = fields.get("file")
        if upload is None:
            raise GraphError(131008, "The parameter file is required.")
        declared = fields.get("type")
        mime_type = declared.text.strip() if declared is not None else upload.content_type
        if not mime_type:
            raise GraphError(131008, "The parameter type is required.")
        problem = upload_problem(mime_type, len(upload.value))
        if problem is not None:
            raise GraphError(131053, problem)
        with self._lock:
            media = self._media.put(upload.value, mime_type, self._clock())
        return {"id": media.media_id}

    def media_url(
        self, media_id: str, *, base_url: str, phone_number_id: str | None = None
    ) -> dict[str, Any]:
        """`GET /{v}/{media_id}`: metadata and a download URL valid for five minutes."""
        if phone_number_id is not None:
            self._require_phone_number(phone_number_id, "get")
        with self._lock:
            media = self._media.get(media_id)
            if media is None:
                raise _unknown_object(media_id, "get")
            grant = self._media.grant_url(media_id, self._clock())
        return {
            "messaging_product": "whatsapp",
            "url": f"{base_url}/_media/{grant.token}",
            "mime_type": media.mime_type,
            "sha256": media.sha256_hex,
            "file_size": str(len(media.content)),
            "id": media.media_id,
        }

    def delete_media(self, media_id: str, *, phone_number_id: str | None = None) -> dict[str, Any]:
        if phone_number_id is not None:
            self._require_phone_number(phone_number_id, "delete")
        with self._lock:
            if not self._media.delete(media_id):
                raise _unknown_object(media_id, "delete")
        return {"success": True}

    def download_media(self, token: str) -> StoredMedia | None:
        with self._lock:
            return self._media.redeem(token, self._clock())

    def media_by_id(self, media_id: str) -> StoredMedia | None:
        with self._lock:
            return self._media.get(media_id)

    def phone_number(self, phone_number_id: str, fields: str | None) -> dict[str, Any]:
        """`GET /{v}/{phone_number_id}?fields=...`."""
        self._require_phone_number(phone_number_id, "get")
        names = [f.strip() for f in fields.split(",") if f.strip()] if fields else []
        answer: dict[str, Any] = {}
        for name in names or _DEFAULT_PHONE_NUMBER_FIELDS:
            if name == "id":
                continue
            field = _PHONE_NUMBER_FIELDS.get(name)
            if field is None:
                raise GraphError(100, f"Tried accessing nonexisting field ({name}).")
            answer[name] = field(self.config)
        answer["id"] = phone_number_id
        return answer

    def is_graph_node(self, node_id: str) -> bool:
        return node_id == self.config.business.phone_number_id

    def _require_phone_number(self, phone_number_id: str, verb: str) -> None:
        if phone_number_id != self.config.business.phone_number_id:
            raise _unknown_object(phone_number_id, verb)

    # ---- the resident's side ---------------------------------------------------------------

    def resident_says(self, raw_key: str, *, name: str, spec: Mapping[str, Any]) -> str:
        """Record a resident's message, (re)open their service window, post the webhook."""
        key = resident_key(raw_key)
        if not isinstance(name, str) or not name.strip():
            raise ResidentMessageError("'name' must be a non-empty string")
        by_user_id = is_user_id_key(key)
        tools = ResidentTools(
            business_number=self.config.business.display_phone_number,
            store_media=self._store_resident_media,
            find_offer=partial(self._find_offer, key),
        )
        with self._lock:
            content = build_message_content(spec, tools)
            now = self._clock()
            wamid = self._ids.wamid(key)
            message: dict[str, Any] = {}
            if "context" in content:
                message["context"] = content["context"]
            message["from_user_id" if by_user_id else "from"] = key
            message.update(id=wamid, timestamp=unix_seconds(now), type=content["type"])
            message[content["type"]] = content[content["type"]]
            seq, rev = self._log.new_ids()
            self._log.add(
                InboundRecord(
                    seq=seq,
                    rev=rev,
                    wamid=wamid,
                    resident=key,
                    name=name,
                    message=message,
                    received_at=now,
                )
            )
            self._log.update_resident(key, name=name)
            self._windows.record_inbound(key, now)
        contact = {"profile": {"name": name}, ("user_id" if by_user_id else "wa_id"): key}
        payload = inbound_message_payload(self.config.business, contact=contact, message=message)
        self._poster.post(f"message.{message['type']}", payload, wamid=wamid)
        return wamid

    def _store_resident_media(self, content: bytes, mime_type: str) -> StoredMedia:
        with self._lock:
            return self._media.put(content, mime_type, self._clock())

    def _find_offer(
        self, key: str, kind: str, reply_id: str, context_wamid: str | None
    ) -> OfferedReply | None:
        with self._lock:
            candidates = [
                record
                for record in reversed(self._log.thread(key))
                if isinstance(record, OutboundRecord)
                and (context_wamid is None or record.wamid == context_wamid)
            ]
        for record in candidates:
            for option in reply_options(record.body):
                if option.kind == kind and option.id == reply_id:
                    return OfferedReply(record.wamid, option)
        return None

    def thread(self, raw_key: str, *, after_rev: int = 0, mark_read: bool = False) -> list[dict]:
        """A resident's messages in order; with `mark_read`, the phone has now displayed every
        outbound message that reached it, so each gets a `read` status."""
        key = resident_key(raw_key)
        if mark_read:
            with self._lock:
                unread = [
                    record.wamid
                    for record in self._log.thread(key)
                    if isinstance(record, OutboundRecord) and record.can_become("read")
                ]
            for wamid in unread:
                self.advance_status(wamid, "read")
        with self._lock:
            return [
                record.as_thread_json() for record in self._log.thread(key, after_rev=after_rev)
            ]

    def resident(self, raw_key: str) -> dict[str, Any]:
        key = resident_key(raw_key)
        now = self._clock()
        with self._lock:
            resident = self._log.resident(key)
            closes_at = self._windows.closes_at(key)
            return {
                "resident": key,
                "name": resident.name,
                "typing": resident.typing_until is not None and now < resident.typing_until,
                "service_window_open": self._windows.is_open(key, now),
                "service_window_closes_at": closes_at,
                "last_inbound_at": self._windows.last_inbound(key),
            }

    # ---- inspection ------------------------------------------------------------------------

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record.as_outbox_json() for record in self._log.outbound()]

    def webhook_log(self) -> list[dict[str, Any]]:
        return self._poster.log()

    # ---- fault injection and stats ---------------------------------------------------------

    def set_faults(self, settings: FaultSettings) -> dict[str, Any]:
        """Replace the fault settings whole; a seed restarts the seeded sequence, and the
        throttle burst starts counting again."""
        with self._lock:
            self._faults = FaultInjector(settings)
            return self._faults.as_json()

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults(FaultSettings())

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults.as_json()

    def fault_settings(self) -> FaultSettings:
        with self._lock:
            return self._faults.settings

    def set_messaging_limit(self, limit: int | None) -> None:
        """Change the portfolio's messaging limit (None: unlimited); who was reached in the last
        24 h stays counted."""
        with self._lock:
            self.config = replace(self.config, messaging_limit=limit)
            self._messaging.limit = limit

    def record_refusal(self, code: int) -> None:
        """A synchronous refusal of `POST .../messages`; called by the HTTP layer, which also
        refuses on its own (token, JSON)."""
        with self._lock:
            self._stats.record_rejected(code)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self._stats.as_json(),
                "messaging_limit": self.config.messaging_limit,
                "messaging_limit_used": self._messaging.used(self._clock()),
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = SendStats(since=self._clock())

    # ---- reset -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget conversations, media, limits, faults, stats and the webhook log; cancel
        pending webhooks. Id counters keep counting, so no wamid is ever reused."""
        self._scheduler.cancel_all()
        with self._lock:
            self._log.clear()
            self._media.clear()
            self._limits = OutboundLimits(max_mps=self.config.max_mps)
            self._windows = ServiceWindows()
            self._messaging = MessagingLimit(self.config.messaging_limit)
            self._faults = FaultInjector()
            self._stats = SendStats(since=self._clock())
        self._poster.clear_log()
