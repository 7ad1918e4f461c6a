"""schemathesis against /api/v1/openapi.json, served by the real app over real HTTP (Chalice's
local server, as `civicchat run` serves it) with DynamoDB and SQS on moto.

schemathesis runs as its command line does (its pytest plugin does not run on pytest 9):
examples, boundary values ("coverage") and random fuzzing, schema-valid and schema-breaking,
for every operation. No answer may be a 5xx; every answer must match the document (status
codes, content types, headers, bodies); requests that break the schema must be refused (4xx);
an operation that needs a key must refuse to work without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.config import Config
from chalice.local import create_local_server

from chalicelib.http import api_v1
from tests.app.api_v1_support import NOW, make_key
from tests.app.conftest import AppHarness

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
EXAMPLES_PER_OPERATION = 40
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
        # Not `unsupported_method`: which status an unrouted method gets (405 from Chalice,
        # 501 for TRACE from its local server, 403 from API Gateway) is the host's, not ours.
    ]
)


@pytest.fixture
def served_api(harness: AppHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(api_v1, "_now", lambda: NOW)
    from app import app

    config = Config.create(
        chalice_stage="dev",
        chalice_app=app,
        project_dir=str(PROJECT_DIR),
        config_from_disk=json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text()),
    )
    server = create_local_server(app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_the_api_does_what_its_document_says(
    served_api: str, harness: AppHarness, tmp_path: Path
) -> None:
    scopes = frozenset(
        {"reminders:write", "notifications:write", "status:read", "broadcasts:write"}
    )
    key = make_key(harness.names, "schemathesis", scopes)
    report = tmp_path / "events.ndjson"
    config = tmp_path / "schemathesis.toml"
    # Methods the document does not list are tried too, except TRACE and QUERY: Chalice's local
    # server answers those itself (501) and API Gateway never passes them to the app.
    config.write_text(
        "[phases.coverage]\n"
        'unexpected-methods = ["get", "put", "post", "delete", "options", "patch"]\n'
    )

    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{served_api}/api/v1/openapi.json",
            "--url",
            served_api,
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--workers",
            "1",  # moto's DynamoDB fails concurrent transactions on one table
            "--seed",
            "20261123",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "SCHEMATHESIS_HOOKS": str(HOOKS)},
        cwd=tmp_path,
    )

    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    statuses = _response_statuses(report)
    print(output[-1500:])
    print(f"schemathesis: {sum(statuses.values())} requests, by status: {dict(statuses)}")
    assert statuses, "schemathesis sent nothing"
    assert not [status for status in statuses if status >= 500]
    assert {200, 201, 202} <= set(statuses)  # the happy paths were reached too


def _response_statuses(report: Path) -> Counter[int]:
    """Every response schemathesis received, by HTTP status, from its NDJSON event stream."""
    statuses: Counter[int] = Counter()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            response = value.get("response")
            if isinstance(response, dict) and isinstance(response.get("status_code"), int):
                statuses[response["status_code"]] += 1
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for line in report.read_text().splitlines():
        walk(json.loads(line))
    return statuses
