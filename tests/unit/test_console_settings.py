"""How the console's ID tokens are checked when nobody said: trusting the claims is only safe
behind API Gateway's Cognito authorizer, i.e. inside Lambda; anywhere else we verify them."""

from __future__ import annotations

import pytest

from chalicelib.settings import SettingsError, settings_from

REQUIRED = {
    "WHATSAPP_ACCESS_TOKEN": "token",
    "WHATSAPP_APP_SECRET": "secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-me",
    "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
}
IN_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "civicchat-prod-api_handler"}


def test_outside_lambda_tokens_are_verified_by_default() -> None:
    assert settings_from(REQUIRED).agent_tokens == "verify"
    blank = {**REQUIRED, "AWS_LAMBDA_FUNCTION_NAME": " ", "CIVICCHAT_AGENT_TOKENS": ""}
    assert settings_from(blank).agent_tokens == "verify"


def test_inside_lambda_api_gateways_check_is_trusted_by_default() -> None:
    assert settings_from({**REQUIRED, **IN_LAMBDA}).agent_tokens == "api_gateway"


@pytest.mark.parametrize("extra", [{}, IN_LAMBDA])
@pytest.mark.parametrize("mode", ["api_gateway", "verify"])
def test_the_variable_overrides_the_default(extra: dict[str, str], mode: str) -> None:
    environ = {**REQUIRED, **extra, "CIVICCHAT_AGENT_TOKENS": f" {mode} "}
    assert settings_from(environ).agent_tokens == mode


def test_an_unknown_mode_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CIVICCHAT_AGENT_TOKENS"):
        settings_from({**REQUIRED, **IN_LAMBDA, "CIVICCHAT_AGENT_TOKENS": "trust"})
