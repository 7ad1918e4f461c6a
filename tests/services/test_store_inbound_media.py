"""store_inbound_media against the in-memory twins and the real Graph API simulator over HTTP
(GraphApiClient → simulator), with the simulator's clock in the test's hands to expire URLs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests

from chalicelib.adapters.memory_media import InMemoryMediaArchive
from chalicelib.adapters.memory_stores import InMemoryDatabase, InMemoryMessageStore
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.tickets import media_object_key
from chalicelib.services.ports import GraphApiError, MediaJob
from chalicelib.services.store_inbound_media import (
    MediaFetchError,
    MediaOutcome,
    gives_up,
    store_inbound_media,
)
from chalicelib.simulator.server import GraphApiSimulator
from chalicelib.whatsapp.errors import NO_ERROR_CODE
from chalicelib.whatsapp.graph_api_client import GraphApiClient

ACCESS_TOKEN = "media-test-token"
PHONE_NUMBER_ID = "106540352242922"
WA_ID = "351912345678"
RESIDENT_KEY = f"wa:{WA_ID}"
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 16 + b"\xff\xd9"
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40 + b"%%EOF\n"
URL_LIFETIME_SECONDS = 5 * 60


class FakeClock:
    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ObservedGraph(GraphApiClient):
    """The real client, counting its calls; `after_media_info` runs between asking for a URL
    and downloading it (where a slow Lambda would let it expire)."""

    def __init__(self, *, after_media_info=lambda: None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.after_media_info = after_media_info
        self.media_info_calls = 0
        self.downloads = 0

    def media_info(self, media_id: str) -> dict:
        self.media_info_calls += 1
        try:
            return super().media_info(media_id)
        finally:
            self.after_media_info()

    def download_media(self, url: str) -> tuple[bytes, str]:
        self.downloads += 1
        return super().download_media(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def simulator(clock: FakeClock) -> Iterator[GraphApiSimulator]:
    with GraphApiSimulator(
        port=0,
        access_token=ACCESS_TOKEN,
        app_secret="media-test-secret",
        phone_number_id=PHONE_NUMBER_ID,
        clock=clock,
    ) as running:
        yield running


def graph_for(simulator: GraphApiSimulator, **options) -> ObservedGraph:
    return ObservedGraph(
        base_url=simulator.graph_base_url(),
        access_token=options.pop("access_token", ACCESS_TOKEN),
        phone_number_id=PHONE_NUMBER_ID,
        **options,
    )


@pytest.fixture
def graph(simulator: GraphApiSimulator) -> ObservedGraph:
    return graph_for(simulator)


@pytest.fixture
def database() -> InMemoryDatabase:
    return InMemoryDatabase()


@pytest.fixture
def messages(database: InMemoryDatabase) -> InMemoryMessageStore:
    return InMemoryMessageStore(database)


@pytest.fixture
def archive() -> InMemoryMediaArchive:
    return InMemoryMediaArchive()


def resident_sends_photo(
    simulator: GraphApiSimulator, database: InMemoryDatabase, content: bytes = JPEG
) -> MediaJob:
    """The resident sends a photo; the inbound handler has stored it and queued its job."""
    wamid = simulator.resident_says(WA_ID, name="Maria", type="image", image_bytes=content)
    image = simulator.thread(WA_ID)[-1]["message"]["image"]
    return stored_inbound(database, wamid, image["id"], image["mime_type"], "image")


def stored_inbound(
    database: InMemoryDatabase, wamid: str, media_id: str, mime_type: str, kind: str
) -> MediaJob:
    database.messages[wamid] = StoredMessage(
        id=wamid,
        wamid=wamid,
        direction=Direction.INBOUND,
        resident_key=RESIDENT_KEY,
        conversation_id="conv-1",
        message_type=kind,
        body=None,
        media_id=media_id,
        created_at=NOW,
        status=DeliveryStatus.RECEIVED,
        status_at=NOW,
    )
    return MediaJob(
        message_id=wamid, media_id=media_id, resident_key=RESIDENT_KEY, mime_type=mime_type
    )


def upload(simulator: GraphApiSimulator, content: bytes, mime_type: str) -> str:
    """Media uploaded through the Graph API (any type the simulator accepts): its id."""
    response = requests.post(
        f"{simulator.graph_base_url()}/{PHONE_NUMBER_ID}/media",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        data={"messaging_product": "whatsapp", "type": mime_type},
        files={"file": ("upload", content, mime_type)},
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["id"]


def run(job: MediaJob, graph, archive, messages) -> MediaOutcome:
    return store_inbound_media(job, graph=graph, archive=archive, messages=messages)


def test_a_photo_is_kept_privately_and_the_message_says_where(
    simulator, database, graph, archive, messages
) -> None:
    job = resident_sends_photo(simulator, database)

    assert run(job, graph, archive, messages) is MediaOutcome.STORED

    key = media_object_key(RESIDENT_KEY, job.message_id)
    assert key == f"residents/{RESIDENT_KEY}/media/{job.message_id}"
    assert archive.get(key) == (JPEG, "image/jpeg")
    assert messages.get(job.message_id).media_key == key
    assert (graph.media_info_calls, graph.downloads) == (1, 1)


def test_a_document_keeps_its_type(simulator, database, graph, archive, messages) -> None:
    media_id = upload(simulator, PDF, "application/pdf")
    job = stored_inbound(database, "wamid.document-1", media_id, "", "document")

    assert run(job, graph, archive, messages) is MediaOutcome.STORED

    assert archive.get(media_object_key(RESIDENT_KEY, job.message_id)) == (PDF, "application/pdf")


def test_a_voice_note_keeps_its_codec(simulator, database, graph, archive, messages) -> None:
    voice = b"OggS\x00\x02" + bytes(range(200)) * 5
    media_id = upload(simulator, voice, "audio/ogg; codecs=opus")
    job = stored_inbound(database, "wamid.voice-1", media_id, "audio/ogg; codecs=opus", "audio")

    assert run(job, graph, archive, messages) is MediaOutcome.STORED

    assert archive.get(media_object_key(RESIDENT_KEY, job.message_id)) == (
        voice,
        "audio/ogg; codecs=opus",
    )


def test_running_a_job_twice_stores_once(simulator, database, graph, archive, messages) -> None:
    job = resident_sends_photo(simulator, database)
    assert run(job, graph, archive, messages) is MediaOutcome.STORED

    assert run(job, graph, archive, messages) is MediaOutcome.ALREADY_STORED

    assert archive.puts == 1
    assert (graph.media_info_calls, graph.downloads) == (1, 1)  # not even asked again


def test_a_url_that_expired_before_the_download_is_asked_for_again_once(
    simulator, clock, database, archive, messages
) -> None:
    job = resident_sends_photo(simulator, database)
    expiries = iter([URL_LIFETIME_SECONDS + 1])  # only the first URL is left to expire
    graph = graph_for(simulator, after_media_info=lambda: clock.advance(next(expiries, 0)))

    assert run(job, graph, archive, messages) is MediaOutcome.STORED

    assert (graph.media_info_calls, graph.downloads) == (2, 2)
    assert archive.get(media_object_key(RESIDENT_KEY, job.message_id)) == (JPEG, "image/jpeg")


def test_urls_that_keep_expiring_leave_the_job_to_sqs(
    simulator, clock, database, archive, messages
) -> None:
    job = resident_sends_photo(simulator, database)
    graph = graph_for(simulator, after_media_info=lambda: clock.advance(URL_LIFETIME_SECONDS))

    with pytest.raises(MediaFetchError):
        run(job, graph, archive, messages)

    assert (graph.media_info_calls, graph.downloads) == (2, 2)  # asked again once, no more
    assert archive.keys() == []
    assert messages.get(job.message_id).media_key is None

    clock.advance(-10 * URL_LIFETIME_SECONDS)  # the redelivery, on a healthier day
    graph.after_media_info = lambda: None
    assert run(job, graph, archive, messages) is MediaOutcome.STORED


def test_an_unknown_media_id_is_dropped(simulator, database, graph, archive, messages) -> None:
    job = stored_inbound(database, "wamid.unknown-1", "9999999999", "image/jpeg", "image")

    assert run(job, graph, archive, messages) is MediaOutcome.GONE

    assert archive.keys() == []
    assert messages.get(job.message_id).media_key is None


def test_media_deleted_at_meta_is_dropped(simulator, database, graph, archive, messages) -> None:
    job = resident_sends_photo(simulator, database)
    requests.delete(
        f"{simulator.graph_base_url()}/{job.media_id}",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    ).raise_for_status()

    assert run(job, graph, archive, messages) is MediaOutcome.GONE
    assert archive.keys() == []


def test_a_bad_token_is_retried_not_dropped(simulator, database, archive, messages) -> None:
    job = resident_sends_photo(simulator, database)
    graph = graph_for(simulator, access_token="expired-token")

    with pytest.raises(GraphApiError) as refused:
        run(job, graph, archive, messages)

    assert refused.value.code == 190
    assert archive.keys() == []


def test_an_unreachable_graph_api_is_retried(database, archive, messages) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    graph = GraphApiClient(
        base_url=f"http://127.0.0.1:{port}/v23.0",
        access_token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        timeout=(0.5, 0.5),
    )
    job = stored_inbound(database, "wamid.offline-1", "1001", "image/jpeg", "image")

    with pytest.raises(requests.ConnectionError):
        run(job, graph, archive, messages)

    assert archive.keys() == []


def test_a_corrupted_download_is_retried(simulator, database, archive, messages) -> None:
    class TruncatingGraph(ObservedGraph):
        def download_media(self, url: str) -> tuple[bytes, str]:
            content, content_type = super().download_media(url)
            return content[:-10], content_type

    job = resident_sends_photo(simulator, database)
    graph = TruncatingGraph(
        base_url=simulator.graph_base_url(),
        access_token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
    )

    with pytest.raises(MediaFetchError, match="sha256"):
        run(job, graph, archive, messages)

    assert archive.keys() == []


def test_media_of_a_message_we_do_not_have_is_not_fetched(
    simulator, database, graph, archive, messages
) -> None:
    job = resident_sends_photo(simulator, database)
    del database.messages[job.message_id]  # e.g. the resident was erased meanwhile

    assert run(job, graph, archive, messages) is MediaOutcome.UNKNOWN_MESSAGE

    assert graph.media_info_calls == 0
    assert archive.keys() == []


def test_media_of_a_message_erased_during_the_download_is_deleted_again(
    simulator, database, archive, messages
) -> None:
    job = resident_sends_photo(simulator, database)
    # The resident is erased while the file is on its way: their message is gone by the record.
    graph = graph_for(simulator, after_media_info=lambda: database.messages.pop(job.message_id))

    assert run(job, graph, archive, messages) is MediaOutcome.UNKNOWN_MESSAGE

    assert graph.downloads == 1
    assert archive.keys() == []  # written, then deleted: nothing of theirs comes back


def test_the_archive_key_uses_the_jobs_resident(simulator, database, graph, archive, messages):
    job = replace(resident_sends_photo(simulator, database), resident_key="bsuid:PT.9z8y7x")

    run(job, graph, archive, messages)

    assert archive.keys() == [f"residents/bsuid:PT.9z8y7x/media/{job.message_id}"]


@pytest.mark.parametrize(
    ("code", "http_status", "final"),
    [
        (100, 400, True),  # unknown or expired media id
        (131052, 400, True),  # media download error
        (131009, 400, True),  # parameter value is not valid
        (10, 403, True),  # permission denied
        (NO_ERROR_CODE, 404, True),
        (NO_ERROR_CODE, 400, True),
        (4, 400, False),  # app-level rate limit
        (80007, 400, False),
        (130429, 400, False),
        (131000, 500, False),  # something went wrong
        (2, 503, False),
        (NO_ERROR_CODE, 500, False),
        (NO_ERROR_CODE, 502, False),
        (NO_ERROR_CODE, 429, False),
        (NO_ERROR_CODE, 408, False),
        (190, 401, False),  # an expired token: fixed by an operator, then replayed
        (0, 401, False),
        (NO_ERROR_CODE, 401, False),
    ],
)
def test_which_refusals_are_final(code: int, http_status: int, final: bool) -> None:
    assert gives_up(GraphApiError(code, "refused", http_status=http_status)) is final
