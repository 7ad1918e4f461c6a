"""What the configuration tells about a WhatsApp template beyond its name, category and
languages: how many body parameters it takes, read from the reminders and notifications that
send it (Meta knows the template's text; the config only knows how it uses it)."""

from __future__ import annotations

from chalicelib.domain.bot.definition import MunicipalityDefinition


def template_parameter_count(definition: MunicipalityDefinition, name: str) -> int | None:
    """How many body parameters template `name` takes, when the configuration says so (the
    reminders and notifications that send it agree on one count); None when nothing tells."""
    kinds = definition.reminders.kinds.values() if definition.reminders is not None else ()
    counts = {len(kind.params) for kind in kinds if kind.template == name}
    counts |= {len(n.params) for n in definition.notifications.values() if n.template == name}
    return counts.pop() if len(counts) == 1 else None
