"""Meta's 24-hour customer-service window, applied to what we are about to send.

Inside the window anything may be sent; outside it only an approved template. A free-form reply
that finds the window closed is replaced by the municipality's re-open template — an approved
template asking the resident to write back, which reopens the window — or, when the town has
none, refused with a reason the agent sees. It is never handed to Meta to fail quietly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.replies import Reply, TemplateReply

REOPEN_TEMPLATE = "reopen_conversation"


@dataclass(frozen=True, slots=True)
class WindowDecision:
    reply: Reply | None  # what to send; None when nothing may be sent
    note: str | None = None  # why it differs from what was asked


def fit_to_window(
    reply: Reply,
    *,
    is_open: bool,
    language: str,
    reopen_template_languages: Sequence[str] | None,
) -> WindowDecision:
    if is_open or isinstance(reply, TemplateReply):
        return WindowDecision(reply)
    if not reopen_template_languages:
        return WindowDecision(
            None,
            "outside the 24-hour window and no approved 're-open' template "
            f"({REOPEN_TEMPLATE}) is configured: not sent",
        )
    chosen = language if language in reopen_template_languages else reopen_template_languages[0]
    return WindowDecision(
        TemplateReply(name=REOPEN_TEMPLATE, language=chosen),
        "outside the 24-hour window: the re-open template was sent instead",
    )
