"""Liveness for load balancers, `civicchat run` and the e2e tests."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.wiring import container

health = Blueprint(__name__)


@health.route("/health", methods=["GET"])
def report_health() -> dict[str, str]:
    deps = container()
    return {"status": "ok", "stage": deps.settings.stage, "municipality": deps.definition.name}
