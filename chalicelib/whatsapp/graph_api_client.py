"""The Graph API over HTTP: send messages, mark them read, fetch media (facts sheet §4, §6, §7).

`requests` is imported on first use, not at import: the webhook Lambda imports the wiring that
names this class but never sends, so it should not pay for `requests` on a cold start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from chalicelib.domain.replies import Reply
from chalicelib.services.ports import GraphApiError, SendResult
from chalicelib.whatsapp.errors import NO_ERROR_CODE, error_title
from chalicelib.whatsapp.payloads import build_message_payload

if TYPE_CHECKING:
    import requests

_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")
_DETAILS_MAX = 500


class GraphApiClient:
    """Implements `MessageSender`. Meta refusals raise `GraphApiError` with Meta's code, or
    `NO_ERROR_CODE` (-1) and the HTTP status when the body carried no Meta error (a proxy's HTML
    502, an empty 500): `errors.classify(code, http_status=…)` tells what to do either way.
    Transport faults (timeouts, refused connections) propagate as `requests` exceptions: whether
    Meta got the message is then unknown, and only the caller can decide to risk a duplicate."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        phone_number_id: str,
        timeout: tuple[float, float] = (3.05, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._access_token = access_token
        self._phone_number_id = phone_number_id
        self._timeout = timeout
        self._session = session

    def __repr__(self) -> str:  # never show the token
        return f"GraphApiClient({self._base_url!r}, phone_number_id={self._phone_number_id!r})"

    def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        context_wamid: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """Send one message; 200 means Meta accepted it (delivery comes later as statuses)."""
        body = build_message_payload(
            recipient, reply, context_wamid=context_wamid, callback_data=callback_data
        )
        response, answer = self._call("POST", self._messages_url, json=body)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, Mapping) else None
        if not isinstance(wamid, str) or not wamid:
            raise GraphApiError(
                NO_ERROR_CODE,
                "Accepted without a message id",
                http_status=response.status_code,
                details=response.text[:_DETAILS_MAX],
            )
        return SendResult(wamid)

    def mark_read(self, wamid: str, *, typing: bool = False) -> None:
        """Blue ticks for a received message; `typing` also shows the typing indicator, which
        Meta hides when we reply or after 25 seconds."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        self._call("POST", self._messages_url, json=body)

    def media_info(self, media_id: str) -> dict[str, Any]:
        """`{url, mime_type, sha256, file_size, id, …}` for media a resident sent. The `url`
        expires after 5 minutes; ask again rather than storing it."""
        _, answer = self._call(
            "GET",
            f"{self._base_url}/{media_id}",
            params={"phone_number_id": self._phone_number_id},
        )
        return answer

    def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file to send by id (implements `MediaUploader`); returns the media id.
        Meta keeps uploads for 30 days and checks type and size here (error 131053)."""
        response, answer = self._call(
            "POST",
            f"{self._base_url}/{self._phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise GraphApiError(
                NO_ERROR_CODE,
                "Upload accepted without a media id",
                http_status=response.status_code,
                details=response.text[:_DETAILS_MAX],
            )
        return media_id

    def download_media(self, url: str) -> tuple[bytes, str]:
        """The bytes and Content-Type behind a media URL from `media_info` (or a webhook's
        `url`). The bearer token is sent with it, so only pass URLs that came from Meta."""
        response = self._request("GET", url)
        if not 200 <= response.status_code < 300:
            _raise_refusal(response)
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return response.content, content_type

    @property
    def _messages_url(self) -> str:
        return f"{self._base_url}/{self._phone_number_id}/messages"

    def _call(
        self, method: str, url: str, **kwargs: Any
    ) -> tuple[requests.Response, dict[str, Any]]:
        """A Graph call answered with a JSON object, or GraphApiError."""
        response = self._request(method, url, **kwargs)
        answer = _json_object(response)
        if not 200 <= response.status_code < 300 or answer is None or "error" in answer:
            _raise_refusal(response)
        return response, answer

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self._http().request(
            method,
            url,
            headers={"Authorization": f"Bearer {self._access_token}"},
            timeout=self._timeout,
            **kwargs,
        )

    def _http(self) -> requests.Session:
        if self._session is None:
            import requests  # lazily: see the module docstring

            self._session = requests.Session()
        return self._session


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _raise_refusal(response: requests.Response) -> NoReturn:
    answer = _json_object(response)
    error = answer.get("error") if answer is not None else None
    code = error.get("code") if isinstance(error, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(code, int) or isinstance(code, bool):
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
        raise GraphApiError(
            NO_ERROR_CODE,
            reason,
            http_status=response.status_code,
            details=response.text[:_DETAILS_MAX],
        )
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else None
    raise GraphApiError(
        code,
        _title(error, code),
        http_status=response.status_code,
        details=details if isinstance(details, str) else "",
    )


def _title(error: Mapping[str, Any], code: int) -> str:
    """Meta's `message` is `(#<code>) <title>`; GraphApiError adds the code back itself."""
    message = error.get("message")
    if isinstance(message, str) and message.strip():
        return _CODE_PREFIX.sub("", message.strip())
    return error_title(code)
