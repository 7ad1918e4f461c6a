"""The agents' user pool: in the template AWS gets (with the console's authorizer pointed at it
and every function told its ids), never in the one moto's CloudFormation provisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.resource_names import ResourceNames
from chalicelib.settings import (
    PLACEHOLDER_USER_POOL_ARN,
    USER_POOL_CLIENT_ID_VARIABLE,
    USER_POOL_ID_VARIABLE,
)
from infra.agent_directory import (
    CLIENT_RESOURCE_ID,
    MIN_PASSWORD_LENGTH,
    POOL_RESOURCE_ID,
    agent_directory_resources,
    user_pool_client_properties,
    user_pool_properties,
)
from infra.app_package import package_app
from infra.template import data_template

STAGE = "pooltest"
POOL_ARN = {"Fn::GetAtt": [POOL_RESOURCE_ID, "Arn"]}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return package_app(STAGE, Path(tmp_path_factory.mktemp("package")))


def test_the_pool_admits_only_staff_with_long_passwords() -> None:
    pool = user_pool_properties(ResourceNames("prod"))
    assert pool["UserPoolName"] == "civicchat-prod-agents"
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == MIN_PASSWORD_LENGTH >= 12
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["MfaConfiguration"] == "OFF"


def test_an_agent_cannot_make_their_token_name_someone_else() -> None:
    # The ID token's e-mail names the agent record: the console's public client may not change
    # it (UpdateUserAttributes with the agent's own access token), and a change made any other
    # way stays unverified, the old address in force, until confirmed.
    client = user_pool_client_properties(ResourceNames("prod"), {"Ref": POOL_RESOURCE_ID})
    assert client["WriteAttributes"] == ["name"]
    assert {"email", "email_verified"} <= set(client["ReadAttributes"])  # tokens carry them
    assert client["EnableTokenRevocation"] is True  # signing out revokes the refresh token
    pool = user_pool_properties(ResourceNames("prod"))
    assert pool["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": ["email"]
    }
    assert "email" in pool["AutoVerifiedAttributes"]  # AWS requires it for the setting above


def test_the_console_client_is_public_and_short_lived() -> None:
    client = user_pool_client_properties(ResourceNames("prod"), {"Ref": POOL_RESOURCE_ID})
    assert client["GenerateSecret"] is False  # a browser page cannot keep a secret
    assert client["ExplicitAuthFlows"] == ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert (client["IdTokenValidity"], client["TokenValidityUnits"]["IdToken"]) == (60, "minutes")
    assert (client["RefreshTokenValidity"], client["TokenValidityUnits"]["RefreshToken"]) == (
        12,
        "hours",
    )


def test_moto_gets_the_data_template_without_the_pool() -> None:
    # moto's CloudFormation skips Cognito resources and fails on an output's GetAtt of one;
    # the local stack makes the pool through the API (provision_agent_directory) instead.
    template = data_template(ResourceNames("dev"))
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert not any(t.startswith("AWS::Cognito::") for t in types)


def test_aws_gets_the_pool_and_its_client_with_outputs(packaged: dict[str, Any]) -> None:
    expected = agent_directory_resources(ResourceNames(STAGE))
    assert packaged["Resources"][POOL_RESOURCE_ID] == expected[POOL_RESOURCE_ID]
    assert packaged["Resources"][CLIENT_RESOURCE_ID] == expected[CLIENT_RESOURCE_ID]
    assert packaged["Resources"][POOL_RESOURCE_ID]["DeletionPolicy"] == "Retain"
    outputs = packaged["Outputs"]
    assert outputs["AgentsUserPoolId"] == {"Value": {"Ref": POOL_RESOURCE_ID}}
    assert outputs["AgentsUserPoolArn"] == {"Value": POOL_ARN}
    assert outputs["AgentsUserPoolClientId"] == {"Value": {"Ref": CLIENT_RESOURCE_ID}}


def test_the_console_authorizer_checks_the_stacks_own_pool(packaged: dict[str, Any]) -> None:
    apis = [r for r in packaged["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    [api] = apis
    definitions = api["Properties"]["DefinitionBody"]["securityDefinitions"]
    authorizer = definitions["agents"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "cognito_user_pools"
    assert authorizer["providerARNs"] == [POOL_ARN]
    assert PLACEHOLDER_USER_POOL_ARN not in str(packaged)
    paths = api["Properties"]["DefinitionBody"]["paths"]
    assert paths["/console/api/me"]["get"]["security"] == [{"agents": []}]
    assert "security" not in paths["/console/api/session"]["post"]  # signing in is open
    assert paths["/console/api/session"]["delete"]["security"] == [{"agents": []}]  # signing out


def test_every_function_is_told_the_pool_and_client(packaged: dict[str, Any]) -> None:
    functions = [
        r for r in packaged["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    assert functions
    for function in functions:
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables[USER_POOL_ID_VARIABLE] == {"Ref": POOL_RESOURCE_ID}
        assert variables[USER_POOL_CLIENT_ID_VARIABLE] == {"Ref": CLIENT_RESOURCE_ID}
