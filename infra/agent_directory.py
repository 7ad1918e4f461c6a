"""The agents' sign-in: one Cognito user pool and its console app client, defined once.

AWS gets them as CloudFormation resources in the data template (`agent_directory_resources`).
moto's CloudFormation has no Cognito resources (it skips them with a warning), so the local
stack and the tests create the same pool and client through the Cognito API
(`provision_agent_directory`), from the same property dictionaries: the API takes the
template's property names except for the pool's name (`UserPoolName` there, `PoolName` here).
"""

from __future__ import annotations

from typing import Any

from chalicelib.resource_names import ResourceNames

POOL_RESOURCE_ID = "AgentsUserPool"
CLIENT_RESOURCE_ID = "AgentsUserPoolClient"
MIN_PASSWORD_LENGTH = 12
ID_TOKEN_MINUTES = 60
ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_HOURS = 12  # one working day: sign in again every morning
TEMPORARY_PASSWORD_DAYS = 7
# What the console's public client may read and, through UpdateUserAttributes with an agent's
# own access token, change: never the e-mail, which decides whose record a token opens.
# `email_verified` must be readable for ID tokens to carry it (moto includes only readable
# attributes), and console_auth refuses tokens without it.
READABLE_ATTRIBUTES = ("email", "email_verified", "name")
WRITABLE_ATTRIBUTES = ("name",)

Resources = dict[str, dict[str, Any]]


def pool_name(names: ResourceNames) -> str:
    return f"{names.prefix}-agents"


def client_name(names: ResourceNames) -> str:
    return f"{names.prefix}-console"


def user_pool_properties(names: ResourceNames) -> dict[str, Any]:
    """Staff accounts only: nobody signs themselves up (`civicchat agent create` does), the
    e-mail is the user name, and passwords are long."""
    return {
        "UserPoolName": pool_name(names),
        "UsernameAttributes": ["email"],
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "Policies": {
            "PasswordPolicy": {
                "MinimumLength": MIN_PASSWORD_LENGTH,
                "RequireLowercase": False,
                "RequireUppercase": False,
                "RequireNumbers": False,
                "RequireSymbols": False,
                "TemporaryPasswordValidityDays": TEMPORARY_PASSWORD_DAYS,
            }
        },
        "MfaConfiguration": "OFF",
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]},
        # The e-mail names the agent record (http/console_auth.py): a changed address stays
        # unverified, and the old one in force, until the new one is confirmed. AWS accepts
        # this setting only for an auto-verified attribute. (The console client cannot write
        # the e-mail at all, see WRITABLE_ATTRIBUTES; this guards any other client.)
        "AutoVerifiedAttributes": ["email"],
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
    }


def user_pool_client_properties(names: ResourceNames, pool_id: Any) -> dict[str, Any]:
    """The console, a browser page: a public client (no secret), passwords sent to Cognito
    over TLS (USER_PASSWORD_AUTH) and refresh tokens. `pool_id`: a Ref in the template, the
    pool's id for the API."""
    return {
        "ClientName": client_name(names),
        "UserPoolId": pool_id,
        "GenerateSecret": False,
        "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        "PreventUserExistenceErrors": "ENABLED",  # a wrong e-mail reads like a wrong password
        "ReadAttributes": list(READABLE_ATTRIBUTES),
        "WriteAttributes": list(WRITABLE_ATTRIBUTES),
        "EnableTokenRevocation": True,  # signing out revokes the refresh token (RevokeToken)
        "IdTokenValidity": ID_TOKEN_MINUTES,
        "AccessTokenValidity": ACCESS_TOKEN_MINUTES,
        "RefreshTokenValidity": REFRESH_TOKEN_HOURS,
        "TokenValidityUnits": {
            "IdToken": "minutes",
            "AccessToken": "minutes",
            "RefreshToken": "hours",
        },
    }


def agent_directory_resources(names: ResourceNames) -> Resources:
    return {
        POOL_RESOURCE_ID: {
            "Type": "AWS::Cognito::UserPool",
            # The staff's accounts outlive the stack, like the residents' data.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": user_pool_properties(names),
        },
        CLIENT_RESOURCE_ID: {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": user_pool_client_properties(names, {"Ref": POOL_RESOURCE_ID}),
        },
    }


def agent_directory_outputs() -> dict[str, Any]:
    """`AgentsUserPoolId`, `AgentsUserPoolArn`, `AgentsUserPoolClientId`."""
    return {
        f"{POOL_RESOURCE_ID}Id": {"Value": {"Ref": POOL_RESOURCE_ID}},
        f"{POOL_RESOURCE_ID}Arn": {"Value": {"Fn::GetAtt": [POOL_RESOURCE_ID, "Arn"]}},
        f"{CLIENT_RESOURCE_ID}Id": {"Value": {"Ref": CLIENT_RESOURCE_ID}},
    }


def with_agent_directory(template: dict[str, Any], names: ResourceNames) -> dict[str, Any]:
    """The data template as AWS gets it (`make deploy`, infra/app_package.py): with the pool,
    its client and their outputs. The local emulator provisions the data template without them:
    moto's CloudFormation skips Cognito resources with a warning and fails on an output's
    `Fn::GetAtt` of one, so `provision_agent_directory` makes them through the API instead."""
    template = {**template}
    template["Resources"] = {**template["Resources"], **agent_directory_resources(names)}
    template["Outputs"] = {**template.get("Outputs", {}), **agent_directory_outputs()}
    return template


def point_at_agent_directory(template: dict[str, Any]) -> None:
    """Patch the packaged app (in place): the console's Cognito authorizer checks tokens of the
    stack's own pool (Chalice only knows the placeholder ARN it was given), and every function
    is told the pool and client ids."""
    from chalicelib.settings import USER_POOL_CLIENT_ID_VARIABLE, USER_POOL_ID_VARIABLE

    resources = template.get("Resources", {})
    if POOL_RESOURCE_ID not in resources:
        return
    pool_arn = {"Fn::GetAtt": [POOL_RESOURCE_ID, "Arn"]}
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Api":
            definitions = properties.get("DefinitionBody", {}).get("securityDefinitions", {})
            for definition in definitions.values():
                authorizer = definition.get("x-amazon-apigateway-authorizer", {})
                if authorizer.get("type") == "cognito_user_pools":
                    authorizer["providerARNs"] = [pool_arn]
        if resource.get("Type") == "AWS::Serverless::Function":
            environment = resource.setdefault("Properties", {}).setdefault("Environment", {})
            variables = environment.setdefault("Variables", {})
            variables[USER_POOL_ID_VARIABLE] = {"Ref": POOL_RESOURCE_ID}
            variables[USER_POOL_CLIENT_ID_VARIABLE] = {"Ref": CLIENT_RESOURCE_ID}


def provision_agent_directory(
    endpoint_url: str | None, names: ResourceNames, region: str
) -> tuple[str, str]:
    """Create the stage's pool and client through the Cognito API unless a pool of that name
    exists (then its client is reused, or created); returns (pool id, client id)."""
    cognito = _client(endpoint_url, region)
    pool_id = _find_pool(cognito, pool_name(names))
    if pool_id is None:
        properties = user_pool_properties(names)
        properties["PoolName"] = properties.pop("UserPoolName")
        pool_id = cognito.create_user_pool(**properties)["UserPool"]["Id"]
    client_id = _find_client(cognito, pool_id, client_name(names))
    if client_id is None:
        client = cognito.create_user_pool_client(**user_pool_client_properties(names, pool_id))
        client_id = client["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def find_agent_directory(
    names: ResourceNames, region: str, endpoint_url: str | None = None
) -> tuple[str, str] | None:
    """The stage's (pool id, client id), found by name; None when there is no such pool."""
    cognito = _client(endpoint_url, region)
    pool_id = _find_pool(cognito, pool_name(names))
    if pool_id is None:
        return None
    client_id = _find_client(cognito, pool_id, client_name(names))
    return None if client_id is None else (pool_id, client_id)


class AmbiguousUserPoolError(Exception):
    """Several user pools carry the stage's pool name (Cognito allows it)."""


def find_user_pool(cognito: Any, names: ResourceNames) -> str | None:
    """The stage's pool id, found by its name alone; None when there is none. A pool kept by
    `civicchat destroy` has no app client any more (it went with the stack; the next deploy
    makes it again), so the client must not be looked for here. Two pools of the name are
    refused rather than one picked: the other may hold the agents' sign-ins."""
    name = pool_name(names)
    found = _pool_ids(cognito, name)
    if len(found) > 1:
        raise AmbiguousUserPoolError(
            f"{len(found)} Cognito user pools are named {name} ({', '.join(found)}) and only one "
            "can be the stage's: in the AWS console (Cognito > User pools) keep the one with "
            "the agents' sign-ins and delete or rename the other, then run this again"
        )
    return found[0] if found else None


def user_pool_arn(pool_id: str, region: str, account_id: str) -> str:
    return f"arn:aws:cognito-idp:{region}:{account_id}:userpool/{pool_id}"


def _find_pool(cognito: Any, name: str) -> str | None:
    found = _pool_ids(cognito, name)
    return found[0] if found else None


def _pool_ids(cognito: Any, name: str) -> list[str]:
    return [
        str(pool["Id"])
        for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60)
        for pool in page["UserPools"]
        if pool["Name"] == name
    ]


def _find_client(cognito: Any, pool_id: str, name: str) -> str | None:
    pages = cognito.get_paginator("list_user_pool_clients").paginate(
        UserPoolId=pool_id, MaxResults=60
    )
    for page in pages:
        for client in page["UserPoolClients"]:
            if client["ClientName"] == name:
                return str(client["ClientId"])
    return None


def _client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    session = boto3.session.Session(region_name=region)
    if endpoint_url and session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto takes any credentials
        )
    return session.client("cognito-idp", endpoint_url=endpoint_url)
