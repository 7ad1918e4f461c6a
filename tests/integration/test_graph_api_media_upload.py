"""GraphApiClient.upload_media against the real Graph API simulator over HTTP: the multipart
upload Meta documents (POST /{phone_number_id}/media), and its refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.services.ports import GraphApiError
from chalicelib.simulator.server import GraphApiSimulator
from chalicelib.whatsapp.graph_api_client import GraphApiClient

ACCESS_TOKEN = "upload-test-token"
PHONE_NUMBER_ID = "106540352242922"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\r\n--not-a-boundary\r\n\xff\xd9"
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"


@pytest.fixture
def simulator() -> Iterator[GraphApiSimulator]:
    with GraphApiSimulator(
        port=0,
        access_token=ACCESS_TOKEN,
        app_secret="upload-test-secret",
        phone_number_id=PHONE_NUMBER_ID,
    ) as running:
        yield running


def client(simulator: GraphApiSimulator, token: str = ACCESS_TOKEN) -> GraphApiClient:
    return GraphApiClient(
        base_url=simulator.graph_base_url(), access_token=token, phone_number_id=PHONE_NUMBER_ID
    )


def test_an_uploaded_photo_comes_back_byte_for_byte(simulator) -> None:
    graph = client(simulator)

    media_id = graph.upload_media(JPEG, "image/jpeg", "foto.jpg")

    info = graph.media_info(media_id)
    assert info["id"] == media_id and info["mime_type"] == "image/jpeg"
    assert graph.download_media(info["url"]) == (JPEG, "image/jpeg")


def test_a_document_with_an_accented_name_uploads(simulator) -> None:
    graph = client(simulator)

    media_id = graph.upload_media(PDF, "application/pdf", "declaração de residência.pdf")

    content, mime_type = graph.download_media(graph.media_info(media_id)["url"])
    assert content == PDF and mime_type == "application/pdf"


def test_a_type_whatsapp_does_not_take_is_refused_with_metas_code(simulator) -> None:
    with pytest.raises(GraphApiError) as refused:
        client(simulator).upload_media(b"GIF89a" + b"\x00" * 64, "image/gif", "anim.gif")

    assert refused.value.code == 131053


def test_a_wrong_token_is_refused(simulator) -> None:
    with pytest.raises(GraphApiError) as refused:
        client(simulator, token="not-the-token").upload_media(JPEG, "image/jpeg", "foto.jpg")

    assert refused.value.http_status == 401
