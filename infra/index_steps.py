"""The templates to deploy, one after the other, when tables gain or lose global secondary
indexes.

CloudFormation adds or deletes at most one GSI per table in one stack update (DynamoDB's own
limit: one index created or deleted per UpdateTable); a template that adds two indexes to a table,
or removes one and adds another, fails to deploy. So a change of several indexes goes out in
steps: each step is the target template in full, except that each table whose indexes change
has only moved one index further from what is deployed towards the target. Removals come first
(fewer indexes to keep in step, and a renamed index never needs both names at once).

The steps before the last keep the functions' code as deployed (`update_steps`): the new code may
query an index that only a later step makes, so it runs only once the last step is in.

An index is known by its name: a changed key schema or projection under the same name is not a
step CloudFormation can take (it replaces neither) and is not detected here; rename the index.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

Template = dict[str, Any]
Index = dict[str, Any]
_TABLE_TYPE = "AWS::DynamoDB::Table"


class IndexStepsError(Exception):
    pass


def index_steps(
    template: Template,
    deployed_indexes: Mapping[str, Collection[str]],
    *,
    deployed_template: Template | None = None,
) -> list[Template]:
    """The templates to deploy in order; the last is `template` itself (a copy).

    `deployed_indexes`: table logical id → names of the GSIs deployed now, for the tables that
    exist (a table missing from it is new and is created with all its indexes at once).
    `deployed_template`: the template deployed now. Only needed when a table loses two or more
    indexes: the steps in between keep the indexes not yet removed, exactly as deployed."""
    plans = {
        table_id: _IndexPlan.of(table_id, resource, deployed_indexes[table_id], deployed_template)
        for table_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == _TABLE_TYPE and table_id in deployed_indexes
    }
    step_count = max((plan.change_count for plan in plans.values()), default=0)
    steps = []
    for step in range(1, step_count):
        intermediate = copy.deepcopy(template)
        for table_id, plan in plans.items():
            if step >= plan.change_count:
                continue  # this table is at its target: as in the template
            plan.apply(intermediate["Resources"][table_id]["Properties"], changes=step)
        steps.append(intermediate)
    steps.append(copy.deepcopy(template))
    return steps


def update_steps(
    template: Template,
    deployed_indexes: Mapping[str, Collection[str]],
    deployed_template: Template,
) -> list[Template]:
    """The index steps from `deployed_template` to `template`, every step but the last with
    the functions' code as deployed (`with_deployed_code`). Raises IndexStepsError."""
    steps = index_steps(template, deployed_indexes, deployed_template=deployed_template)
    return [with_deployed_code(step, deployed_template) for step in steps[:-1]] + steps[-1:]


def with_deployed_code(template: Template, deployed_template: Template) -> Template:
    """`template` (a copy) with each function's code where the deployed template has it: a
    SAM function's `CodeUri`, a plain Lambda function's `Code`. A function not deployed yet
    keeps its own."""
    template = copy.deepcopy(template)
    deployed = deployed_template.get("Resources", {})
    for logical_id, resource in template.get("Resources", {}).items():
        code_property = _CODE_PROPERTIES.get(resource.get("Type", ""))
        if code_property is None:
            continue
        before = deployed.get(logical_id, {})
        code = before.get("Properties", {}).get(code_property)
        if before.get("Type") == resource["Type"] and code is not None:
            resource.setdefault("Properties", {})[code_property] = copy.deepcopy(code)
    return template


_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Lambda::Function": "Code"}


class _IndexPlan:
    """One table's way from its deployed indexes to the template's."""

    def __init__(
        self,
        target: list[Index],
        deployed: Collection[str],
        removed: list[Index],
        attribute_types: dict[str, str],
    ) -> None:
        self._target = target
        self._removals = removed
        self._additions = [index for index in target if index["IndexName"] not in deployed]
        self._kept = {index["IndexName"] for index in target if index["IndexName"] in deployed}
        self._attribute_types = attribute_types

    @classmethod
    def of(
        cls,
        table_id: str,
        resource: dict[str, Any],
        deployed: Collection[str],
        deployed_template: Template | None,
    ) -> _IndexPlan:
        properties = resource.get("Properties", {})
        target = properties.get("GlobalSecondaryIndexes", [])
        target_names = {index["IndexName"] for index in target}
        deployed_properties = (
            (deployed_template or {}).get("Resources", {}).get(table_id, {}).get("Properties", {})
        )
        known = {
            index["IndexName"]: index
            for index in deployed_properties.get("GlobalSecondaryIndexes", [])
        }
        # The first removal's definition is never needed (no step holds that index any more):
        # an index of unknown definition goes first.
        removed_names = sorted(
            (name for name in deployed if name not in target_names),
            key=lambda name: (name in known, name),
        )
        missing = [name for name in removed_names[1:] if name not in known]
        if missing:
            raise IndexStepsError(
                f"{table_id} loses the indexes {', '.join(removed_names)}: the steps between keep "
                f"some of them, so their definitions must come from the deployed template "
                f"(missing: {', '.join(missing)})"
            )
        removed = [known.get(name, {"IndexName": name}) for name in removed_names]
        # The template's order first, so a table back at its target has its definitions as is.
        attribute_types: dict[str, str] = {}
        for source in (properties, deployed_properties):
            for definition in source.get("AttributeDefinitions", []):
                attribute_types.setdefault(definition["AttributeName"], definition["AttributeType"])
        return cls(target, deployed, removed, attribute_types)

    @property
    def change_count(self) -> int:
        return len(self._removals) + len(self._additions)

    def apply(self, properties: dict[str, Any], *, changes: int) -> None:
        """Set the table's indexes (and attribute definitions, which DynamoDB wants to be
        exactly the attributes some key uses) to those after the first `changes` changes."""
        removals_done = min(changes, len(self._removals))
        added = {
            index["IndexName"] for index in self._additions[: max(changes - len(self._removals), 0)]
        }
        indexes = [
            copy.deepcopy(index)
            for index in self._target
            if index["IndexName"] in self._kept or index["IndexName"] in added
        ] + [copy.deepcopy(index) for index in self._removals[removals_done:]]
        if indexes:
            properties["GlobalSecondaryIndexes"] = indexes
        else:
            properties.pop("GlobalSecondaryIndexes", None)
        used = {
            element["AttributeName"]
            for key_schema in [properties.get("KeySchema", [])]
            + [index["KeySchema"] for index in indexes]
            for element in key_schema
        }
        properties["AttributeDefinitions"] = [
            {"AttributeName": name, "AttributeType": attribute_type}
            for name, attribute_type in self._attribute_types.items()
            if name in used
        ]
