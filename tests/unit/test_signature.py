"""X-Hub-Signature-256 check over raw bytes, and the GET verification handshake."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from chalicelib.whatsapp.signature import (
    SignatureCheck,
    answer_challenge,
    sign,
    verify_signature,
)
from tests.webhook_fixtures import load_webhook_bytes

SECRET = "app-secret-0123456789"
BODY = load_webhook_bytes("message_text")


def test_sign_is_sha256_hmac_of_the_raw_bytes_as_lowercase_hex() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()

    assert sign(BODY, SECRET) == f"sha256={expected}"


def test_meta_signature_is_valid() -> None:
    assert verify_signature(BODY, sign(BODY, SECRET), SECRET) is SignatureCheck.VALID


def test_non_ascii_body_signed_over_its_exact_bytes() -> None:
    body = '{"text":{"body":"Hay un bache en la calle Mayor, ¿lo arreglan? 👍"}}'.encode()

    assert verify_signature(body, sign(body, SECRET), SECRET) is SignatureCheck.VALID


def test_reserialised_json_does_not_match_the_signature_of_the_original_bytes() -> None:
    original = b'{"body": "caf\\u00e9 \\/ ok"}'
    reserialised = json.dumps(json.loads(original), ensure_ascii=False).encode()

    assert verify_signature(reserialised, sign(original, SECRET), SECRET) is SignatureCheck.INVALID


@pytest.mark.parametrize("header", [None, "", "   "])
def test_absent_header_is_missing(header: str | None) -> None:
    assert verify_signature(BODY, header, SECRET) is SignatureCheck.MISSING


def test_header_is_read_liberally_for_case_and_surrounding_spaces() -> None:
    digest = sign(BODY, SECRET).removeprefix("sha256=")

    assert verify_signature(BODY, f"  SHA256={digest.upper()} ", SECRET) is SignatureCheck.VALID


@pytest.mark.parametrize(
    "header",
    [
        "sha256=",
        "sha256=nothex",
        "sha1=" + "a" * 40,
        "a" * 64,  # no prefix
        "sha256=" + "a" * 63,
        "sha256=" + "a" * 65,
        "sha256=" + "é" * 64,  # non-ASCII must not reach compare_digest as str
        "sha256=" + "0" * 64,  # well-formed, wrong
        "sha256 =" + "a" * 64,
    ],
)
def test_malformed_or_wrong_header_is_invalid(header: str) -> None:
    assert verify_signature(BODY, header, SECRET) is SignatureCheck.INVALID


def test_signature_made_with_another_secret_is_invalid() -> None:
    assert verify_signature(BODY, sign(BODY, "other"), SECRET) is SignatureCheck.INVALID


def test_one_changed_byte_is_invalid() -> None:
    header = sign(BODY, SECRET)
    tampered = BODY.replace(b"another color", b"another colour")

    assert verify_signature(tampered, header, SECRET) is SignatureCheck.INVALID


def test_an_empty_secret_is_a_configuration_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="app_secret"):
        verify_signature(BODY, sign(BODY, "x"), "")
    with pytest.raises(ValueError, match="app_secret"):
        sign(BODY, "")


# --- GET handshake ------------------------------------------------------------------------------

TOKEN = "meatyhamhock"


def handshake(**overrides: str) -> dict[str, str]:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": TOKEN}
    return {key: value for key, value in (params | overrides).items() if value != "<absent>"}


def test_matching_token_returns_the_challenge_unchanged() -> None:
    assert answer_challenge(handshake(), TOKEN) == "1158201444"


@pytest.mark.parametrize("challenge", ["0012", "abc-DEF_ghi", "Ünïcödé", " 42 "])
def test_challenge_is_echoed_byte_for_byte(challenge: str) -> None:
    assert answer_challenge(handshake(**{"hub.challenge": challenge}), TOKEN) == challenge


@pytest.mark.parametrize(
    "params",
    [
        handshake(**{"hub.verify_token": "wrong"}),
        handshake(**{"hub.verify_token": TOKEN + " "}),
        handshake(**{"hub.verify_token": "<absent>"}),
        handshake(**{"hub.verify_token": "tökén"}),
        handshake(**{"hub.mode": "unsubscribe"}),
        handshake(**{"hub.mode": "<absent>"}),
        handshake(**{"hub.challenge": "<absent>"}),
        handshake(**{"hub.challenge": ""}),
        # PHP-style names are not what Meta sends us.
        {"hub_mode": "subscribe", "hub_challenge": "1", "hub_verify_token": TOKEN},
        {},
    ],
)
def test_anything_else_gets_no_answer(params: dict[str, str]) -> None:
    assert answer_challenge(params, TOKEN) is None


def test_no_query_string_at_all_gets_no_answer() -> None:
    # Chalice gives None for `query_params` when there is no query string.
    assert answer_challenge(None, TOKEN) is None


def test_an_unset_verify_token_never_matches_an_empty_one() -> None:
    assert answer_challenge(handshake(**{"hub.verify_token": ""}), "") is None
