"""The stage's WhatsApp secrets in SSM Parameter Store, under `ResourceNames.secrets_path`.

`civicchat deploy` (and the local stack, into its emulator) writes them with boto3, because
CloudFormation cannot make SecureString parameters; every function reads all of them in one
GetParametersByPath on its first use of the settings (see settings.get_settings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.resource_names import SECRET_PARAMETERS

# The phone number id is not secret (see SECRET_PARAMETERS); the rest are encrypted at rest
# with the account's AWS-managed `aws/ssm` key, which needs no key policy of ours.
PLAIN_PARAMETERS = frozenset({"whatsapp_phone_number_id"})


class SecretsUnavailableError(Exception):
    """SSM did not hand the parameters over (no permission, no network, throttled, ...)."""


@dataclass(frozen=True, slots=True)
class StoredParameter:
    value: str
    version: int


def read_parameters(
    path: str, *, region: str | None = None, client: Any = None
) -> dict[str, StoredParameter]:
    """Every parameter under `path`, decrypted, keyed by its name relative to the path."""
    from botocore.exceptions import BotoCoreError, ClientError

    ssm = client or _client(region)
    found: dict[str, StoredParameter] = {}
    try:
        pages = ssm.get_paginator("get_parameters_by_path").paginate(
            Path=path, Recursive=True, WithDecryption=True
        )
        for page in pages:
            for parameter in page["Parameters"]:
                name = parameter["Name"].removeprefix(path)
                found[name] = StoredParameter(parameter["Value"], int(parameter["Version"]))
    except (BotoCoreError, ClientError) as error:
        raise SecretsUnavailableError(
            f"cannot read the secrets under {path} from SSM Parameter Store: {error}"
        ) from error
    return found


def read_secrets(path: str, *, region: str | None = None, client: Any = None) -> dict[str, str]:
    """Settings field (`whatsapp_access_token`, ...) → value, for those stored under `path`."""
    stored = read_parameters(path, region=region, client=client)
    return {
        field: stored[name].value for field, name in SECRET_PARAMETERS.items() if name in stored
    }


def write_secrets(
    path: str, values: Mapping[str, str], *, client: Any
) -> dict[str, StoredParameter]:
    """Store the given settings fields under `path`, leaving a parameter that already holds its
    value untouched (so its version, and `secrets_version`, change only when a secret does).
    Returns every parameter under the path afterwards."""
    stored = read_parameters(path, client=client)
    for field, value in values.items():
        name = SECRET_PARAMETERS[field]
        current = stored.get(name)
        if current is not None and current.value == value:
            continue
        client.put_parameter(
            Name=f"{path}{name}",
            Value=value,
            Type="String" if field in PLAIN_PARAMETERS else "SecureString",
            Overwrite=True,
        )
    return read_parameters(path, client=client)


def delete_secrets(path: str, *, client: Any, keep: Collection[str] = ()) -> list[str]:
    """Delete every parameter under `path` but those named in `keep` (relative to the path);
    returns their full names."""
    stored = read_parameters(path, client=client)
    names = [f"{path}{name}" for name in stored if name not in keep]
    for start in range(0, len(names), 10):  # DeleteParameters takes ten at a time
        client.delete_parameters(Names=names[start : start + 10])
    return names


def secrets_version(stored: Mapping[str, StoredParameter]) -> str:
    """A short fingerprint of the parameters' names and version numbers (never their values):
    deployed as the stack parameter `SecretsVersion`, it changes every function's environment
    when a secret is rotated, so no function keeps serving with the old one."""
    text = "\n".join(f"{name}={stored[name].version}" for name in sorted(stored))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _client(region: str | None) -> Any:
    import boto3

    return boto3.client("ssm", region_name=region)
