"""A small `multipart/form-data` reader (the stdlib `cgi` module is deprecated)."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser


class FormError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", errors="replace")


def parse_multipart_form(content_type: str, body: bytes) -> dict[str, FormField]:
    """Fields of a multipart/form-data body by name (the last one wins on repeats)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise FormError("expected multipart/form-data")
    envelope = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    message = BytesParser(policy=policy.HTTP).parsebytes(envelope)
    if not message.is_multipart():
        raise FormError("malformed multipart body")
    fields: dict[str, FormField] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        filename = part.get_filename()
        fields[name] = FormField(
            name=name,
            value=payload if isinstance(payload, bytes) else b"",
            filename=filename,
            content_type=part.get_content_type() if "content-type" in part else None,
        )
    return fields
