"""One daemon thread that runs callables when they fall due, in due order.

Webhook posts, their retries and delayed statuses all go through it, so no HTTP request handler
ever waits on the app. Delays are real (monotonic) time even when the simulator's clock is fake:
the fake clock decides what timestamps and windows say, not when the app hears about them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

Job = Callable[[], None]


class Scheduler:
    def __init__(
        self,
        *,
        name: str = "graph-simulator-scheduler",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._monotonic = monotonic
        self._queue: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._running_job = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._condition:
            if self._thread is not None:
                raise RuntimeError("scheduler already started")
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def call_later(self, delay_seconds: float, job: Job) -> None:
        due = self._monotonic() + max(0.0, delay_seconds)
        with self._condition:
            heapq.heappush(self._queue, (due, next(self._order), job))
            self._condition.notify_all()

    def cancel_all(self) -> None:
        with self._condition:
            self._queue.clear()
            self._condition.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or running (delayed jobs included); False on timeout."""
        deadline = self._monotonic() + timeout
        with self._condition:
            while self._queue or self._running_job:
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.05))
            return True

    def stop(self, timeout: float = 10.0) -> None:
        """Drop pending jobs, let a running one finish, and join the thread."""
        with self._condition:
            self._stopping = True
            self._queue.clear()
            self._condition.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("scheduler thread did not stop within %.1f s", timeout)

    def _next_job(self) -> Job | None:
        with self._condition:
            while not self._stopping:
                if not self._queue:
                    self._condition.wait()
                    continue
                wait = self._queue[0][0] - self._monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                _, _, job = heapq.heappop(self._queue)
                self._running_job = True
                return job
            return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                job()
            except Exception:
                logger.exception("simulator job failed")
            finally:
                with self._condition:
                    self._running_job = False
                    self._condition.notify_all()
