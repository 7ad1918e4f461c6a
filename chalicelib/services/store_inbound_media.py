"""Use case: keep a resident's photo, document or voice note, taken off the media queue.

Meta hands out media by id (valid 7 days); `GET /{media-id}` answers with a download URL that
lives 5 minutes, so the URL is asked for at each attempt and never stored. The bytes go to the
private archive under `media_object_key(resident, wamid)`, then the message notes where.

Retrying is SQS's job: a transient fault raises and the job comes back (then, after the queue's
receive count, waits on its dead-letter queue for an operator while the media id still lives).
What Meta refuses for good — an unknown or expired media id, a media download error (131052), a
4xx other than a rate limit — is logged and dropped: no retry can bring it back. A bad access
token is the exception: it is retried, so its jobs reach the dead-letter queue and can be replayed
once an operator has fixed it. Running a job twice stores the object once and records it once.
A message erased (docs/data-rights.md) between the first look and the record takes the file just
written with it: the object is deleted again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.domain.tickets import media_object_key
from chalicelib.observability import logger, mask_resident_key, metrics
from chalicelib.services.ports import GraphApiError, MediaArchive, MediaJob, MessageStore
from chalicelib.whatsapp.errors import classify

DEFAULT_MIME_TYPE = "application/octet-stream"
# A download URL that stopped working: Meta documents 404 for an expired one.
_EXPIRED_URL_STATUSES = frozenset({403, 404, 410})
# A bad or expired access token is fixed by an operator, not by time: such jobs are retried and
# end on the dead-letter queue (to be replayed once the token is fixed) instead of dropped.
_TOKEN_CODES = frozenset({0, 190})
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class MediaSource(Protocol):
    """The Graph API's media endpoints (`GraphApiClient` implements it)."""

    def media_info(self, media_id: str) -> dict[str, Any]: ...

    def download_media(self, url: str) -> tuple[bytes, str]: ...


class MediaFetchError(Exception):
    """A fault worth retrying later: SQS delivers the job again."""


class MediaOutcome(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"  # a duplicate job: nothing fetched
    GONE = "gone"  # Meta refused for good: logged and dropped
    UNKNOWN_MESSAGE = "unknown_message"  # no such inbound message (or erased): dropped


@dataclass(frozen=True, slots=True)
class _Fetched:
    content: bytes
    mime_type: str


def store_inbound_media(
    job: MediaJob, *, graph: MediaSource, archive: MediaArchive, messages: MessageStore
) -> MediaOutcome:
    """Fetch `job`'s media and keep it. Raises (GraphApiError, MediaFetchError, transport and
    storage errors) when a later attempt may succeed."""
    log_extra = {
        "message_id": job.message_id,
        "media_id": job.media_id,
        "resident": mask_resident_key(job.resident_key),
    }
    stored = messages.get(job.message_id)
    if stored is None:
        # Never stored, or erased since: keeping its media would bring back what was deleted.
        logger.warning("media of an unknown message dropped", extra=log_extra)
        return MediaOutcome.UNKNOWN_MESSAGE
    if stored.media_key:
        return MediaOutcome.ALREADY_STORED
    try:
        fetched = _fetch(graph, job)
    except GraphApiError as error:
        if not gives_up(error):
            raise
        logger.warning(
            "media dropped: Meta refused it",
            extra={**log_extra, "code": error.code, "reason": error.title},
        )
        metrics.add_metric(name="InboundMediaDropped", unit=MetricUnit.Count, value=1)
        return MediaOutcome.GONE
    key = media_object_key(job.resident_key, job.message_id)
    archive.put(key, fetched.content, fetched.mime_type)
    try:
        messages.record_media(job.message_id, key, fetched.mime_type, len(fetched.content))
    except KeyError:
        # Erased while we were downloading: the file must go the way of its message.
        archive.delete(key)
        logger.warning("media of a message erased meanwhile deleted", extra=log_extra)
        return MediaOutcome.UNKNOWN_MESSAGE
    logger.info("media stored", extra={**log_extra, "bytes": len(fetched.content)})
    metrics.add_metric(name="InboundMediaStored", unit=MetricUnit.Count, value=1)
    return MediaOutcome.STORED


def gives_up(error: GraphApiError) -> bool:
    """Whether a refusal of `GET /{media-id}` is final (see the module docstring)."""
    if error.code in _TOKEN_CODES or error.http_status == 401:
        return False
    return not classify(error.code, http_status=error.http_status).should_retry


def _fetch(graph: MediaSource, job: MediaJob) -> _Fetched:
    """Ask for a URL and download it; a URL that expired in between is asked for once more.
    Only the media endpoint's own refusals propagate as GraphApiError: a download that keeps
    failing is a MediaFetchError, since Meta has just said the media exists."""
    try:
        return _download(graph, job, graph.media_info(job.media_id))
    except _UrlExpiredError as expired:
        logger.info(
            "media URL no longer valid: asking for a new one",
            extra={"media_id": job.media_id, "status": expired.http_status},
        )
    try:
        return _download(graph, job, graph.media_info(job.media_id))
    except _UrlExpiredError as expired:
        raise MediaFetchError(f"media {job.media_id}: a fresh URL failed too") from expired


class _UrlExpiredError(MediaFetchError):
    def __init__(self, http_status: int | None) -> None:
        super().__init__(f"media URL answered HTTP {http_status}")
        self.http_status = http_status


def _download(graph: MediaSource, job: MediaJob, info: Mapping[str, Any]) -> _Fetched:
    url = info.get("url")
    if not isinstance(url, str) or not url:
        raise MediaFetchError(f"media {job.media_id}: Meta's answer had no download URL")
    try:
        content, content_type = graph.download_media(url)
    except GraphApiError as error:
        if error.http_status in _EXPIRED_URL_STATUSES:
            raise _UrlExpiredError(error.http_status) from error
        raise MediaFetchError(f"media {job.media_id}: download failed: {error}") from error
    if not _matches_sha256(content, info.get("sha256")):
        raise MediaFetchError(f"media {job.media_id}: the download does not match its sha256")
    return _Fetched(content, _mime_type(info, job, content_type))


def _mime_type(info: Mapping[str, Any], job: MediaJob, content_type: str) -> str:
    for candidate in (info.get("mime_type"), job.mime_type, content_type):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return DEFAULT_MIME_TYPE


def _matches_sha256(content: bytes, expected: Any) -> bool:
    """Meta's media answer carries the file's SHA-256 (hex; webhooks use base64). A hash in
    neither form is not checked rather than failing every download over a format change."""
    if not isinstance(expected, str):
        return True
    digest = hashlib.sha256(content).digest()
    if _HEX_SHA256.fullmatch(expected):
        return expected.lower() == digest.hex()
    try:
        decoded = base64.b64decode(expected, validate=True)
    except (binascii.Error, ValueError):
        return True
    return decoded == digest if len(decoded) == len(digest) else True
