"""The standard SQS queue of inbound media to fetch: one SQS message per `MediaJob`.

Not FIFO: a resident's photos may be fetched in any order, and a duplicate delivery is harmless
(`store_inbound_media` is idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.sqs_queues import LazySqs
from chalicelib.services.ports import MediaJob


class MediaJobFormatError(ValueError):
    """An SQS body that is not a media job; retrying it cannot help."""


def media_job_body(job: MediaJob) -> str:
    return json.dumps(
        {
            "message_id": job.message_id,
            "media_id": job.media_id,
            "resident_key": job.resident_key,
            "mime_type": job.mime_type,
        },
        separators=(",", ":"),
    )


def media_job_from_body(body: str) -> MediaJob:
    try:
        data = json.loads(body)
        fields = {name: data[name] for name in ("message_id", "media_id", "resident_key")}
        mime_type = data.get("mime_type") or ""
    except (ValueError, TypeError, KeyError) as error:
        raise MediaJobFormatError(f"not a media job: {body[:200]!r}") from error
    if not all(isinstance(value, str) and value for value in fields.values()):
        raise MediaJobFormatError(f"not a media job: {body[:200]!r}")
    if not isinstance(mime_type, str):
        raise MediaJobFormatError(f"not a media job: {body[:200]!r}")
    return MediaJob(mime_type=mime_type, **fields)


class SqsMediaQueue:
    """Implements `MediaQueue`."""

    def __init__(
        self, queue: str, sqs_client: Any | None = None, *, region_name: str | None = None
    ) -> None:
        self._queue = queue
        self._sqs = LazySqs(sqs_client, region_name)

    def enqueue(self, jobs: Sequence[MediaJob]) -> None:
        if not jobs:
            return
        entries = [{"MessageBody": media_job_body(job)} for job in jobs]
        self._sqs.send_batches(self._queue, entries, lambda i: f"media of {jobs[i].message_id}")
