"""`civicchat deploy` refuses to start, with one clear line and exit code 2, and without
changing anything, when the AWS credentials are missing or rejected, the region is unknown, a
WhatsApp secret is missing, the configuration is invalid, the first deploy has no admin, or Meta
refuses the token. Run as the operator runs it: the installed CLI in a subprocess, against
moto's server (moto's own state, `/moto-api/data.json`, shows that nothing was made)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from chalicelib.resource_names import ResourceNames
from chalicelib.simulator.server import GraphApiSimulator
from infra.artifacts import artifacts_bucket_name
from infra.deploy_preflight import (
    PreflightError,
    check_bucket_names,
    check_whatsapp_number,
    concurrency_advice,
    whatsapp_secrets,
)
from tests.infra.deploy_helpers import operator_shell, running_simulator

CIVICCHAT = Path(sys.executable).parent / "civicchat"
REGION = "eu-west-1"
TOKENS = {
    "WHATSAPP_ACCESS_TOKEN": "EAAG-test-token",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
}
# Credentials moto's default server takes (it checks no signature).
SIGNED_IN = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
# moto's bookkeeping, not something the deploy made: an IAM account summary for each STS call
# it answers, and the three canned S3 grantees its S3 module makes when first loaded.
_MOTO_BOOKKEEPING = {("iam", "AccountSummary"), ("s3", "FakeGrantee")}


@pytest.fixture(scope="module")
def aws_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Empty AWS config and credentials files, so the developer's own never count."""
    folder = tmp_path_factory.mktemp("aws")
    (folder / "config").write_text("")
    (folder / "credentials").write_text("")
    return folder


def _moto_process(**env: str) -> Iterator[str]:
    """A moto server in a process of its own: its state holds only what this module's deploys
    did (moto servers in one process share one state), and moto reads
    INITIAL_NO_AUTH_ACTION_COUNT once, when it is imported."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _moto_state(endpoint)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    yield from _moto_process()


@pytest.fixture(scope="module")
def iam_checking_moto() -> Iterator[str]:
    """Checks every request's signature against its IAM users, of which it has none."""
    yield from _moto_process(INITIAL_NO_AUTH_ACTION_COUNT="0")


@pytest.fixture(scope="module")
def simulator() -> Iterator[GraphApiSimulator]:
    yield from running_simulator(TOKENS)


def _moto_state(endpoint: str) -> dict[tuple[str, str], Any]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5) as response:  # noqa: S310 - our own local server
        data = json.load(response)
    # Services appear in it, empty, once anything asked for them: only instances count.
    return {
        (service, model): instances
        for service, models in data.items()
        for model, instances in models.items()
        if instances and (service, model) not in _MOTO_BOOKKEEPING
    }


def _environment(aws_files: Path, endpoint: str, **extra: str) -> dict[str, str]:
    return operator_shell(aws_files / "config", aws_files / "credentials", endpoint, **extra)


def _deploy(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CIVICCHAT), "deploy", "--stage", "preflight", *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,  # not a terminal: nobody to ask
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_rejected_credentials_fail_fast_and_change_nothing(
    iam_checking_moto: str, aws_files: Path, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[town]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    env = _environment(
        aws_files,
        iam_checking_moto,
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_REGION=REGION,
        **TOKENS,
    )
    before = _moto_state(iam_checking_moto)
    line = _refused(_deploy(env, "--profile", "town", "--admin-email", "it@town.example"))
    assert line == (
        "civicchat deploy: AWS rejected the credentials of profile town: The security token "
        "included in the request is invalid. (InvalidClientTokenId), or the region "
        f"{REGION} is not enabled for this account (AWS console > Account > AWS Regions)"
    )
    assert _moto_state(iam_checking_moto) == before


def test_rejected_credentials_from_the_environment_say_so(
    iam_checking_moto: str, aws_files: Path
) -> None:
    env = _environment(
        aws_files,
        iam_checking_moto,
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-the-secret",
        AWS_REGION=REGION,
        **TOKENS,
    )
    line = _refused(_deploy(env, "--admin-email", "it@town.example"))
    assert line.startswith(
        "civicchat deploy: AWS rejected the credentials in the environment (AWS_ACCESS_KEY_ID): "
    )


def test_missing_credentials_fail_fast(moto_endpoint: str, aws_files: Path) -> None:
    env = _environment(aws_files, moto_endpoint, AWS_REGION=REGION, **TOKENS)
    before = _moto_state(moto_endpoint)
    line = _refused(_deploy(env, "--admin-email", "it@town.example"))
    assert line == (
        "civicchat deploy: no AWS credentials found: run `aws configure` (or `aws sso login`), "
        "set AWS_PROFILE, or give --profile"
    )
    assert _moto_state(moto_endpoint) == before


def test_an_unknown_profile_is_named(moto_endpoint: str, aws_files: Path) -> None:
    env = _environment(aws_files, moto_endpoint, AWS_REGION=REGION, **TOKENS)
    line = _refused(_deploy(env, "--profile", "townhall"))
    assert "there is no AWS profile 'townhall'" in line


def test_a_missing_region_fails_fast(moto_endpoint: str, aws_files: Path) -> None:
    env = _environment(aws_files, moto_endpoint, **SIGNED_IN, **TOKENS)
    line = _refused(_deploy(env, "--admin-email", "it@town.example"))
    assert line.startswith("civicchat deploy: no AWS region: give --region, set AWS_REGION")


def test_missing_whatsapp_secrets_fail_before_any_change(
    moto_endpoint: str, aws_files: Path
) -> None:
    env = _environment(
        aws_files,
        moto_endpoint,
        **SIGNED_IN,
        AWS_REGION=REGION,
        WHATSAPP_APP_SECRET="app-secret",
    )
    before = _moto_state(moto_endpoint)
    line = _refused(_deploy(env, "--admin-email", "it@town.example"))
    assert line.startswith(
        "civicchat deploy: missing the WhatsApp access token and the WhatsApp phone number id: "
        "give --access-token (or WHATSAPP_ACCESS_TOKEN) and --phone-number-id (or "
        "WHATSAPP_PHONE_NUMBER_ID), or run this in a terminal to be asked"
    )
    assert _moto_state(moto_endpoint) == before


def test_an_invalid_configuration_fails_fast(
    moto_endpoint: str, aws_files: Path, tmp_path: Path
) -> None:
    config = tmp_path / "town.yaml"
    config.write_text("municipality: {}\n")
    env = _environment(aws_files, moto_endpoint, AWS_REGION=REGION, **TOKENS)
    line = _refused(_deploy(env, "--config", str(config)))
    assert line.startswith(f"civicchat deploy: the municipality config {config} is not valid: ")
    assert line.endswith(f"`civicchat config validate {config}` lists every problem")


LONGEST_STAGE = "a" * 20  # what the stage's pattern allows
LONG_REGION = "ap-southeast-4"  # 14 characters, the longest region names there are


def test_a_stage_too_long_for_the_regions_bucket_names_is_refused() -> None:
    names = ResourceNames(LONGEST_STAGE)
    account = "123456789012"
    assert len(names.media_bucket(account, LONG_REGION)) == 64
    assert len(artifacts_bucket_name(names, account, LONG_REGION)) == 65
    with pytest.raises(PreflightError) as refused:
        check_bucket_names(names, account, LONG_REGION)
    assert str(refused.value) == (
        f"stage {LONGEST_STAGE!r} is too long for {LONG_REGION}: the artifacts bucket's name "
        f"{artifacts_bucket_name(names, account, LONG_REGION)} would have 65 characters, and S3 "
        "allows at most 63; choose a stage of at most 18 characters"
    )
    check_bucket_names(ResourceNames("a" * 18), account, LONG_REGION)  # just fits
    check_bucket_names(names, account, "us-east-1")


def test_a_long_stage_is_refused_before_any_change(moto_endpoint: str, aws_files: Path) -> None:
    env = _environment(
        aws_files,
        moto_endpoint,
        **SIGNED_IN,
        AWS_REGION=LONG_REGION,
        **TOKENS,
    )
    before = _moto_state(moto_endpoint)
    line = _refused(_deploy(env, "--stage", LONGEST_STAGE, "--admin-email", "it@town.example"))
    assert line.startswith(f"civicchat deploy: stage {LONGEST_STAGE!r} is too long for ")
    assert _moto_state(moto_endpoint) == before


def test_the_first_deploy_needs_an_admin(moto_endpoint: str, aws_files: Path) -> None:
    env = _environment(
        aws_files,
        moto_endpoint,
        **SIGNED_IN,
        AWS_REGION=REGION,
        **TOKENS,
    )
    line = _refused(_deploy(env, "--skip-meta-check"))
    assert line.startswith("civicchat deploy: the first deployment needs --admin-email")


def test_a_token_meta_refuses_fails_fast(
    moto_endpoint: str, aws_files: Path, simulator: GraphApiSimulator
) -> None:
    env = _environment(
        aws_files,
        moto_endpoint,
        **SIGNED_IN,
        AWS_REGION=REGION,
        **{**TOKENS, "WHATSAPP_ACCESS_TOKEN": "EAAG-expired"},
        WHATSAPP_API_URL=simulator.graph_base_url(),
    )
    before = _moto_state(moto_endpoint)
    line = _refused(_deploy(env, "--admin-email", "it@town.example"))
    assert line.startswith("civicchat deploy: Meta refused the WhatsApp access token: ")
    assert "(code 190)" in line
    assert _moto_state(moto_endpoint) == before


def test_the_meta_check_names_the_number_or_an_unknown_id(simulator: GraphApiSimulator) -> None:
    base = simulator.graph_base_url()
    token, number_id = TOKENS["WHATSAPP_ACCESS_TOKEN"], TOKENS["WHATSAPP_PHONE_NUMBER_ID"]
    assert check_whatsapp_number(base, number_id, token) == "15550001234 (CivicChat Simulator)"
    with pytest.raises(PreflightError, match="Meta knows no phone number 999"):
        check_whatsapp_number(base, "999", token)
    with pytest.raises(PreflightError, match="cannot reach the Graph API"):
        check_whatsapp_number("http://127.0.0.1:9/v23.0", number_id, token, timeout=2)


def test_secrets_come_from_flags_then_environment_then_storage_then_the_terminal() -> None:
    asked: list[str] = []

    def ask(prompt: str, hidden: bool) -> str:
        asked.append(f"{prompt}{'(hidden)' if hidden else ''}")
        return "typed-secret"

    secrets = whatsapp_secrets(
        {"whatsapp_access_token": "flag-token", "whatsapp_app_secret": None},
        {"WHATSAPP_ACCESS_TOKEN": "env-token", "WHATSAPP_PHONE_NUMBER_ID": "env-id"},
        {
            "whatsapp_phone_number_id": "stored-id",
            "whatsapp_verify_token": "stored-verify",
            "pseudonym_key": "stored-pseudonym-key",
        },
        ask,
    )
    assert secrets.values == {
        "whatsapp_access_token": "flag-token",
        "whatsapp_phone_number_id": "env-id",
        "whatsapp_verify_token": "stored-verify",
        "whatsapp_app_secret": "typed-secret",
        "pseudonym_key": "stored-pseudonym-key",
    }
    assert asked == ["Meta app secret (not shown): (hidden)"]
    assert secrets.sources["whatsapp_app_secret"] == "typed"


def test_a_verify_token_is_made_up_only_when_none_exists() -> None:
    given = {
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_APP_SECRET": "s",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
    }
    first = whatsapp_secrets({}, given, {}, None)
    second = whatsapp_secrets({}, given, {}, None)
    assert first.sources["whatsapp_verify_token"] == "new"
    assert len(first.values["whatsapp_verify_token"]) >= 32
    assert first.values["whatsapp_verify_token"] != second.values["whatsapp_verify_token"]


def test_a_pseudonym_key_is_made_up_once_and_then_kept() -> None:
    given = {
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_APP_SECRET": "s",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
    }
    first = whatsapp_secrets({}, given, {}, None)
    assert first.sources["pseudonym_key"] == "new"
    assert len(first.values["pseudonym_key"]) >= 40
    second = whatsapp_secrets({}, given, {}, None)
    assert second.values["pseudonym_key"] != first.values["pseudonym_key"]
    # The stored key stays, even over the environment: a new one would cut every resident of
    # the audit log off their history.
    stored = {"pseudonym_key": first.values["pseudonym_key"]}
    environ = {**given, "CIVICCHAT_PSEUDONYM_KEY": "from-env"}
    kept = whatsapp_secrets({}, environ, stored, None)
    assert (kept.values["pseudonym_key"], kept.sources["pseudonym_key"]) == (
        first.values["pseudonym_key"],
        "stored",
    )
    brought = whatsapp_secrets({}, environ, {}, None)
    assert (brought.values["pseudonym_key"], brought.sources["pseudonym_key"]) == (
        "from-env",
        "environment",
    )


def test_a_low_lambda_concurrency_quota_is_explained() -> None:
    advice = concurrency_advice(10, "eu-west-1")
    assert advice is not None
    assert "only 10 Lambda functions at once in eu-west-1" in advice
    assert "--quota-code L-B99A9384 --desired-value 1000 --region eu-west-1" in advice


def test_an_established_account_or_an_unknown_quota_gets_no_advice() -> None:
    assert concurrency_advice(1000, "eu-west-1") is None
    assert concurrency_advice(None, "eu-west-1") is None
