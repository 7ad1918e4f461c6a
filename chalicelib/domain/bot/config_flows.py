"""Reading `flows:` and `tickets:`: the conversations the bot runs by itself, step by step, and
the tickets they create or tell the status of. Part of `config_loader`, split out to keep each
module small.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_back_office import BackOfficeSections
from chalicelib.domain.bot.config_reader import (
    BUTTONS_BODY,
    LIST_BODY,
    ROW_DESCRIPTION,
    ROW_TITLE,
    TEXT_MESSAGE,
    Limit,
    join,
)
from chalicelib.domain.bot.definition import (
    BUILTIN_FLOWS,
    CHOICE_ROW,
    Choice,
    Flow,
    FlowOutcome,
    FlowStep,
    Localized,
    StepKind,
    Tickets,
)
from chalicelib.domain.tickets import TicketStatus

_REFERENCE_PREFIX = re.compile(r"^[A-Z]{2,6}$")
# How the file says what a flow ends in: `creates: ticket` or `answers: ticket_status`.
_OUTCOMES: Mapping[str, tuple[str, FlowOutcome]] = MappingProxyType(
    {
        "creates": ("ticket", FlowOutcome.CREATE_TICKET),
        "answers": ("ticket_status", FlowOutcome.TICKET_STATUS),
    }
)
_STEP_KINDS = tuple(kind.value for kind in StepKind)


def _prompt_limit(kind: StepKind | None, optional: bool) -> Limit:
    """Where the step's prompt is shown: above the choice list, above the skip button, or alone."""
    if kind is StepKind.CHOICE:
        return LIST_BODY
    if kind is StepKind.IMAGE and optional:
        return BUTTONS_BODY
    return TEXT_MESSAGE


class FlowSections(BackOfficeSections):
    def __init__(self) -> None:
        super().__init__()
        self.flow_ids: set[str] = set()

    def tickets(self, value: Any) -> Tickets | None:
        data = self.mapping(value, "tickets")
        if data is None:
            return None
        self.keys(data, "tickets", ("reference_prefix", "statuses"))
        path = "tickets.reference_prefix"
        prefix = self.text(data.get("reference_prefix"), path)
        if prefix is not None and not _REFERENCE_PREFIX.match(prefix):
            self.problem(path, f"'{prefix}': use 2 to 6 capital letters, like VNR")
            prefix = None
        statuses = self.ticket_statuses(data.get("statuses"))
        if prefix is None or statuses is None:
            return None
        return Tickets(reference_prefix=prefix, statuses=statuses)

    def ticket_statuses(self, value: Any) -> Mapping[str, Localized] | None:
        path = "tickets.statuses"
        data = self.mapping(value, path)
        if data is None:
            return None
        self.keys(data, path, tuple(TicketStatus), what="ticket status")
        statuses: dict[str, Localized] = {}
        for status in TicketStatus:
            name = self.localized(data.get(status.value), join(path, status.value))
            if name is not None:
                statuses[status.value] = name
        return MappingProxyType(statuses) if len(statuses) == len(TicketStatus) else None

    def flows(self, value: Any, *, tickets_given: bool) -> Mapping[str, Flow]:
        flows: dict[str, Flow] = {}
        data = self.mapping(value, "flows") if value is not None else None
        for key, raw in (data or {}).items():
            path = join("flows", key)
            flow_id = self.key_identifier(key, path)
            entry = self.mapping(raw, path)
            if flow_id is None or entry is None:
                continue
            if flow_id in BUILTIN_FLOWS:
                self.problem(path, "a built-in flow, it cannot be redefined")
                continue
            self.flow_ids.add(flow_id)
            flow = self.flow(flow_id, entry, path, tickets_given=tickets_given)
            if flow is not None:
                flows[flow_id] = flow
        return MappingProxyType(flows)

    def flow(
        self, flow_id: str, entry: Mapping[str, Any], path: str, *, tickets_given: bool
    ) -> Flow | None:
        self.keys(entry, path, ("steps", *_OUTCOMES, "routes_to"))
        outcome = self.flow_outcome(entry, path)
        raw_steps = self.sequence(entry.get("steps"), f"{path}.steps")
        if entry.get("steps") == []:
            self.problem(f"{path}.steps", "at least one step is required")
        steps: list[FlowStep] = []
        asked_by: dict[str, int] = {}
        for i, raw_step in enumerate(raw_steps):
            step = self.flow_step(raw_step, f"{path}.steps[{i}]", outcome)
            if step is None:
                continue
            if step.ask in asked_by:
                self.problem(
                    f"{path}.steps[{i}].ask",
                    f"'{step.ask}' is already asked by steps[{asked_by[step.ask]}]",
                )
            asked_by.setdefault(step.ask, i)
            steps.append(step)
        kinds = [step.expect for step in steps]
        if outcome is FlowOutcome.TICKET_STATUS and steps and StepKind.REFERENCE not in kinds:
            self.problem(f"{path}.steps", "answers: ticket_status needs a step expecting reference")
        routes_to = None
        if entry.get("routes_to") is not None:
            if outcome is FlowOutcome.TICKET_STATUS:
                self.problem(f"{path}.routes_to", "only a flow that creates tickets routes them")
            else:
                routes_to = self.team_reference(
                    entry["routes_to"], f"{path}.routes_to", "flow routes to"
                )
        if not tickets_given:
            self.tickets_needed(path, outcome, kinds)
        if outcome is None or len(steps) != len(raw_steps) or not steps:
            return None
        return Flow(id=flow_id, steps=tuple(steps), outcome=outcome, routes_to=routes_to)

    def flow_outcome(self, entry: Mapping[str, Any], path: str) -> FlowOutcome | None:
        given = [key for key in _OUTCOMES if entry.get(key) is not None]
        if len(given) != 1:
            wanted = "creates: ticket or answers: ticket_status"
            if given:
                self.problem(path, f"has creates and answers: give only one of {wanted}")
            else:
                self.problem(path, f"needs one of {wanted}")
            return None
        key = given[0]
        value, outcome = _OUTCOMES[key]
        return outcome if self.choice(entry[key], f"{path}.{key}", (value,)) else None

    def tickets_needed(self, path: str, outcome: FlowOutcome | None, kinds: list[StepKind]) -> None:
        """Report, under `tickets`, a flow that needs the section when it is missing."""
        if outcome is FlowOutcome.CREATE_TICKET:
            why = f"{path} (creates: ticket)"
        elif outcome is FlowOutcome.TICKET_STATUS:
            why = f"{path} (answers: ticket_status)"
        elif StepKind.REFERENCE in kinds:
            why = f"{path}.steps[{kinds.index(StepKind.REFERENCE)}] (expect: reference)"
        else:
            return
        self.problem("tickets", f"missing, needed by {why}")

    def flow_step(self, value: Any, path: str, outcome: FlowOutcome | None) -> FlowStep | None:
        data = self.mapping(value, path)
        if data is None:
            return None
        self.keys(data, path, ("ask", "expect", "prompt", "choices", "optional"))
        ask = self.identifier(data.get("ask"), f"{path}.ask")
        expect = self.choice(data.get("expect"), f"{path}.expect", _STEP_KINDS)
        kind = StepKind(expect) if expect is not None else None
        optional = False
        if data.get("optional") is not None:
            optional = bool(self.flag(data["optional"], f"{path}.optional"))
            if optional and kind not in (None, StepKind.IMAGE):
                self.problem(
                    f"{path}.optional", f"only image steps can be skipped, this one expects {kind}"
                )
                optional = False
        prompt = self.localized(
            data.get("prompt"), f"{path}.prompt", limit=_prompt_limit(kind, optional)
        )
        choices: tuple[Choice, ...] = ()
        if kind is StepKind.CHOICE:
            choices = self.choices(data.get("choices"), f"{path}.choices", outcome)
        elif data.get("choices") is not None and kind is not None:
            self.problem(
                f"{path}.choices",
                f"only steps expecting choice have choices, this one expects {kind}",
            )
        if ask is None or kind is None or prompt is None:
            return None
        if kind is StepKind.CHOICE and not choices:
            return None
        return FlowStep(ask=ask, expect=kind, prompt=prompt, choices=choices, optional=optional)

    def choices(self, value: Any, path: str, outcome: FlowOutcome | None) -> tuple[Choice, ...]:
        raw_choices = self.sequence(value, path)
        if value == []:
            self.problem(path, "at least 1 choice is required")
        if len(raw_choices) > limits.LIST_ROWS:
            self.problem(
                path, f"{len(raw_choices)} choices, at most {limits.LIST_ROWS} (one WhatsApp list)"
            )
        choices: list[Choice] = []
        first_use: dict[str, int] = {}
        for i, raw in enumerate(raw_choices):
            choice = self.flow_choice(raw, join(path, i), outcome)
            if choice is None:
                continue
            if choice.id in first_use:
                self.problem(
                    f"{path}[{i}].id",
                    f"'{choice.id}' is already used by choices[{first_use[choice.id]}]",
                )
            first_use.setdefault(choice.id, i)
            choices.append(choice)
        return tuple(choices) if len(choices) == len(raw_choices) else ()

    def flow_choice(self, value: Any, path: str, outcome: FlowOutcome | None) -> Choice | None:
        data = self.mapping(value, path)
        if data is None:
            return None
        self.keys(data, path, ("id", "label", "description", "team"))
        choice_id = self.identifier(data.get("id"), f"{path}.id")
        longest = limits.ROW_ID - len(CHOICE_ROW)
        if choice_id is not None and len(choice_id) > longest:
            self.problem(f"{path}.id", f"{len(choice_id)} characters, at most {longest}")
        label = self.localized(data.get("label"), f"{path}.label", limit=ROW_TITLE)
        description = None
        if data.get("description") is not None:
            description = self.localized(
                data["description"], f"{path}.description", limit=ROW_DESCRIPTION
            )
        team = None
        if data.get("team") is not None:
            if outcome is FlowOutcome.TICKET_STATUS:
                self.problem(f"{path}.team", "only a flow that creates tickets routes them")
            else:
                team = self.team_reference(data["team"], f"{path}.team", "choice routes to")
        if choice_id is None or label is None:
            return None
        return Choice(id=choice_id, label=label, description=description, team=team)
