from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.replies import TemplateReply, TextReply
from chalicelib.domain.residents import Resident
from chalicelib.domain.retry_policy import MAX_SEND_ATTEMPTS, exhausted, retry_delay_seconds
from chalicelib.domain.service_window import (
    REOPEN_TEMPLATE,
    fit_to_window,
    reopen_template_codes,
)
from chalicelib.settings import BUNDLED_CONFIG

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_inbound", "expected"),
    [
        (None, False),
        (NOW - timedelta(hours=23, minutes=59), True),
        (NOW - timedelta(hours=24), False),
        (NOW - timedelta(days=3), False),
    ],
)
def test_window_open(last_inbound: datetime | None, expected: bool) -> None:
    resident = Resident(key="wa:351910000000", last_inbound_at=last_inbound, created_at=NOW)
    assert resident.window_open(NOW) is expected


def test_inside_the_window_anything_goes() -> None:
    reply = TextReply(text="Olá")
    assert (
        fit_to_window(reply, is_open=True, language="pt", reopen_template_codes=None).reply is reply
    )


def test_templates_go_out_whatever_the_window() -> None:
    reply = TemplateReply(name="licence_renewal", language="pt")
    decision = fit_to_window(reply, is_open=False, language="pt", reopen_template_codes=None)
    assert decision.reply is reply and decision.note is None


def test_free_form_outside_the_window_becomes_the_reopen_template_in_the_residents_language() -> (
    None
):
    decision = fit_to_window(
        TextReply(text="Already fixed!"),
        is_open=False,
        language="ar",
        reopen_template_codes={"pt": "pt_PT", "ar": "ar"},
    )
    assert decision.reply == TemplateReply(name=REOPEN_TEMPLATE, language="ar")
    assert "re-open template" in decision.note


def test_the_reopen_template_falls_back_to_its_first_language() -> None:
    decision = fit_to_window(
        TextReply(text="x"),
        is_open=False,
        language="fr",
        reopen_template_codes={"pt": "pt_PT", "es": "es"},
    )
    assert decision.reply == TemplateReply(name=REOPEN_TEMPLATE, language="pt_PT")


def test_the_reopen_template_goes_under_the_code_meta_knows_the_language_by() -> None:
    decision = fit_to_window(
        TextReply(text="Já está resolvido!"),
        is_open=False,
        language="pt",
        reopen_template_codes={"pt": "pt_PT", "ar": "ar"},
    )
    assert decision.reply == TemplateReply(name=REOPEN_TEMPLATE, language="pt_PT")


def test_the_bundled_towns_reopen_template_is_sent_as_pt_pt_in_portuguese() -> None:
    town = load_municipality_file(BUNDLED_CONFIG)
    assert reopen_template_codes(town) == {"pt": "pt_PT", "es": "es", "en": "en", "ar": "ar"}


def test_without_a_reopen_template_nothing_is_sent_and_the_reason_says_why() -> None:
    decision = fit_to_window(
        TextReply(text="x"), is_open=False, language="pt", reopen_template_codes=None
    )
    assert decision.reply is None
    assert "24-hour window" in decision.note


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 1), (2, 4), (3, 16), (4, 64)])
def test_pair_rate_backs_off_four_to_the_x(attempt: int, seconds: int) -> None:
    assert retry_delay_seconds(131056, attempt, jitter=0.5) == seconds


def test_other_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    assert retry_delay_seconds(131000, 1, jitter=0.99) == 2
    assert retry_delay_seconds(131000, 3, jitter=0.99) == 8
    assert retry_delay_seconds(None, 20, jitter=0.99) == 297
    assert retry_delay_seconds(130429, 3, jitter=0.0) == 1


def test_attempts_run_out() -> None:
    assert not exhausted(MAX_SEND_ATTEMPTS - 1)
    assert exhausted(MAX_SEND_ATTEMPTS)
