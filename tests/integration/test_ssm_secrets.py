"""The stage's secrets in SSM Parameter Store (moto's server): written once per change, read in
one paginated GetParametersByPath, decrypted; the fingerprint deployed as `SecretsVersion`
moves only when a secret does; and a Lambda-like process finds them through the settings."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from chalicelib.adapters.ssm_secrets import (
    SecretsUnavailableError,
    delete_secrets,
    read_parameters,
    read_secrets,
    secrets_version,
    write_secrets,
)
from chalicelib.resource_names import SECRET_PARAMETERS, ResourceNames
from chalicelib.settings import SECRETS_PATH_VARIABLE, settings_from

VALUES = {
    "whatsapp_access_token": "EAAG-token",
    "whatsapp_app_secret": "app-secret",
    "whatsapp_verify_token": "verify-me",
    "whatsapp_phone_number_id": "100000000000001",
    "pseudonym_key": "pseudonym-key-0123456789",
}


@pytest.fixture
def ssm(aws_env: str) -> object:
    return boto3.client("ssm", region_name="eu-west-1")


def _path(stage: str) -> str:
    return ResourceNames(stage).secrets_path


def test_secrets_are_stored_encrypted_and_read_back(ssm: object) -> None:
    path = _path("ssm-roundtrip")
    write_secrets(path, VALUES, client=ssm)
    assert read_secrets(path, client=ssm) == VALUES
    described = {
        p["Name"]: p["Type"]
        for p in ssm.get_parameters_by_path(Path=path, Recursive=True)["Parameters"]  # type: ignore[attr-defined]
    }
    assert described == {
        f"{path}whatsapp/access-token": "SecureString",
        f"{path}whatsapp/app-secret": "SecureString",
        f"{path}whatsapp/verify-token": "SecureString",
        f"{path}whatsapp/phone-number-id": "String",
        f"{path}privacy/pseudonym-key": "SecureString",
    }


def test_the_version_moves_only_when_a_secret_changes(ssm: object) -> None:
    path = _path("ssm-version")
    first = secrets_version(write_secrets(path, VALUES, client=ssm))
    again = secrets_version(write_secrets(path, VALUES, client=ssm))
    rotated = secrets_version(
        write_secrets(path, {**VALUES, "whatsapp_access_token": "EAAG-new"}, client=ssm)
    )
    assert first == again
    assert rotated != first
    assert read_parameters(path, client=ssm)["whatsapp/access-token"].version == 2


def test_reading_pages_through_more_than_ten_parameters(ssm: object) -> None:
    path = _path("ssm-pages")
    for number in range(23):
        ssm.put_parameter(Name=f"{path}extra/{number}", Value=str(number), Type="String")  # type: ignore[attr-defined]
    write_secrets(path, VALUES, client=ssm)
    assert len(read_parameters(path, client=ssm)) == 23 + len(SECRET_PARAMETERS)
    assert read_secrets(path, client=ssm) == VALUES


def test_deleting_removes_every_parameter_under_the_path(ssm: object) -> None:
    path = _path("ssm-delete")
    other = _path("ssm-delete-other")
    write_secrets(path, VALUES, client=ssm)
    write_secrets(other, VALUES, client=ssm)
    assert len(delete_secrets(path, client=ssm)) == len(SECRET_PARAMETERS)
    assert read_parameters(path, client=ssm) == {}
    assert read_secrets(other, client=ssm) == VALUES


def test_the_settings_of_a_deployed_function_come_from_ssm(ssm: object) -> None:
    path = _path("ssm-settings")
    write_secrets(path, VALUES, client=ssm)
    settings = settings_from({SECRETS_PATH_VARIABLE: path, "AWS_REGION": "eu-west-1"})
    assert settings.whatsapp_access_token == "EAAG-token"
    assert settings.whatsapp_phone_number_id == "100000000000001"
    assert settings.pseudonym_key == "pseudonym-key-0123456789"


def test_an_unreachable_ssm_is_reported_with_the_path() -> None:
    ssm = boto3.client(
        "ssm",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",  # nothing listens on the discard port
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(SecretsUnavailableError, match="/civicchat-x/"):
        read_parameters("/civicchat-x/", client=ssm)
