"""In-memory twins of the media queue and archive, for service tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from chalicelib.services.ports import MediaJob


class InMemoryMediaQueue:
    """Records jobs in the order enqueued (duplicates kept: SQS standard queues keep them too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: list[MediaJob] = []

    def enqueue(self, jobs: Sequence[MediaJob]) -> None:
        with self._lock:
            self.jobs.extend(jobs)

    def drain(self) -> list[MediaJob]:
        """Everything enqueued so far, oldest first; the queue is empty afterwards."""
        with self._lock:
            drained, self.jobs = self.jobs, []
            return drained


class InMemoryMediaArchive:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, tuple[bytes, str]] = {}
        self.puts = 0  # how many times something was written, to check idempotency

    def put(self, key: str, content: bytes, mime_type: str) -> None:
        with self._lock:
            self._objects[key] = (bytes(content), mime_type)
            self.puts += 1

    def get(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._objects.get(key)

    def url(self, key: str, *, expires_seconds: int = 300, download: bool = False) -> str:
        """Not fetchable: tests only check which object a link names (and whether the browser
        is told to save it)."""
        return f"memory://{key}?download" if download else f"memory://{key}"

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)

    def delete(self, key: str) -> None:
        """Like S3's DeleteObject: no error when nothing is kept under `key`."""
        with self._lock:
            self._objects.pop(key, None)
