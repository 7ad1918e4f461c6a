"""Reading a municipality's YAML file: the only place that knows the configuration is YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chalicelib.domain.bot.config_loader import load_definition
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.errors import ConfigError, ConfigProblem


class _StrictLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice is an error: YAML would silently keep the last,
    and a second `faq_waste:` pasted below the first would quietly replace it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key; let PyYAML report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key '{key}' is given twice (first on line {first.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """Parse YAML text; a syntax error becomes a ConfigError giving the line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        message = " ".join(part for part in (error.context, error.problem) if part)
        raise ConfigError([ConfigProblem(where, message or "invalid YAML")]) from None
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem("YAML", str(error))]) from None


def load_municipality_file(path: str | Path) -> MunicipalityDefinition:
    """Read, parse and validate a municipality file. Raises ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = ConfigProblem("", f"cannot read the file: {error}")
        raise ConfigError([problem], source=str(path)) from error
    try:
        return load_definition(parse_yaml(text))
    except ConfigError as error:
        raise error.with_source(str(path)) from None
