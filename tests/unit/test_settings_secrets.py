"""Where the functions' WhatsApp secrets come from: the environment first (tests, `make run`
against a real number), else the stage's SSM path the deployment names; a missing one is named."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from chalicelib.settings import SECRETS_PATH_VARIABLE, SettingsError, settings_from

ENVIRONMENT = {
    "WHATSAPP_ACCESS_TOKEN": "env-token",
    "WHATSAPP_APP_SECRET": "env-secret",
    "WHATSAPP_VERIFY_TOKEN": "env-verify",
    "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
    "CIVICCHAT_PSEUDONYM_KEY": "env-pseudonym-key",
}
STORED = {
    "whatsapp_access_token": "stored-token",
    "whatsapp_app_secret": "stored-secret",
    "whatsapp_verify_token": "stored-verify",
    "whatsapp_phone_number_id": "100000000000002",
    "pseudonym_key": "stored-pseudonym-key",
}
DEPLOYED = {SECRETS_PATH_VARIABLE: "/civicchat-prod/", "AWS_REGION": "eu-central-1"}


class StoredSecrets:
    """What SSM holds under one path; remembers who asked."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.reads: list[tuple[str, str]] = []

    def __call__(self, path: str, region: str) -> Mapping[str, str]:
        self.reads.append((path, region))
        return self.values


def test_without_a_secrets_path_the_environment_is_the_only_source() -> None:
    stored = StoredSecrets(STORED)
    settings = settings_from(ENVIRONMENT, read_stored_secrets=stored)
    assert settings.whatsapp_access_token == "env-token"
    assert stored.reads == []


def test_with_every_secret_in_the_environment_ssm_is_not_read() -> None:
    stored = StoredSecrets(STORED)
    settings = settings_from({**ENVIRONMENT, **DEPLOYED}, read_stored_secrets=stored)
    assert settings.whatsapp_verify_token == "env-verify"
    assert stored.reads == []


def test_deployed_functions_read_their_secrets_from_the_stages_path() -> None:
    stored = StoredSecrets(STORED)
    settings = settings_from(DEPLOYED, read_stored_secrets=stored)
    assert (
        settings.whatsapp_access_token,
        settings.whatsapp_app_secret,
        settings.whatsapp_verify_token,
        settings.whatsapp_phone_number_id,
    ) == ("stored-token", "stored-secret", "stored-verify", "100000000000002")
    assert stored.reads == [("/civicchat-prod/", "eu-central-1")]


def test_a_secret_in_the_environment_wins_over_the_stored_one() -> None:
    environ = {**DEPLOYED, "WHATSAPP_ACCESS_TOKEN": "override"}
    settings = settings_from(environ, read_stored_secrets=StoredSecrets(STORED))
    assert settings.whatsapp_access_token == "override"
    assert settings.whatsapp_app_secret == "stored-secret"


def test_a_missing_parameter_is_named() -> None:
    stored = StoredSecrets({k: v for k, v in STORED.items() if k != "whatsapp_app_secret"})
    with pytest.raises(SettingsError) as raised:
        settings_from(DEPLOYED, read_stored_secrets=stored)
    assert str(raised.value) == (
        "SSM parameter /civicchat-prod/whatsapp/app-secret is missing "
        "(and environment variable WHATSAPP_APP_SECRET is not set)"
    )


def test_without_a_path_a_missing_variable_is_named() -> None:
    environ = {k: v for k, v in ENVIRONMENT.items() if k != "WHATSAPP_VERIFY_TOKEN"}
    with pytest.raises(SettingsError, match="environment variable WHATSAPP_VERIFY_TOKEN"):
        settings_from(environ, read_stored_secrets=StoredSecrets(STORED))


def test_the_pseudonym_key_comes_from_the_environment_else_the_stages_path() -> None:
    assert settings_from(ENVIRONMENT).required_pseudonym_key() == "env-pseudonym-key"
    stored = StoredSecrets(STORED)
    deployed = settings_from(DEPLOYED, read_stored_secrets=stored)
    assert deployed.required_pseudonym_key() == "stored-pseudonym-key"
    # The WhatsApp secrets in the environment, the key only in SSM: SSM is read for it.
    without_key = {k: v for k, v in ENVIRONMENT.items() if k != "CIVICCHAT_PSEUDONYM_KEY"}
    both = settings_from({**without_key, **DEPLOYED}, read_stored_secrets=stored)
    assert both.required_pseudonym_key() == "stored-pseudonym-key"
    assert both.whatsapp_verify_token == "env-verify"


def test_a_missing_pseudonym_key_fails_only_where_it_is_needed() -> None:
    without_key = {k: v for k, v in ENVIRONMENT.items() if k != "CIVICCHAT_PSEUDONYM_KEY"}
    settings = settings_from(without_key)
    assert settings.pseudonym_key is None
    with pytest.raises(SettingsError, match="CIVICCHAT_PSEUDONYM_KEY is not set"):
        settings.required_pseudonym_key()
    stored = StoredSecrets({k: v for k, v in STORED.items() if k != "pseudonym_key"})
    with pytest.raises(SettingsError, match="privacy/pseudonym-key"):
        settings_from(DEPLOYED, read_stored_secrets=stored).required_pseudonym_key()


def test_the_pseudonym_key_is_never_in_the_settings_repr() -> None:
    assert "env-pseudonym-key" not in repr(settings_from(ENVIRONMENT))
