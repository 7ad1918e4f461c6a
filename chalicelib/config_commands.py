"""`civicchat config validate FILE`: check a municipality file before deploying it, listing every
problem at once (the same checks the service makes when it loads the file).

`civicchat config templates [FILE]`: what the municipality must submit for approval in WhatsApp
Manager, template by template. The service sends each template by name and language with its
body variables in the order the config's `params` give; Meta refuses a send whose name,
language or number of variables does not match an approved template, so the person writing the
templates needs exactly this list."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain.bot.definition import MunicipalityDefinition, Template
from chalicelib.domain.bot.errors import ConfigError
from chalicelib.domain.service_window import REOPEN_TEMPLATE

# The names WhatsApp Manager shows for the config's categories.
_CATEGORY_NAMES = {
    "utility": "Utility",
    "marketing": "Marketing",
    "authentication": "Authentication",
}
_DUE_DATE = "due_date"  # filled in by civicchat for reminders (reminder_plan.template_values)
_LABEL_WIDTH = len("languages: ")


def add_commands(commands: Any) -> None:
    config = commands.add_parser("config", help="check a municipality configuration file")
    actions = config.add_subparsers(dest="action", required=True)
    validate = actions.add_parser(
        "validate", help="report every problem in FILE, or confirm that it is valid"
    )
    validate.add_argument(
        "file",
        metavar="FILE",
        help="a municipality YAML file, like chalicelib/config/example-town.yaml",
    )
    templates = actions.add_parser(
        "templates",
        help="list the WhatsApp templates FILE needs approved: name, category, languages, "
        "buttons, body variables and where each is used",
    )
    templates.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="a municipality YAML file (default: CIVICCHAT_CONFIG, else the bundled example town)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "templates":
        from chalicelib.settings import configured_config_path

        return list_templates(args.file or str(configured_config_path()))
    return validate(args.file)


def validate(file: str) -> int:
    """Print one line for a valid file (exit 0), or each problem then their count (exit 1)."""
    definition = _load(file)
    if definition is None:
        return 1
    print(f"{file}: valid — {summary(definition)}")
    return 0


def list_templates(file: str) -> int:
    """Print what to submit for approval (exit 0), or the file's problems (exit 1)."""
    definition = _load(file)
    if definition is None:
        return 1
    print(f"Templates in {file}:")
    print("\n".join(templates_to_submit(definition)))
    return 0


def summary(definition: MunicipalityDefinition) -> str:
    languages = ", ".join(definition.languages)
    return ", ".join(
        [
            f"{_count(len(definition.languages), 'language')} ({languages})",
            _count(len(definition.main_menu.items), "menu item"),
            _count(len(definition.flows), "flow"),
            _count(len(definition.faq), "FAQ"),
            _count(len(definition.teams), "team"),
        ]
    )


@dataclass(frozen=True, slots=True)
class _Use:
    """One place the service sends a template from, with the variables it fills in."""

    description: str
    params: tuple[str, ...]
    fills_due_date: bool = False  # a reminder: civicchat writes `due_date` itself


def templates_to_submit(definition: MunicipalityDefinition) -> list[str]:
    """The lines to read while creating the templates in WhatsApp Manager: a short header,
    then one block per template of the configuration, in configuration order."""
    templates = definition.templates
    if not templates:
        return [
            "No templates are configured: reminders, notifications and replies after 24 h "
            "cannot be sent."
        ]
    lines = [
        f"{_count(len(templates), 'template')} to submit in WhatsApp Manager "
        "(Message templates > Create template).",
        "Use exactly these names and languages. Number the body's variables {{1}}, {{2}}, …",
        "in the order shown (type of variable: Number).",
    ]
    if any(
        definition.template_language_code(language) != language
        for template in templates.values()
        for language in template.languages
    ):
        lines.append(
            "Where a language reads 'submit as', choose that code in WhatsApp Manager: it is "
            "the code civicchat sends."
        )
    uses = _uses(definition)
    for template in templates.values():
        lines.append("")
        lines.append(template.name)
        lines.append(_field("category", _CATEGORY_NAMES.get(template.category, template.category)))
        lines.append(_field("languages", _languages(definition, template)))
        lines.append(_field("buttons", _buttons(template.buttons)))
        lines.extend(_body(uses.get(template.name, [])))
    return lines


def _languages(definition: MunicipalityDefinition, template: Template) -> str:
    """The template's languages, each with the code to pick in WhatsApp Manager where it is
    not the language itself: "pt (submit as pt_PT), es, en"."""
    named = []
    for language in template.languages:
        code = definition.template_language_code(language)
        named.append(language if code == language else f"{language} (submit as {code})")
    return ", ".join(named)


def _uses(definition: MunicipalityDefinition) -> dict[str, list[_Use]]:
    uses: dict[str, list[_Use]] = {}
    if definition.reminders is not None:
        for reminder in definition.reminders.kinds.values():
            when = ", ".join(_offset(offset) for offset in reminder.offsets)
            uses.setdefault(reminder.template, []).append(
                _Use(
                    f"reminder {reminder.id} ({when} the due date)",
                    reminder.params,
                    fills_due_date=True,
                )
            )
    for notification in definition.notifications.values():
        uses.setdefault(notification.template, []).append(
            _Use(f"notification {notification.id}", notification.params)
        )
    if REOPEN_TEMPLATE in definition.templates:
        uses.setdefault(REOPEN_TEMPLATE, []).append(
            _Use(
                "agents replying more than 24 h after the resident last wrote "
                "(sent instead of their reply)",
                (),
            )
        )
    return uses


def _body(uses: list[_Use]) -> list[str]:
    if not uses:
        return [
            _field(
                "body",
                "not sent by reminders or notifications: agents send it from the "
                "console, typing its variables",
            ),
        ]
    lines = []
    variable_lists = {use.params for use in uses}
    if len(variable_lists) == 1:
        lines.append(_field("body", _variables(uses[0])))
    else:
        lines.append(
            _field(
                "body",
                "PROBLEM: sent with different variables below; one template has one body, "
                "so give each use its own template",
            )
        )
    for index, use in enumerate(uses):
        lines.append(_field("used by" if index == 0 else "", use.description))
        if len(variable_lists) > 1:
            lines.append(_field("", f"  with {_variables(use)}"))
    return lines


def _variables(use: _Use) -> str:
    if not use.params:
        return "no variables (civicchat sends it as it is)"
    numbered = []
    for number, name in enumerate(use.params, start=1):
        note = (
            " (dd/mm/yyyy, filled in by civicchat)"
            if use.fills_due_date and name == _DUE_DATE
            else ""
        )
        numbered.append(f"{{{{{number}}}}} {name}{note}")
    return f"{_count(len(use.params), 'variable')}: " + ", ".join(numbered)


def _buttons(buttons: tuple[str, ...]) -> str:
    if not buttons:
        return "none"
    labels = ", ".join(f'"{label}"' for label in buttons)
    return (
        f"{_count(len(buttons), 'quick-reply button')}, in this order: {labels} (translated); "
        "a tap hands the resident to a person"
    )


def _offset(offset: timedelta) -> str:
    seconds = int(abs(offset).total_seconds())
    if seconds == 0:
        return "on"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            amount = _count(seconds // size, unit)
            break
    return f"{amount} {'before' if offset < timedelta(0) else 'after'}"


def _field(label: str, value: str) -> str:
    prefix = f"{label}:" if label else ""
    return f"  {prefix:<{_LABEL_WIDTH}}{value}"


def _load(file: str) -> MunicipalityDefinition | None:
    """The file's definition, or None after printing each problem and their count."""
    from chalicelib.adapters.config_file import load_municipality_file

    try:
        return load_municipality_file(file)
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        print(f"{file}: not valid — {_count(len(error.problems), 'problem')}")
        return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
