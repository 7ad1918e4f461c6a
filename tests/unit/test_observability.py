from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib.observability import (
    METRICS_NAMESPACE,
    SERVICE,
    STAGE_DIMENSION,
    logger,
    mask_phone,
    mask_resident_key,
    metrics,
    publish_metrics,
)
from chalicelib.settings import current_stage


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+351912345678", "+35********78"),
        ("16505551234", "16*******34"),
        ("1234", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(raw: str | None, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_resident_keys_hide_the_number_but_not_a_business_scoped_id() -> None:
    assert mask_resident_key("wa:351912345678") == "wa:35********78"
    assert mask_resident_key("bsuid:PT.1502576394655843") == "bsuid:PT.1502576394655843"


def test_log_lines_never_carry_a_phone_number_in_clear() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("INFO")  # whatever level earlier tests left behind
    try:
        logger.info(
            "reply to 351912345678 failed",
            extra={
                "to": "+16505551234",
                "wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            },
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "351912345678" not in stream.getvalue()
    assert "16505551234" not in stream.getvalue()
    assert line["message"] == "reply to 35********78 failed"
    assert line["wamid"].startswith("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQz")  # ids are left alone


def _published(capsys: pytest.CaptureFixture[str], name: str) -> dict:
    metrics.add_metric(name=name, unit="Count", value=1)
    publish_metrics()
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_every_flush_carries_the_service_and_the_stage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alarms (infra/alarms.py) watch metrics by namespace, service and stage: a flush
    that lost the stage (Powertools clears the dimensions after every flush and adds the
    default ones back) would leave them watching nothing."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics.clear_metrics()
    for name in ("SenderPaused", "SlaBreaches"):  # twice: after the first flush's clear too
        emf = _published(capsys, name)
        (directive,) = emf["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == METRICS_NAMESPACE
        assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [
            sorted(["service", STAGE_DIMENSION])
        ]
        assert (emf["service"], emf[STAGE_DIMENSION]) == (SERVICE, current_stage())
        assert emf[name] == [1.0]
