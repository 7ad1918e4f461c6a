"""Uploaded media and the short-lived download URLs handed out for it (facts §7).

Pure bookkeeping: every call takes `now`, so URL expiry follows the simulator's injected clock.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from chalicelib.simulator.ids import IdFactory

MEDIA_URL_TTL_SECONDS = 5 * 60

_MB = 1024 * 1024
# Supported upload types and their size limits (facts §7); WebP only as a sticker.
MAX_BYTES_BY_MIME_TYPE: dict[str, int] = {
    "audio/aac": 16 * _MB,
    "audio/amr": 16 * _MB,
    "audio/mpeg": 16 * _MB,
    "audio/mp4": 16 * _MB,
    "audio/ogg": 16 * _MB,
    "image/jpeg": 5 * _MB,
    "image/png": 5 * _MB,
    "image/webp": 500 * 1024,
    "video/mp4": 16 * _MB,
    "video/3gpp": 16 * _MB,
    "text/plain": 100 * _MB,
    "application/pdf": 100 * _MB,
    "application/msword": 100 * _MB,
    "application/vnd.ms-excel": 100 * _MB,
    "application/vnd.ms-powerpoint": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * _MB,
}


def base_mime_type(mime_type: str) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg`."""
    return mime_type.split(";", 1)[0].strip().lower()


def upload_problem(mime_type: str, size: int) -> str | None:
    """Why Meta would refuse this upload, or None."""
    limit = MAX_BYTES_BY_MIME_TYPE.get(base_mime_type(mime_type))
    if limit is None:
        return f"Unsupported file type {mime_type!r}."
    if size == 0:
        return "The file is empty."
    if size > limit:
        return f"File of {size} bytes exceeds the {limit} bytes allowed for {mime_type}."
    return None


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    content: bytes
    mime_type: str
    stored_at: float

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def sha256_base64(self) -> str:
        # Webhook media objects carry base64, the media URL response hex (facts §2.2, §7).
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode()


@dataclass(frozen=True, slots=True)
class MediaUrlGrant:
    token: str
    media_id: str
    expires_at: float


class MediaStore:
    def __init__(self, ids: IdFactory, *, url_ttl_seconds: float = MEDIA_URL_TTL_SECONDS) -> None:
        self._ids = ids
        self._ttl = url_ttl_seconds
        self._media: dict[str, StoredMedia] = {}
        self._grants: dict[str, MediaUrlGrant] = {}

    def put(self, content: bytes, mime_type: str, now: float) -> StoredMedia:
        media = StoredMedia(self._ids.media_id(), content, mime_type, now)
        self._media[media.media_id] = media
        return media

    def get(self, media_id: str) -> StoredMedia | None:
        return self._media.get(media_id)

    def delete(self, media_id: str) -> bool:
        self._grants = {t: g for t, g in self._grants.items() if g.media_id != media_id}
        return self._media.pop(media_id, None) is not None

    def grant_url(self, media_id: str, now: float) -> MediaUrlGrant:
        """A fresh download token for existing media, valid for five minutes from `now`."""
        if media_id not in self._media:
            raise KeyError(media_id)
        self._forget_expired(now)
        grant = MediaUrlGrant(self._ids.media_url_token(), media_id, now + self._ttl)
        self._grants[grant.token] = grant
        return grant

    def redeem(self, token: str, now: float) -> StoredMedia | None:
        """The media behind a download token, or None if unknown, expired or deleted."""
        grant = self._grants.get(token)
        if grant is None or now >= grant.expires_at:
            return None
        return self._media.get(grant.media_id)

    def clear(self) -> None:
        self._media.clear()
        self._grants.clear()

    def _forget_expired(self, now: float) -> None:
        self._grants = {t: g for t, g in self._grants.items() if now < g.expires_at}
