"""Contract tests for the media archive and the media queue: the same test classes run against
the in-memory twins and against S3/SQS on the moto server (over HTTP), in a stage provisioned
through moto's CloudFormation from the real template."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib.adapters.memory_media import InMemoryMediaArchive, InMemoryMediaQueue
from chalicelib.adapters.s3_media_archive import S3MediaArchive
from chalicelib.adapters.sqs_media_queue import (
    MediaJobFormatError,
    SqsMediaQueue,
    media_job_body,
    media_job_from_body,
)
from chalicelib.domain.tickets import media_object_key
from chalicelib.resource_names import ResourceNames
from chalicelib.services.ports import MediaArchive, MediaJob, MediaQueue
from infra.local_emulator import provision

REGION = "eu-west-1"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


def a_key() -> str:
    return media_object_key("wa:351912345678", f"wamid.{uuid.uuid4().hex}")


def a_job(**changes: Any) -> MediaJob:
    fields: dict[str, Any] = {
        "message_id": f"wamid.{uuid.uuid4().hex}",
        "media_id": str(uuid.uuid4().int)[:16],
        "resident_key": "wa:351912345678",
        "mime_type": "image/jpeg",
    }
    return MediaJob(**{**fields, **changes})


class MediaArchiveContract:
    @pytest.fixture
    def archive(self) -> MediaArchive:
        raise NotImplementedError

    def test_what_is_put_comes_back_with_its_type(self, archive: MediaArchive) -> None:
        key = a_key()
        archive.put(key, JPEG, "image/jpeg")
        assert archive.get(key) == (JPEG, "image/jpeg")

    def test_nothing_under_an_unknown_key(self, archive: MediaArchive) -> None:
        assert archive.get(a_key()) is None

    def test_deleting_removes_and_twice_is_no_error(self, archive: MediaArchive) -> None:
        key = a_key()
        archive.put(key, JPEG, "image/jpeg")
        archive.delete(key)
        archive.delete(key)
        assert archive.get(key) is None

    def test_putting_again_replaces(self, archive: MediaArchive) -> None:
        key = a_key()
        archive.put(key, b"first", "text/plain")
        archive.put(key, b"%PDF-1.7 second", "application/pdf")
        assert archive.get(key) == (b"%PDF-1.7 second", "application/pdf")

    def test_binary_content_and_parameters_survive(self, archive: MediaArchive) -> None:
        key = a_key()
        voice = bytes(range(256)) * 3 + b"\x00\r\n"
        archive.put(key, voice, "audio/ogg; codecs=opus")
        assert archive.get(key) == (voice, "audio/ogg; codecs=opus")


# A media queue and how to take everything waiting on it.
QueueAndTake = tuple[MediaQueue, Callable[[], list[MediaJob]]]


class MediaQueueContract:
    @pytest.fixture
    def media_queue(self) -> QueueAndTake:
        raise NotImplementedError

    def test_jobs_come_out_as_they_went_in(self, media_queue: QueueAndTake) -> None:
        queue, take = media_queue
        jobs = [a_job(), a_job(mime_type=""), a_job(resident_key="bsuid:PT.1a2b3c")]
        queue.enqueue(jobs)
        assert sorted(take(), key=jobs.index) == jobs

    def test_more_than_one_sqs_batch(self, media_queue: QueueAndTake) -> None:
        queue, take = media_queue
        jobs = [a_job() for _ in range(23)]
        queue.enqueue(jobs)
        assert sorted(take(), key=jobs.index) == jobs

    def test_nothing_to_enqueue(self, media_queue: QueueAndTake) -> None:
        queue, take = media_queue
        queue.enqueue([])
        assert take() == []


class TestInMemoryMedia(MediaArchiveContract, MediaQueueContract):
    @pytest.fixture
    def archive(self) -> MediaArchive:
        return InMemoryMediaArchive()

    @pytest.fixture
    def media_queue(self) -> QueueAndTake:
        queue = InMemoryMediaQueue()
        return queue, queue.drain


@pytest.fixture(scope="module")
def stage(moto_endpoint: str) -> ResourceNames:
    names = ResourceNames(f"m{uuid.uuid4().hex[:8]}")
    provision(moto_endpoint, names, REGION)
    return names


def _media_bucket(endpoint: str, names: ResourceNames) -> str:
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    outputs = cloudformation.describe_stacks(StackName=names.stack)["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")


class TestS3AndSqsMedia(MediaArchiveContract, MediaQueueContract):
    @pytest.fixture
    def bucket(self, aws_env: str, stage: ResourceNames) -> str:
        return _media_bucket(aws_env, stage)

    @pytest.fixture
    def archive(self, bucket: str, aws_env: str) -> MediaArchive:
        return S3MediaArchive(bucket, region_name=REGION, endpoint_url=aws_env)

    @pytest.fixture
    def sqs(self, aws_env: str) -> Any:
        return boto3.client("sqs", region_name=REGION)

    @pytest.fixture
    def media_queue(self, stage: ResourceNames, sqs: Any) -> Iterator[QueueAndTake]:
        url = sqs.get_queue_url(QueueName=stage.media_queue)["QueueUrl"]

        def take() -> list[MediaJob]:
            return [media_job_from_body(message["Body"]) for message in _drain(sqs, url)]

        # By name: resolved lazily with the client boto3 builds from the environment.
        yield SqsMediaQueue(stage.media_queue, region_name=REGION), take
        _drain(sqs, url)

    def test_the_bucket_is_named_for_the_account_and_region(
        self, bucket: str, stage: ResourceNames
    ) -> None:
        assert bucket == stage.media_bucket("123456789012", REGION)  # moto's default account

    def test_objects_are_encrypted_at_rest(self, archive: MediaArchive, bucket: str) -> None:
        key = a_key()
        archive.put(key, JPEG, "image/jpeg")
        head = boto3.client("s3", region_name=REGION).head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentLength"] == len(JPEG)

    def test_the_bucket_encrypts_by_default(self, bucket: str) -> None:
        s3 = boto3.client("s3", region_name=REGION)
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    def test_the_queue_has_its_dead_letter_queue(self, stage: ResourceNames, sqs: Any) -> None:
        url = sqs.get_queue_url(QueueName=stage.media_queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["RedrivePolicy", "FifoQueue"]
        )["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(":" + stage.media_queue + "-dlq")
        assert "FifoQueue" not in attributes


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    taken: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    ):
        taken.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return taken


def test_a_job_body_round_trips() -> None:
    job = a_job(mime_type="audio/ogg; codecs=opus")
    assert media_job_from_body(media_job_body(job)) == job
    assert media_job_from_body(
        '{"message_id":"wamid.1","media_id":"2","resident_key":"wa:3"}'
    ) == MediaJob(message_id="wamid.1", media_id="2", resident_key="wa:3")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"message_id":"wamid.1","media_id":"2"}',
        '{"message_id":"","media_id":"2","resident_key":"wa:3"}',
        '{"message_id":"wamid.1","media_id":2,"resident_key":"wa:3"}',
        '{"message_id":"wamid.1","media_id":"2","resident_key":"wa:3","mime_type":7}',
    ],
)
def test_a_body_that_is_not_a_job_is_refused(body: str) -> None:
    with pytest.raises(MediaJobFormatError):
        media_job_from_body(body)
