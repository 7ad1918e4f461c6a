"""The Cloud API error table: every code of the facts sheet §6.3 lands in the right class."""

from __future__ import annotations

import pytest

from chalicelib.whatsapp.errors import (
    NO_ERROR_CODE,
    ErrorClass,
    classify,
    describe,
    error_title,
    pair_rate_backoff_seconds,
)

# The facts sheet's retry summary, code by code.
EXPECTED_CLASS: dict[ErrorClass, tuple[int, ...]] = {
    ErrorClass.RETRY_LATER: (2, 131000, 131016, 131057),
    ErrorClass.THROTTLED: (4, 80007, 130429, 131056, 133016),
    ErrorClass.RECIPIENT: (131021, 131026, 131047, 131049, 131050, 130472, 130403, 131052),
    ErrorClass.CONFIGURATION: (
        0,
        1,
        3,
        10,
        33,
        100,
        190,
        200,
        250,
        299,
        131005,
        131008,
        131009,
        131037,
        131045,
        131051,
        131053,
        131063,
        132000,
        132001,
        132005,
        132007,
        132012,
        132015,
        132016,
        132068,
        132069,
        133000,
        133010,
        133015,
        135000,
    ),
    ErrorClass.ACCOUNT: (368, 130497, 131031, 131042, 131048, 131064),
}


@pytest.mark.parametrize(
    ("code", "error_class"),
    [(code, error_class) for error_class, codes in EXPECTED_CLASS.items() for code in codes],
)
def test_code_is_classified_as_the_facts_sheet_says(code: int, error_class: ErrorClass) -> None:
    assert classify(code) is error_class


@pytest.mark.parametrize("code", [c for codes in EXPECTED_CLASS.values() for c in codes])
def test_every_known_code_has_a_title(code: int) -> None:
    assert error_title(code) != "Unknown error"


def test_the_same_information_comes_from_describe() -> None:
    info = describe(131047)

    assert info.error_class is ErrorClass.RECIPIENT
    assert "24 hours" in info.title


@pytest.mark.parametrize("code", [5, 199, 300, 131999, 133017, 999999, NO_ERROR_CODE])
def test_unknown_codes_are_configuration_so_nothing_retries_blindly(code: int) -> None:
    assert classify(code) is ErrorClass.CONFIGURATION
    assert error_title(code) == "Unknown error"


@pytest.mark.parametrize(
    ("http_status", "error_class"),
    [
        (500, ErrorClass.RETRY_LATER),
        (502, ErrorClass.RETRY_LATER),
        (503, ErrorClass.RETRY_LATER),
        (504, ErrorClass.RETRY_LATER),
        (408, ErrorClass.RETRY_LATER),
        (429, ErrorClass.THROTTLED),
        (400, ErrorClass.CONFIGURATION),
        (401, ErrorClass.CONFIGURATION),
        (404, ErrorClass.CONFIGURATION),
        (200, ErrorClass.CONFIGURATION),
    ],
)
def test_http_status_decides_only_when_there_was_no_meta_code(
    http_status: int, error_class: ErrorClass
) -> None:
    assert classify(NO_ERROR_CODE, http_status=http_status) is error_class


def test_a_known_code_wins_over_the_http_status() -> None:
    # Meta: branch on the code, never on the HTTP status (BSPs report 400 for 130429).
    assert classify(130429, http_status=400) is ErrorClass.THROTTLED
    assert classify(131047, http_status=500) is ErrorClass.RECIPIENT
    assert classify(131000, http_status=400) is ErrorClass.RETRY_LATER


@pytest.mark.parametrize(
    ("error_class", "should_retry"),
    [
        (ErrorClass.RETRY_LATER, True),
        (ErrorClass.THROTTLED, True),
        (ErrorClass.RECIPIENT, False),
        (ErrorClass.CONFIGURATION, False),
        (ErrorClass.ACCOUNT, False),
    ],
)
def test_only_transient_classes_are_retried(error_class: ErrorClass, should_retry: bool) -> None:
    assert error_class.should_retry is should_retry


@pytest.mark.parametrize(("attempt", "seconds"), [(0, 1), (1, 4), (2, 16), (3, 64), (5, 1024)])
def test_pair_rate_backoff_is_four_to_the_attempt(attempt: int, seconds: int) -> None:
    assert pair_rate_backoff_seconds(attempt) == seconds


def test_pair_rate_backoff_rejects_a_negative_attempt() -> None:
    with pytest.raises(ValueError, match="attempt"):
        pair_rate_backoff_seconds(-1)
