"""`civicchat reminders run --at ...`: the job for a chosen moment on a stage in moto's server,
printing what it did."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, date, datetime

import boto3
import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.dynamodb_reminder_stores import DynamoDBObligationStore
from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore
from chalicelib.cli import main
from chalicelib.domain.messages import Priority
from chalicelib.domain.obligations import Obligation
from chalicelib.domain.reminder_plan import plan_reminders
from chalicelib.local_stack.stack import FAKE_AWS_CREDENTIALS, LOCAL_STAGE
from chalicelib.reminder_commands import moment
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import BUNDLED_CONFIG
from infra.local_emulator import provision

REGION = "eu-west-1"
REGISTERED = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def test_the_moment_needs_a_zone() -> None:
    assert moment("2026-12-01T09:00:00Z") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert moment("2026-12-01T10:00:00+01:00") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="add Z"):
        moment("2026-12-01T09:00:00")
    with pytest.raises(argparse.ArgumentTypeError, match="not a moment"):
        moment("tomorrow at nine")


def test_a_bad_moment_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reminders", "run", "--at", "2026-12-01 9h"])
    assert exited.value.code == 2
    assert "not a moment like 2026-12-01T09:00:00Z" in capsys.readouterr().err


def register(names: ResourceNames, external_id: str, phone_digits: str) -> None:
    definition = load_municipality_file(BUNDLED_CONFIG)
    obligation = Obligation(
        external_id=external_id,
        kind="tax_payment",
        phone=f"+{phone_digits}",
        resident_key=f"wa:{phone_digits}",
        language="en",
        due_date=date(2026, 12, 15),  # -14d: 1 December, 09:00 in Lisbon (UTC in winter)
        params={"name": "Ann", "amount": "€12", "payment_url": "https://pay/x"},
        created_at=REGISTERED,
        updated_at=REGISTERED,
        registered_by="finance",
    )
    DynamoDBObligationStore(stage_tables(names, REGION), retention=lambda: None).save(
        obligation, plan_reminders(obligation, definition, REGISTERED)
    )


def bulk_queue_ids(names: ResourceNames, endpoint: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName=names.outbound_bulk_queue)["QueueUrl"]
    ids: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            ids += json.loads(message["Body"])["message_ids"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return ids


def test_it_runs_the_job_for_the_moment_and_prints_the_counts(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ResourceNames(f"c{uuid.uuid4().hex[:8]}")
    provision(aws_env, names, REGION)
    register(names, "TAX-1", "351911111111")
    register(names, "TAX-2", "351922222222")

    assert main(["reminders", "run", "--at", "2026-12-01T09:00:00Z", "--stage", names.stage]) == 0

    out = capsys.readouterr().out
    assert f"reminders run at 2026-12-01T09:00:00Z on stage {names.stage}" in out
    assert "slots read     2 (2026-12-01T08:45 to 2026-12-01T09:00)" in out
    assert "items read     2" in out
    assert "queued         2" in out
    ids = bulk_queue_ids(names, aws_env)
    assert sorted(ids) == ["rem|TAX-1|-14|2026-12-15", "rem|TAX-2|-14|2026-12-15"]
    message = DynamoDBMessageStore(stage_tables(names, REGION), retention=lambda: None).get(ids[0])
    assert message is not None and message.priority is Priority.BULK

    assert main(["reminders", "run", "--at", "2026-12-01T09:00:00Z", "--stage", names.stage]) == 0
    assert "queued         0" in capsys.readouterr().out
    assert bulk_queue_ids(names, aws_env) == []


def test_local_targets_the_stack_make_run_started(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ResourceNames(LOCAL_STAGE)
    provision(aws_env, names, REGION)
    external_id = f"TAX-{uuid.uuid4().hex[:6]}"
    register(names, external_id, "351933333333")
    # The command points the SDKs at the emulator's port, whatever AWS_ENDPOINT_URL said; let
    # the test restore what it changes.
    for name in FAKE_AWS_CREDENTIALS:
        monkeypatch.setenv(name, FAKE_AWS_CREDENTIALS[name])
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_EMULATOR_PORT", aws_env.rsplit(":", 1)[1])

    assert main(["reminders", "run", "--at", "2026-12-01T09:00:00Z", "--local"]) == 0

    assert "on stage local" in capsys.readouterr().out
    assert f"rem|{external_id}|-14|2026-12-15" in bulk_queue_ids(names, aws_env)
