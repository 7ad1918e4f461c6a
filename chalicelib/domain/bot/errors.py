"""Errors of the bot package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a configuration, at `path` (e.g. "main_menu.items[3].label.ar")."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """A configuration that cannot be used, with every problem found, not just the first."""

    def __init__(self, problems: Sequence[ConfigProblem], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f"{source}: " if source else ""
        count = len(self.problems)
        heading = f"{where}{count} problem{'s' if count != 1 else ''} in the configuration"
        super().__init__("\n  ".join([heading, *map(str, self.problems)]))

    def with_source(self, source: str) -> ConfigError:
        return ConfigError(self.problems, source=source)
