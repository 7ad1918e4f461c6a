"""Identifiers the simulator hands out: wamids, media ids, media URL tokens."""

from __future__ import annotations

import base64
import itertools
import secrets
import threading


class IdFactory:
    """Unique ids for one simulator instance.

    A random per-instance prefix keeps ids unique across restarts and resets: an app that
    deduplicates inbound messages by wamid must never mistake a new message for an old one.
    """

    def __init__(self, instance_key: bytes | None = None) -> None:
        self._instance_key = instance_key if instance_key is not None else secrets.token_bytes(5)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._media_base = 10**15 + int.from_bytes(self._instance_key[:4], "big") * 1000

    def _next(self) -> int:
        with self._lock:
            return next(self._counter)

    def wamid(self, contact: str) -> str:
        """A wamid shaped like Meta's: base64 of a small binary record naming the contact."""
        contact_bytes = contact.encode()[:255]
        serial = f"{self._instance_key.hex().upper()}{self._next():010X}".encode()
        raw = b"\x1c\x18" + bytes([len(contact_bytes)]) + contact_bytes
        raw += b"\x15\x02\x00\x12\x18" + bytes([len(serial)]) + serial + b"\x00"
        return "wamid." + base64.b64encode(raw).decode()

    def media_id(self) -> str:
        return str(self._media_base + self._next())

    @staticmethod
    def media_url_token() -> str:
        # Unguessable: the URL is the capability, next to the Bearer token.
        return secrets.token_urlsafe(24)
