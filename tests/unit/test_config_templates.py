"""`civicchat config templates [FILE]`: what the municipality submits for approval in WhatsApp
Manager. A template approved with other variables, another name or another language than the
service sends is refused by Meta at send time, so every line here is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.cli import main
from chalicelib.config_commands import templates_to_submit
from chalicelib.settings import BUNDLED_CONFIG


def bundled_with(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = BUNDLED_CONFIG.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "town.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def block(lines: list[str], name: str) -> list[str]:
    """The lines of one template, from its name to the blank line after it."""
    start = lines.index(name)
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def test_the_bundled_town_lists_each_template_with_what_sends_it() -> None:
    lines = templates_to_submit(load_municipality_file(BUNDLED_CONFIG))
    assert (
        lines[0]
        == "8 templates to submit in WhatsApp Manager (Message templates > Create template)."
    )
    assert block(lines, "licence_renewal") == [
        "licence_renewal",
        "  category:  Utility",
        "  languages: pt (submit as pt_PT), es, en, ar",
        '  buttons:   2 quick-reply buttons, in this order: "More info", "Renew" (translated); '
        "a tap hands the resident to a person",
        "  body:      3 variables: {{1}} name, {{2}} due_date (dd/mm/yyyy, filled in by "
        "civicchat), {{3}} renewal_url",
        "  used by:   reminder driving_licence (42 days before, 7 days before the due date)",
    ]
    assert block(lines, "payment_due")[-2:] == [
        "  body:      4 variables: {{1}} name, {{2}} amount, {{3}} due_date (dd/mm/yyyy, "
        "filled in by civicchat), {{4}} payment_url",
        "  used by:   reminder tax_payment (14 days before, 1 day before, 3 days after the due "
        "date)",
    ]
    assert block(lines, "document_ready")[-2:] == [
        "  body:      3 variables: {{1}} name, {{2}} document, {{3}} office",
        "  used by:   notification document_ready",
    ]
    assert block(lines, "reopen_conversation") == [
        "reopen_conversation",
        "  category:  Utility",
        "  languages: pt (submit as pt_PT), es, en, ar",
        "  buttons:   none",
        "  body:      no variables (civicchat sends it as it is)",
        "  used by:   agents replying more than 24 h after the resident last wrote (sent instead "
        "of their reply)",
    ]


def test_every_configured_template_reminder_and_notification_is_listed() -> None:
    definition = load_municipality_file(BUNDLED_CONFIG)
    lines = templates_to_submit(definition)
    assert [line for line in lines if line in definition.templates] == list(definition.templates)
    text = "\n".join(lines)
    assert definition.reminders is not None
    for reminder in definition.reminders.kinds.values():
        assert f"reminder {reminder.id} (" in block(lines, reminder.template)[-1]
    for notification in definition.notifications.values():
        assert f"notification {notification.id}" in "\n".join(block(lines, notification.template))
    assert all("\n" not in line for line in lines)
    assert "{{1}}" in text


def test_each_language_is_listed_with_the_code_meta_knows_it_by() -> None:
    lines = templates_to_submit(load_municipality_file(BUNDLED_CONFIG))
    assert lines[3] == (
        "Where a language reads 'submit as', choose that code in WhatsApp Manager: it is the "
        "code civicchat sends."
    )
    assert "  languages: pt (submit as pt_PT), es, en" in block(lines, "payment_due")
    # the loader refuses a template language Meta has no code for: nothing left to warn about
    assert not any("WARNING" in line for line in lines)


def test_the_codes_come_from_the_file(tmp_path: Path) -> None:
    path = bundled_with(
        tmp_path,
        (
            "template_language_codes: {pt: pt_PT}\n",
            "template_language_codes: {pt: pt_BR, en: en_GB}\n",
        ),
    )
    lines = templates_to_submit(load_municipality_file(path))
    assert block(lines, "payment_receipt")[2] == (
        "  languages: pt (submit as pt_BR), es, en (submit as en_GB)"
    )


def test_one_template_sent_with_two_variable_lists_is_a_problem(tmp_path: Path) -> None:
    path = bundled_with(
        tmp_path,
        (
            "  receipt: {template: payment_receipt, params: [name, amount, reference]}",
            "  receipt: {template: payment_due, params: [name, amount]}",
        ),
        ("  payment_receipt: {languages: [pt, es, en], category: utility}\n", ""),
    )
    assert block(templates_to_submit(load_municipality_file(path)), "payment_due")[-5:] == [
        "  body:      PROBLEM: sent with different variables below; one template has one body, "
        "so give each use its own template",
        "  used by:   reminder tax_payment (14 days before, 1 day before, 3 days after the due "
        "date)",
        "               with 4 variables: {{1}} name, {{2}} amount, {{3}} due_date (dd/mm/yyyy, "
        "filled in by civicchat), {{4}} payment_url",
        "             notification receipt",
        "               with 2 variables: {{1}} name, {{2}} amount",
    ]


def test_a_template_nothing_sends_is_for_agents_and_hours_read_as_hours(tmp_path: Path) -> None:
    path = bundled_with(
        tmp_path,
        ("    offsets: [-30d, -7d]\n", "    offsets: [-30d, -12h]\n"),
        (
            "  reopen_conversation: {",
            "  office_closed: {languages: [pt, en, es, ar], category: marketing}\n"
            "  reopen_conversation: {",
        ),
    )
    lines = templates_to_submit(load_municipality_file(path))
    assert lines[0].startswith("9 templates to submit")
    assert block(lines, "office_closed") == [
        "office_closed",
        "  category:  Marketing",
        "  languages: pt (submit as pt_PT), en, es, ar",
        "  buttons:   none",
        "  body:      not sent by reminders or notifications: agents send it from the console, "
        "typing its variables",
    ]
    assert block(lines, "visa_renewal")[-1] == (
        "  used by:   reminder residence_visa (30 days before, 12 hours before the due date)"
    )


def test_the_command_reads_civicchat_config_and_prints_the_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundled_with(
        tmp_path,
        ("  payment_receipt: {languages: [pt, es, en]", "  payment_receipt: {languages: [pt, es]"),
    )
    monkeypatch.setenv("CIVICCHAT_CONFIG", str(path))
    assert main(["config", "templates"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Templates in {path}:"
    assert out[1:] == templates_to_submit(load_municipality_file(path))
    assert "  languages: pt (submit as pt_PT), es" in block(out, "payment_receipt")


def test_without_a_file_or_civicchat_config_the_bundled_town_is_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CIVICCHAT_CONFIG", raising=False)
    assert main(["config", "templates"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Templates in {BUNDLED_CONFIG}:"


def test_an_invalid_file_lists_its_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundled_with(
        tmp_path, ("    template: visa_renewal\n", "    template: visa_renewal_v2\n")
    )
    assert main(["config", "templates", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "reminders.residence_visa.template: unknown template 'visa_renewal_v2'",
        f"{path}: not valid — 1 problem",
    ]
