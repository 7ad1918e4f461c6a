"""`civicchat config validate FILE`: what an operator reads before deploying a municipality file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.cli import main
from chalicelib.settings import BUNDLED_CONFIG


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "town.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def bundled_with(*replacements: tuple[str, str]) -> str:
    text = BUNDLED_CONFIG.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_a_valid_file_gets_one_line_and_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BUNDLED_CONFIG.read_text(encoding="utf-8"))
    assert main(["config", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"{path}: valid — 4 languages (pt, es, en, ar), 7 menu items, 2 flows, 2 FAQs, 3 teams\n"
    )
    assert err == ""


def test_the_bundled_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(BUNDLED_CONFIG)]) == 0
    assert capsys.readouterr().out.startswith(f"{BUNDLED_CONFIG}: valid — 4 languages")


def test_every_problem_is_printed_with_its_path_then_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        bundled_with(
            (
                "ar: التحدث إلى موظف}\n      handoff: front_desk",
                "ar: ''}\n      handoff: front_desk",
            ),
            ("es: Basura y limpieza,", "es: Basura y limpieza de calles,"),
            (
                "            team: front_desk\n      - ask: description",
                "            team: roads\n      - ask: description",
            ),
            ("  reference_prefix: VNR ", "  reference_prefix: vnr "),
            ("    en: [Very poor, Poor, OK, Good, Very good]", "    en: [Poor, OK, Good]"),
        ),
    )
    assert main(["config", "validate", str(path)]) == 1
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        "tickets.reference_prefix: 'vnr': use 2 to 6 capital letters, like VNR",
        "flows.report_problem.steps[0].choices[2].label.es: 27 characters, at most 24 "
        "(WhatsApp list row title)",
        "teams: choice routes to unknown team 'roads' at "
        "flows.report_problem.steps[0].choices[4].team",
        "main_menu.items[4].label.ar: missing translation",
        "csat.ratings.en: 3 ratings, exactly 5 are needed (the worst first)",
        f"{path}: not valid — 5 problems",
    ]


def test_a_yaml_syntax_error_gives_the_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "municipality:\n  name: Vila\n  languages: [pt, es\nwelcome: x\n")
    assert main(["config", "validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("line 4, column 8: ")
    assert "expected ',' or ']'" in lines[0]
    assert lines[1:] == [f"{path}: not valid — 1 problem"]


def test_an_unreadable_file_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert main(["config", "validate", str(missing)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cannot read the file: ")
    assert "No such file or directory" in lines[0]
    assert lines[1] == f"{missing}: not valid — 1 problem"


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["config", "validate"])
    assert raised.value.code == 2
    assert "FILE" in capsys.readouterr().err
