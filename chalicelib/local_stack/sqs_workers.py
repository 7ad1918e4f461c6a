"""Local stand-in for Lambda's SQS event source mappings: long-poll each queue and call the very
handler function Lambda would call, honouring `batchItemFailures` the way ReportBatchItemFailures
does (successful records deleted, failed ones left for redelivery)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chalicelib.observability import logger

LambdaHandler = Callable[[dict[str, Any], Any], Any]

# When a handler crashes outright, Lambda retries its whole batch after the queue's visibility
# timeout (minutes); locally a short pause keeps the feedback loop quick. Records a handler
# reports as failed keep whatever visibility the handler gave them (its backoff), as on AWS.
LOCAL_CRASH_RETRY_SECONDS = 2


class SqsWorker(threading.Thread):
    def __init__(
        self,
        *,
        queue_name: str,
        handler: LambdaHandler,
        batch_size: int,
        sqs_client: Any,
        region: str,
        stop_event: threading.Event,
        wait_seconds: int = 1,
    ) -> None:
        super().__init__(name=f"sqs-worker:{queue_name}", daemon=True)
        self._queue_name = queue_name
        self._handler = handler
        self._batch_size = min(batch_size, 10)
        self._sqs = sqs_client
        self._region = region
        self._stop_event = stop_event
        self._wait_seconds = wait_seconds
        self._queue: tuple[str, str] | None = None
        self.batches_handled = 0

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop_event.is_set():
                    return
                logger.exception(
                    "local SQS worker failed a poll", extra={"queue": self._queue_name}
                )
                self._stop_event.wait(1)

    def poll_once(self) -> int:
        """Receive one batch, hand it to the handler, delete what succeeded; returns how many
        messages were received."""
        url, arn = self._queue_url_and_arn()
        received = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = lambda_sqs_event(received, arn, self._region)
        failed_ids: set[str] = set()
        crashed = False
        try:
            result = self._handler(event, None) or {}
            failed_ids = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception:
            logger.exception("local SQS handler raised", extra={"queue": self._queue_name})
            failed_ids = {message["MessageId"] for message in received}
            crashed = True
        self.batches_handled += 1
        done = [m for m in received if m["MessageId"] not in failed_ids]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        for message in received if crashed else ():
            self._sqs.change_message_visibility(
                QueueUrl=url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=LOCAL_CRASH_RETRY_SECONDS,
            )
        return len(received)

    def _queue_url_and_arn(self) -> tuple[str, str]:
        if self._queue is None:
            url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            self._queue = (url, attributes["Attributes"]["QueueArn"])
        return self._queue


def lambda_sqs_event(messages: list[dict[str, Any]], arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from ReceiveMessage results."""
    return {"Records": [_lambda_record(message, arn, region) for message in messages]}


def _lambda_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }
