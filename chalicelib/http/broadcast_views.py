"""Broadcasts as JSON, the same for the console (`/console/api/broadcasts`) and the back-office
API (`/api/v1/broadcasts`); the schemas are in `openapi_broadcasts`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.domain.bot.definition import DEFAULT_CURRENCY, MunicipalityDefinition
from chalicelib.domain.broadcasts import (
    Broadcast,
    Estimate,
    Progress,
    params_json,
    segment_json,
    template_refusal,
)
from chalicelib.http.console_views import time_json

MONEY_PLACES = Decimal("0.0001")


def broadcast_json(broadcast: Broadcast) -> dict[str, Any]:
    figures = broadcast.progress or Progress(audience=broadcast.expected_audience())
    report = broadcast.report
    return {
        "id": broadcast.id,
        "name": broadcast.name,
        "template": broadcast.template,
        "category": broadcast.category,
        "params": params_json(broadcast.params),
        "segment": segment_json(broadcast.segment),
        "status": broadcast.status.value,
        "send_at": time_json(broadcast.send_at),
        "created_by": broadcast.created_by,
        "created_at": time_json(broadcast.created_at),
        "started_at": time_json(broadcast.started_at),
        "finished_at": time_json(broadcast.finished_at),
        "cancelled_by": broadcast.cancelled_by,
        "cancel_reason": broadcast.cancel_reason,
        "estimate": {
            "audience": broadcast.estimate.audience,
            "estimated_cost": money(broadcast.estimate.estimated_cost),
            "currency": broadcast.estimate.currency,
        },
        "progress": {
            "audience": figures.audience,
            "queued": figures.queued,
            "sent": figures.sent,
            "delivered": figures.delivered,
            "read": figures.read,
            "failed": figures.failed,
            "skipped": figures.skipped,
        },
        "report": None
        if report is None
        else {
            "reached": report.reached,
            "delivered": report.delivered,
            "read": report.read,
            "failed": report.failed,
            "failed_by_error": dict(report.failed_by_error),
            "skipped_by_reason": dict(report.skipped_by_reason),
            "cost": money(report.cost),
            "currency": report.currency,
        },
    }


def preview_json(figures: Estimate) -> dict[str, Any]:
    return {
        "audience": figures.audience,
        "by_language": dict(figures.by_language),
        "category": figures.category,
        "price_per_message": money(figures.price_per_message),
        "currency": figures.currency,
        "estimated_cost": money(figures.estimated_cost),
        "daily_limit": figures.daily_limit,
        "days_needed": figures.days_needed,
    }


def options_json(definition: MunicipalityDefinition) -> dict[str, Any]:
    """What the console's form offers: templates (with why one may not be broadcast), topics
    (labelled in the default language), languages, the limit and the currency."""
    policy = definition.broadcasts
    templates = []
    for template in definition.templates.values():
        why = template_refusal(template, policy)
        templates.append(
            {
                "name": template.name,
                "category": template.category,
                "languages": list(template.languages),
                "allowed": why is None,
                "why": why,
            }
        )
    default = definition.default_language
    return {
        "templates": templates,
        "topics": [
            {"id": topic.id, "label": topic.label.get(default, topic.id)}
            for topic in definition.topics.values()
        ],
        "languages": list(definition.languages),
        "daily_limit": policy.daily_limit if policy else None,
        "currency": policy.currency if policy else DEFAULT_CURRENCY,
    }


def money(amount: Decimal) -> float:
    return float(amount.quantize(MONEY_PLACES))
