"""Residents' media in the stage's private S3 bucket (encrypted at rest, never public).

The boto3 client is created on first use (boto3 is imported only then: it is the bulk of a cold
start), unless one is injected.
"""

from __future__ import annotations

import threading
from typing import Any

# The bucket encrypts by default too; asking on every put means an object is never stored in
# clear, even in a bucket whose default encryption was changed by hand.
SERVER_SIDE_ENCRYPTION = "AES256"
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3MediaArchive:
    """Implements `MediaArchive`: one object per key, its Content-Type the media's MIME type.

    `endpoint_url`: an S3 emulator's (the local stack, tests: settings.s3_endpoint_url); None
    is AWS's regional endpoint, addressed by virtual host (`<bucket>.s3.<region>.amazonaws.com`).
    boto3's default would presign links for the global `<bucket>.s3.amazonaws.com`, which
    regions opened since March 2019 refuse and which others answer, for a new bucket, with a
    redirect the signature does not survive."""

    def __init__(
        self,
        bucket: str,
        s3_client: Any | None = None,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self._bucket = bucket
        self._client = s3_client
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3MediaArchive({self._bucket!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # deferred: only paid by the media worker and the console
                    from botocore.config import Config

                    region = self._region_name or boto3.session.Session().region_name
                    endpoint, s3_options = self._endpoint_url, {}
                    if endpoint is None:  # AWS: the regional host (see the class docstring)
                        endpoint = f"https://s3.{region}.amazonaws.com"
                        s3_options = {"addressing_style": "virtual"}
                    # Signature V4: presigned links (url()) are refused otherwise in most
                    # regions, and they are the only ones that carry their own expiry.
                    self._client = boto3.client(
                        "s3",
                        region_name=region,
                        endpoint_url=endpoint,
                        config=Config(signature_version="s3v4", s3=s3_options),
                    )
        return self._client

    def put(self, key: str, content: bytes, mime_type: str) -> None:
        self.client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=content,
            ContentType=mime_type or "application/octet-stream",
            ServerSideEncryption=SERVER_SIDE_ENCRYPTION,
        )

    def delete(self, key: str) -> None:
        """DeleteObject: no error when nothing is kept under `key` (S3 answers 204)."""
        self.client.delete_object(Bucket=self._bucket, Key=key)

    def get(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
                return None
            raise
        with response["Body"] as body:
            content = body.read()
        return content, response.get("ContentType") or "application/octet-stream"

    def url(self, key: str, *, expires_seconds: int = 300, download: bool = False) -> str:
        """A presigned GET, signed locally (no request): whoever holds it may fetch the object
        until it expires, so keep it short-lived and hand it only to who may see the media.

        `download`: S3 answers with `Content-Disposition: attachment`, so the browser saves the
        file instead of opening it (a resident's HTML or SVG must never run as a page)."""
        params = {"Bucket": self._bucket, "Key": key}
        if download:
            params["ResponseContentDisposition"] = "attachment"
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_seconds
        )
