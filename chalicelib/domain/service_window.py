"""Meta's 24-hour customer-service window, applied to what we are about to send.

Inside the window anything may be sent; outside it only an approved template. A free-form reply
that finds the window closed is replaced by the municipality's re-open template — an approved
template asking the resident to write back, which reopens the window — or, when the town has
none, refused with a reason the agent sees. It is never handed to Meta to fail quietly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.replies import Reply, TemplateReply

REOPEN_TEMPLATE = "reopen_conversation"


@dataclass(frozen=True, slots=True)
class WindowDecision:
    reply: Reply | None  # what to send; None when nothing may be sent
    note: str | None = None  # why it differs from what was asked


def reopen_template_codes(definition: MunicipalityDefinition) -> Mapping[str, str] | None:
    """The re-open template's languages with the code Meta knows each by, for fit_to_window;
    None when the town has no such template."""
    template = definition.templates.get(REOPEN_TEMPLATE)
    if template is None:
        return None
    return {
        language: definition.template_language_code(language) for language in template.languages
    }


def fit_to_window(
    reply: Reply,
    *,
    is_open: bool,
    language: str,
    reopen_template_codes: Mapping[str, str] | None,
) -> WindowDecision:
    """What may be sent of `reply`. `reopen_template_codes` are the languages the re-open
    template is approved in, in the config's order, each with the code Meta knows it by
    (`{"pt": "pt_PT", "en": "en"}`): the resident's `language` if there, else the first."""
    if is_open or isinstance(reply, TemplateReply):
        return WindowDecision(reply)
    if not reopen_template_codes:
        return WindowDecision(
            None,
            "outside the 24-hour window and no approved 're-open' template "
            f"({REOPEN_TEMPLATE}) is configured: not sent",
        )
    chosen = language if language in reopen_template_codes else next(iter(reopen_template_codes))
    return WindowDecision(
        TemplateReply(name=REOPEN_TEMPLATE, language=reopen_template_codes[chosen]),
        "outside the 24-hour window: the re-open template was sent instead",
    )
