"""Presigned media links name the bucket's own regional host: the global
`<bucket>.s3.amazonaws.com` is refused by regions opened since March 2019 and redirected (which
breaks the signature) for new buckets elsewhere. Presigning is local: no network here."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from chalicelib.adapters.s3_media_archive import S3MediaArchive
from chalicelib.settings import settings_from

BUCKET = "civicchat-prod-media-123456789012-eu-south-2"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no endpoint of any emulator, from the environment or a file."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


@pytest.mark.parametrize("region", ["eu-south-2", "eu-west-1", "us-east-1"])
def test_a_link_names_the_buckets_regional_host(aws_credentials: None, region: str) -> None:
    archive = S3MediaArchive(BUCKET, region_name=region)
    link = urlparse(archive.url("residents/wa:1/media/photo", download=True))
    assert link.scheme == "https"
    assert link.hostname == f"{BUCKET}.s3.{region}.amazonaws.com"
    assert link.path == "/residents/wa%3A1/media/photo"
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link.query
    assert f"%2F{region}%2Fs3%2Faws4_request" in link.query  # signed for the bucket's region


def test_an_emulators_endpoint_is_used_as_given(aws_credentials: None) -> None:
    archive = S3MediaArchive(BUCKET, region_name="eu-west-1", endpoint_url="http://127.0.0.1:5000")
    assert archive.url("k").startswith(f"http://127.0.0.1:5000/{BUCKET}/k?")


def test_settings_name_an_s3_emulator_only_when_one_is_configured() -> None:
    secrets = {
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_APP_SECRET": "s",
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
    }
    assert settings_from(secrets).s3_endpoint_url is None
    local = {**secrets, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    assert settings_from(local).s3_endpoint_url == "http://127.0.0.1:5000"
    own = {**local, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}
    assert settings_from(own).s3_endpoint_url == "http://127.0.0.1:9000"
