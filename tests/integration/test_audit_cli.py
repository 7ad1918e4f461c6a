"""`civicchat audit --phone … | --recent` on a stage in moto's server: the pseudonym key from the
environment or from the stage's SSM path, a resident's events newest first, everyone's page by
page, and what it says when the key or the input is wrong."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.adapters.dynamodb_audit_log import DynamoDBAuditLog
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.ssm_secrets import write_secrets
from chalicelib.audit_commands import stage_pseudonym_key
from chalicelib.cli import main
from chalicelib.domain.audit import AuditAction, AuditEvent, resident_ref
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import PSEUDONYM_KEY_VARIABLE
from infra.local_emulator import provision

REGION = "eu-west-1"
AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
KEY = "cli-test-pseudonym-key"


@pytest.fixture
def stage(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> ResourceNames:
    names = ResourceNames(f"ac{uuid.uuid4().hex[:8]}")
    provision(aws_env, names, REGION)
    monkeypatch.delenv(PSEUDONYM_KEY_VARIABLE, raising=False)
    log = DynamoDBAuditLog(stage_tables(names, REGION))
    ref = resident_ref("wa:351912345678", KEY.encode())
    for minutes, actor, action, detail in (
        (0, "agent:ana", AuditAction.VIEWED, "conversation c-1"),
        (5, "apikey:tax-office", AuditAction.MESSAGED, "obligation LIC-1"),
        (9, "cli:maria", AuditAction.EXPORTED, None),
    ):
        log.record(
            AuditEvent(
                resident_ref=ref,
                at=AT + timedelta(minutes=minutes),
                actor=actor,
                action=action,
                detail=detail,
            )
        )
    log.record(
        AuditEvent(
            resident_ref=resident_ref("wa:34600111222", KEY.encode()),
            at=AT + timedelta(minutes=7),
            actor="cli:maria",
            action=AuditAction.ERASED,
            counts={"messages": 3},
        )
    )
    return names


def test_a_residents_events_by_phone_with_the_stored_key(
    stage: ResourceNames, capsys: pytest.CaptureFixture[str]
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    write_secrets(stage.secrets_path, {"pseudonym_key": KEY}, client=ssm)

    assert main(["audit", "--phone", "+351 912 345 678", "--stage", stage.stage]) == 0

    lines = capsys.readouterr().out.splitlines()
    ref = resident_ref("wa:351912345678", KEY.encode())
    assert lines == [
        f"resident {ref}: 3 event(s), newest first",
        "2026-05-04T09:39:00.000000Z\tcli:maria\texported\t",
        "2026-05-04T09:35:00.000000Z\tapikey:tax-office\tmessaged\tobligation LIC-1",
        "2026-05-04T09:30:00.000000Z\tagent:ana\tviewed\tconversation c-1",
    ]
    assert KEY not in "\n".join(lines)


def test_everyones_latest_page_by_page_with_the_key_from_the_environment(
    stage: ResourceNames, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PSEUDONYM_KEY_VARIABLE, KEY)

    assert main(["audit", "--recent", "--limit", "2", "--stage", stage.stage]) == 0
    first = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in first[:2]] == ["exported", "erased"]
    assert "\tmessages 3\t" in first[1]
    assert first[2].startswith("2 event(s); next page: --cursor ")
    cursor = first[2].rsplit(" ", 1)[1]

    assert main(["audit", "--recent", "--cursor", cursor, "--stage", stage.stage]) == 0
    second = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in second[:2]] == ["messaged", "viewed"]
    assert second[2] == "2 event(s)"


def test_what_it_says_when_something_is_wrong(
    stage: ResourceNames, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--phone", "+351912345678", "--stage", stage.stage]) == 2
    assert f"stage {stage.stage} has no pseudonym key" in capsys.readouterr().err

    monkeypatch.setenv(PSEUDONYM_KEY_VARIABLE, KEY)
    assert main(["audit", "--phone", "12", "--stage", stage.stage]) == 2
    assert "--phone '12'" in capsys.readouterr().err
    assert main(["audit", "--recent", "--cursor", "nope", "--stage", stage.stage]) == 2
    assert "not a cursor of the audit log" in capsys.readouterr().err


def test_the_stored_key_wins_and_another_in_the_environment_is_refused(
    stage: ResourceNames, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_secrets(
        stage.secrets_path, {"pseudonym_key": KEY}, client=boto3.client("ssm", region_name=REGION)
    )
    monkeypatch.setenv(PSEUDONYM_KEY_VARIABLE, "some-other-stages-key")

    assert main(["audit", "--phone", "+351912345678", "--stage", stage.stage]) == 2
    captured = capsys.readouterr()
    assert f"{PSEUDONYM_KEY_VARIABLE} is not the pseudonym key stage {stage.stage} uses" in (
        captured.err
    )
    assert captured.out == "" and KEY not in captured.err

    monkeypatch.setenv(PSEUDONYM_KEY_VARIABLE, KEY)  # the same key: fine
    assert main(["audit", "--phone", "+351912345678", "--stage", stage.stage]) == 0
    assert "3 event(s)" in capsys.readouterr().out
    assert stage_pseudonym_key(stage, REGION, {}) == KEY.encode()  # none given: the stored one
    with pytest.raises(SystemExit):
        main(["audit", "--stage", stage.stage])  # --phone or --recent
