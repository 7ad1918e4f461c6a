"""The packaged SAM template as CloudFormation will run it, expanded offline, and the part of it
an emulator can deploy.

`translate` runs the same SAM translator CloudFormation runs for `AWS::Serverless-2016-10-31`,
here, without AWS: the functions, event source mappings, schedule rules and permissions come
out as plain CloudFormation resources that can be inspected or created in moto.

`without_api` drops the API Gateway part and the Cognito pool. moto's CloudFormation cannot
create them: it has no Cognito resource types, and its `AWS::ApiGateway::RestApi` ignores the
OpenAPI `Body`, so the API has no methods and its deployment fails.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
PLACEHOLDER_ACCOUNT_ID = "123456789012"
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_API_TYPE_PREFIXES = (
    "AWS::Serverless::Api",
    "AWS::Serverless::HttpApi",
    "AWS::ApiGateway::",
    "AWS::ApiGatewayV2::",
    "AWS::Cognito::",
)
_IAM_POLICY_HOLDERS = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
# `${Name}` or `${Name.Attribute}` in Fn::Sub; `${!Literal}` is an escape, `${AWS::Region}` a
# pseudo parameter.
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")

Template = dict[str, Any]


class TranslationError(Exception):
    pass


def translate(
    template: Template, *, region: str, account_id: str = PLACEHOLDER_ACCOUNT_ID
) -> Template:
    """The template with its SAM resources expanded to CloudFormation (a new dict; a template
    without the SAM transform comes back as it is). Offline:
    the translator is given the region instead of asking boto3, and an empty managed-policy map
    instead of listing IAM's (our template names no managed policy). Functions' `CodeUri` must
    already be in S3 (`with_code_at`)."""
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    if SAM_TRANSFORM not in _transforms(template):
        return template
    # The translator reads nothing but `region_name` from its "boto session" (for the region and
    # the partition): a stand-in, so no profile or config file is read either. Its timing
    # metrics go nowhere, but unpublished ones are warned about at exit.
    metrics = Metrics(metrics_publisher=DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=_RegionOnly(region), metrics=metrics)
    try:
        return translator.translate(
            template,
            parameter_values={"AWS::AccountId": account_id},
            get_managed_policy_map=dict,
        )
    except InvalidDocumentException as error:
        reasons = "; ".join(str(cause) for cause in error.causes)
        raise TranslationError(f"the SAM template does not translate: {reasons}") from error
    finally:
        metrics.publish()


@dataclass(frozen=True)
class _RegionOnly:
    region_name: str


def with_code_at(template: Template, bucket: str, key: str) -> Template:
    """Every function's code at s3://bucket/key (Chalice writes a local `./deployment.zip`,
    which only `aws cloudformation package` or the deploy rewrites)."""
    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        properties = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            properties["CodeUri"] = {"Bucket": bucket, "Key": key}
        elif resource.get("Type") == "AWS::Lambda::Function":
            properties["Code"] = {"S3Bucket": bucket, "S3Key": key}
    return template


def without_api(template: Template) -> Template:
    """The template without the API (SAM's or API Gateway's resources), the functions it
    invokes, the Cognito pool and client, and whatever needs them: environment variables,
    outputs and `DependsOn` entries naming them are removed, IAM statements lose the resources
    naming them (and go when none is left), any other resource naming them goes too. Works on
    the packaged template and on its translation."""
    template = copy.deepcopy(template)
    resources: dict[str, Any] = template.get("Resources", {})
    dropped = {
        resource_id
        for resource_id, resource in resources.items()
        if resource.get("Type", "").startswith(_API_TYPE_PREFIXES)
    }
    dropped |= {
        referenced
        for resource_id in dropped
        for referenced in references(resources[resource_id])
        if resources.get(referenced, {}).get("Type") in _FUNCTION_TYPES
    }
    while True:
        for resource_id in dropped:
            resources.pop(resource_id, None)
        needing = {
            resource_id
            for resource_id, resource in resources.items()
            if not _forget(resource, dropped)
        }
        if not needing:
            break
        dropped |= needing
    outputs = template.get("Outputs", {})
    for name in [name for name, output in outputs.items() if references(output) & dropped]:
        del outputs[name]
    return template


def references(value: Any) -> set[str]:
    """The logical ids (resources or parameters) `value` names through Ref, Fn::GetAtt or
    Fn::Sub; pseudo parameters (`AWS::Region`) are left out."""
    return {name for name in _names(value) if "::" not in name}


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _names(item)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key == "Ref" and isinstance(item, str):
            yield item
        elif key == "Fn::GetAtt":
            target = item[0] if isinstance(item, list) else str(item).split(".", 1)[0]
            yield str(target)
        elif key == "Fn::Sub":
            text, variables = (item[0], item[1]) if isinstance(item, list) else (item, {})
            for variable in _SUB_VARIABLE.findall(str(text)):
                name = variable.split(".", 1)[0]
                if name not in variables:
                    yield name
            yield from _names(variables)
        else:
            yield from _names(item)


def _forget(resource: dict[str, Any], dropped: set[str]) -> bool:
    """Remove what `resource` says about `dropped` resources where that can go on its own;
    False when the resource itself needs one of them."""
    depends_on = resource.get("DependsOn")
    if isinstance(depends_on, str) and depends_on in dropped:
        del resource["DependsOn"]
    elif isinstance(depends_on, list):
        resource["DependsOn"] = [name for name in depends_on if name not in dropped]
        if not resource["DependsOn"]:
            del resource["DependsOn"]
    properties = resource.get("Properties", {})
    if resource.get("Type") in _FUNCTION_TYPES:
        variables = properties.get("Environment", {}).get("Variables", {})
        for name in [name for name, value in variables.items() if references(value) & dropped]:
            del variables[name]
    if resource.get("Type") in _IAM_POLICY_HOLDERS and not _forget_in_policies(properties, dropped):
        return False
    return not references(resource) & dropped


def _forget_in_policies(properties: dict[str, Any], dropped: set[str]) -> bool:
    """False when a standalone policy has no statement left."""
    documents = [properties] if "PolicyDocument" in properties else properties.get("Policies", [])
    for document in documents:
        statements = document.get("PolicyDocument", {}).get("Statement", [])
        kept = []
        for statement in statements if isinstance(statements, list) else [statements]:
            targets = statement.get("Resource")
            if isinstance(targets, list):
                statement["Resource"] = [t for t in targets if not references(t) & dropped]
                if statement["Resource"]:
                    kept.append(statement)
            elif not references(targets) & dropped:
                kept.append(statement)
        document.get("PolicyDocument", {})["Statement"] = kept
    if "PolicyDocument" in properties:
        return bool(properties["PolicyDocument"]["Statement"])
    if "Policies" in properties:
        properties["Policies"] = [
            policy for policy in properties["Policies"] if policy["PolicyDocument"]["Statement"]
        ]
    return True


def _transforms(template: Template) -> list[str]:
    transform = template.get("Transform", [])
    names = transform if isinstance(transform, list) else [transform]
    return [name for name in names if isinstance(name, str)]
