"""What the bot says, in the conversation's language: every text comes from the definition."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.domain.bot.definition import Localized, MunicipalityDefinition
from chalicelib.domain.replies import Button, ButtonsReply, MenuReply, MenuRow

LANGUAGE_ROW = "language:"  # list rows of the language picker; menu item ids have no ":"
OFFER_PERSON = "offer:person"
OFFER_MENU = "offer:menu"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(text: str, **values: str) -> str:
    """Fill the named {placeholders}; any other stays as it is (e.g. {reference})."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True, slots=True)
class Phrasebook:
    definition: MunicipalityDefinition
    language: str

    def text(self, key: str, **values: str) -> str:
        return fill(self.definition.text(key, self.language), **values)

    def local(self, localized: Localized) -> str:
        return localized[self.language]

    def main_menu(self, body: str | None = None) -> MenuReply:
        """The main menu list, above `body` (the menu's title when None)."""
        menu = self.definition.main_menu
        rows = tuple(
            MenuRow(
                id=item.id,
                title=self.local(item.label),
                description=self.local(item.description) if item.description else None,
            )
            for item in menu.items
        )
        return MenuReply(
            body=body if body is not None else self.local(menu.title),
            button=self.text("menu_button"),
            rows=rows,
        )

    def anything_else(self) -> MenuReply:
        return self.main_menu(self.text("anything_else"))

    def language_list(self) -> MenuReply:
        rows = tuple(
            MenuRow(id=f"{LANGUAGE_ROW}{code}", title=self.definition.language_names[code])
            for code in self.definition.languages
        )
        return MenuReply(
            body=self.text("language_prompt"), button=self.text("language_button"), rows=rows
        )

    def offer_person(self) -> ButtonsReply:
        return ButtonsReply(
            body=self.text("offer_person"),
            buttons=(
                Button(id=OFFER_PERSON, title=self.text("person_button")),
                Button(id=OFFER_MENU, title=self.text("back_button")),
            ),
        )
