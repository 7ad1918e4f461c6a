"""A resident's photo, from the simulator's webhook to the private bucket in moto: through the
real inbound worker, the media queue and the `media_fetcher` handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.domain.tickets import media_object_key
from chalicelib.services.ports import GraphApiError, MediaJob
from chalicelib.settings import MEDIA_BUCKET_VARIABLE, get_settings
from chalicelib.wiring import Container, container
from tests.app.conftest import REGION, AppHarness

WA_ID = "351913000111"
RESIDENT_KEY = f"wa:{WA_ID}"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 32 + b"\xff\xd9"


@pytest.fixture
def bucket(harness: AppHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The stack's media bucket, named to the app the way the deployment does."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    outputs = cloudformation.describe_stacks(StackName=harness.names.stack)["Stacks"][0]["Outputs"]
    name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")
    monkeypatch.setenv(MEDIA_BUCKET_VARIABLE, name)
    get_settings.cache_clear()
    container.cache_clear()
    yield name
    get_settings.cache_clear()
    container.cache_clear()


def resident_sends_photo(harness: AppHarness, content: bytes) -> MediaJob:
    """The photo's webhook goes through the app's webhook and inbound worker; returns the job
    the inbound handler queues for it."""
    wamid = harness.simulator.resident_says(WA_ID, name="Maria", type="image", image_bytes=content)
    delivery = next(d for d in harness.simulator.webhook_log() if d["wamid"] == wamid)
    assert harness.post_webhook(delivery["payload"]).status_code == 200
    harness.drain()
    assert container().messages.get(wamid) is not None, "the inbound worker stored the message"
    image = delivery["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    return MediaJob(
        message_id=wamid,
        media_id=image["id"],
        resident_key=RESIDENT_KEY,
        mime_type=image["mime_type"],
    )


def run_media_fetcher(harness: AppHarness) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []
    for _ in range(5):
        failures += harness.run_worker("media_fetcher", harness.names.media_queue)[
            "batchItemFailures"
        ]
    return failures


def test_a_residents_photo_lands_in_the_private_bucket(harness: AppHarness, bucket: str) -> None:
    job = resident_sends_photo(harness, JPEG)
    container().media_queue.enqueue([job])

    assert run_media_fetcher(harness) == []

    key = media_object_key(RESIDENT_KEY, job.message_id)
    s3 = boto3.client("s3", region_name=REGION)
    stored = s3.get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == JPEG
    assert (stored["ContentType"], stored["ServerSideEncryption"]) == ("image/jpeg", "AES256")
    assert container().messages.get(job.message_id).media_key == key
    assert harness.receive(harness.names.media_queue) == []


def test_one_failing_job_is_retried_alone(
    harness: AppHarness, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = resident_sends_photo(harness, JPEG)
    flaky = resident_sends_photo(harness, JPEG[::-1])
    failing = FailingFor(container().media_graph, flaky.media_id)
    # On the class, so it wins whether the container caches the client or derives it.
    monkeypatch.setattr(Container, "media_graph", property(lambda _: failing))
    records = [
        _record("m-good", good),
        _record("m-unreadable", "this is not a media job"),
        _record("m-flaky", flaky),
    ]

    outcome = harness.client.lambda_.invoke("media_fetcher", harness.sqs_event(records, "q"))

    assert outcome.payload == {"batchItemFailures": [{"itemIdentifier": "m-flaky"}]}
    assert container().messages.get(good.message_id).media_key is not None
    assert container().messages.get(flaky.message_id).media_key is None


class FailingFor:
    """The real Graph client, except that one media id meets a transient Meta fault."""

    def __init__(self, graph: Any, media_id: str) -> None:
        self._graph = graph
        self._media_id = media_id

    def media_info(self, media_id: str) -> dict[str, Any]:
        if media_id == self._media_id:
            raise GraphApiError(131000, "Something went wrong", http_status=500)
        return self._graph.media_info(media_id)

    def download_media(self, url: str) -> tuple[bytes, str]:
        return self._graph.download_media(url)


def _record(sqs_id: str, job: MediaJob | str) -> dict[str, Any]:
    from chalicelib.adapters.sqs_media_queue import media_job_body

    body = job if isinstance(job, str) else media_job_body(job)
    return {"MessageId": sqs_id, "ReceiptHandle": f"rh-{sqs_id}", "Body": body}
