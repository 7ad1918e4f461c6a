"""A resident's files in the media bucket, listed and deleted by their key prefix
(`residents/<resident key>/`, see domain.tickets.media_object_key), for data export and erasure.

The bucket is not versioned (infra/data_resources.py): deleting an object removes it, with no
older version left behind. Requests: one ListObjectsV2 per 1,000 files, one DeleteObject per file
(a resident has a handful; DeleteObjects would need its Content-MD5 and gains nothing here).
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.adapters.s3_media_archive import S3MediaArchive
from chalicelib.services.resident_data import MediaObject


def resident_media_prefix(resident_key: str) -> str:
    """Every file of the resident, and only theirs: the slash keeps wa:35191 from matching
    wa:351912345678's files."""
    return f"residents/{resident_key}/"


class S3ResidentMedia(S3MediaArchive):
    """The media archive, plus listing and deleting a resident's files."""

    def list_for(self, resident_key: str) -> list[MediaObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        found: list[MediaObject] = []
        for page in paginator.paginate(
            Bucket=self._bucket, Prefix=resident_media_prefix(resident_key)
        ):
            found += [
                MediaObject(key=item["Key"], size=int(item.get("Size", 0)))
                for item in page.get("Contents", [])
            ]
        return found

    def delete_many(self, keys: Sequence[str]) -> None:
        """S3 answers 204 for a key that is gone already: deleting twice is no error."""
        for key in keys:
            self.delete(key)
