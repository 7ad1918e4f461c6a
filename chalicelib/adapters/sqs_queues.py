"""The inbound FIFO queue and the two outbound queues on SQS.

A queue is named by its URL or its name; a name is resolved with GetQueueUrl on first use and
cached. The boto3 client is created on first use too (boto3 is imported only then: it is the
bulk of a cold start), unless one is injected.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chalicelib.domain.messages import Priority
from chalicelib.domain.retry_policy import SQS_MAX_DELAY_SECONDS
from chalicelib.services.dead_letters import DeadLetter

SQS_BATCH_LIMIT = 10  # entries per SendMessageBatch


class QueueSendError(Exception):
    """Some entries of a SendMessageBatch were refused; `failed` has SQS's reasons."""

    def __init__(self, queue: str, failed: list[dict[str, Any]]) -> None:
        details = "; ".join(
            f"{entry.get('Id')}: {entry.get('Code')} {entry.get('Message', '')}".strip()
            for entry in failed
        )
        super().__init__(f"SQS refused {len(failed)} message(s) for {queue}: {details}")
        self.queue = queue
        self.failed = failed


class LazySqs:
    """One boto3 SQS client (created on first use unless injected) and the queue URLs it has
    resolved; every SQS adapter (here and in sqs_media_queue) sends through one."""

    def __init__(self, sqs_client: Any | None, region_name: str | None) -> None:
        self._client = sqs_client
        self._region_name = region_name
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # deferred: only paid by the functions that send

                    self._client = boto3.client("sqs", region_name=self._region_name)
        return self._client

    def url(self, queue: str) -> str:
        """`queue` is a URL (returned as is) or a name (resolved once)."""
        if queue.startswith(("https://", "http://")):
            return queue
        if queue not in self._urls:
            self._urls[queue] = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
        return self._urls[queue]

    def send_batches(
        self,
        queue: str,
        entries: Sequence[dict[str, Any]],
        describe: Callable[[int], str],
    ) -> None:
        """SendMessageBatch in chunks of 10, in order. `describe(i)` names entry i in errors.
        Raises QueueSendError after the first chunk with refused entries: later chunks are not
        sent, so a FIFO group's order is never broken by a gap."""
        url = self.url(queue)
        for start, chunk in _chunks(entries, SQS_BATCH_LIMIT):
            batch = [{"Id": str(start + offset), **entry} for offset, entry in enumerate(chunk)]
            response = self.client.send_message_batch(QueueUrl=url, Entries=batch)
            failed = response.get("Failed") or []
            if failed:
                named = [{**entry, "Id": describe(int(entry["Id"]))} for entry in failed]
                raise QueueSendError(queue, named)


def _chunks(items: Sequence[Any], size: int) -> Iterator[tuple[int, Sequence[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


class SqsInboundQueue:
    """The FIFO queue of inbound webhook items: one message group per resident keeps each
    resident's messages in order; the dedup id (the wamid) drops Meta's redeliveries."""

    def __init__(
        self, queue: str, sqs_client: Any | None = None, *, region_name: str | None = None
    ) -> None:
        self._queue = queue
        self._sqs = LazySqs(sqs_client, region_name)

    def enqueue(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        entries = [
            {
                "MessageBody": json.dumps(body, separators=(",", ":")),
                "MessageGroupId": resident_key,
                "MessageDeduplicationId": dedup_id,
            }
            for resident_key, dedup_id, body in items
        ]
        self._sqs.send_batches(
            self._queue,
            entries,
            lambda i: f"resident {items[i][0]} dedup id {items[i][1]}",
        )


class SqsOutboundQueue:
    """Message ids to send, on the replies queue or the bulk queue by priority, so replies never
    wait behind a broadcast. Body: {"message_ids": [...]}, sent in that order by one sender.

    Replies of one turn (a welcome, then the menu) travel as one SQS message so they reach the
    resident in order; bulk sends travel one id per SQS message so they spread across senders.
    Messages given up on go to the queue's dead-letter queue with {"reason": ...} in the body.
    """

    def __init__(
        self,
        reply_queue: str,
        bulk_queue: str,
        sqs_client: Any | None = None,
        *,
        region_name: str | None = None,
        reply_dead_letter_queue: str | None = None,
        bulk_dead_letter_queue: str | None = None,
    ) -> None:
        self._queues = {Priority.REPLY: reply_queue, Priority.BULK: bulk_queue}
        self._dead_letter_queues = {
            Priority.REPLY: reply_dead_letter_queue,
            Priority.BULK: bulk_dead_letter_queue,
        }
        self._sqs = LazySqs(sqs_client, region_name)

    def enqueue(self, message_ids: Sequence[str], priority: Priority) -> None:
        if not message_ids:
            return
        groups = [list(message_ids)] if priority is Priority.REPLY else [[i] for i in message_ids]
        entries = [{"MessageBody": json.dumps({"message_ids": group})} for group in groups]
        self._sqs.send_batches(
            self._queues[priority], entries, lambda i: f"messages {', '.join(groups[i])}"
        )

    def dead_letter(self, message_ids: Sequence[str], priority: Priority, reason: str) -> None:
        queue = self._dead_letter_queues[priority]
        if queue is None:
            raise ValueError(f"no dead-letter queue configured for {priority} messages")
        entries = [
            {"MessageBody": json.dumps({"message_ids": [message_id], "reason": reason})}
            for message_id in message_ids
        ]
        self._sqs.send_batches(queue, entries, lambda i: f"message {message_ids[i]}")


class SqsRecordDelay:
    """Defers one received SQS record: it comes back after `seconds` instead of after the
    queue's visibility timeout. Used for backoff, since Lambda itself has no per-record delay."""

    def __init__(self, sqs_client: Any | None = None, *, region_name: str | None = None) -> None:
        self._sqs = LazySqs(sqs_client, region_name)

    def delay(self, event_source_arn: str, receipt_handle: str, seconds: int) -> None:
        queue_name = event_source_arn.rsplit(":", 1)[-1]
        self._sqs.client.change_message_visibility(
            QueueUrl=self._sqs.url(queue_name),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=min(max(0, seconds), SQS_MAX_DELAY_SECONDS),
        )


class SqsDeadLetterQueue:
    """The outbound dead-letter queues, read without consuming: peeked messages are made
    visible again at once, and only `remove` deletes."""

    REDRIVEN_REASON = "exceeded the queue's receive count (moved by SQS)"

    def __init__(
        self,
        reply_dead_letter_queue: str,
        bulk_dead_letter_queue: str,
        sqs_client: Any | None = None,
        *,
        region_name: str | None = None,
    ) -> None:
        self._queues = {
            Priority.REPLY: reply_dead_letter_queue,
            Priority.BULK: bulk_dead_letter_queue,
        }
        self._sqs = LazySqs(sqs_client, region_name)

    def peek(self, priority: Priority, limit: int) -> list[DeadLetter]:
        url = self._sqs.url(self._queues[priority])
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        while len(seen) < limit:
            batch = self._sqs.client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                body = json.loads(message["Body"])
                seen.setdefault(
                    message["MessageId"],
                    DeadLetter(
                        message_ids=tuple(body.get("message_ids", ())),
                        reason=body.get("reason") or self.REDRIVEN_REASON,
                        handle=message["ReceiptHandle"],
                    ),
                )
        for handle in handles:  # peeking must not hide them from the next look
            self._sqs.client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return list(seen.values())[:limit]

    def remove(self, priority: Priority, letter: DeadLetter) -> None:
        self._sqs.client.delete_message(
            QueueUrl=self._sqs.url(self._queues[priority]), ReceiptHandle=letter.handle
        )
