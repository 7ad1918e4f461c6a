"""Broadcasts in DynamoDB (`BroadcastModel`), their messages' statuses (the messages'
`by_broadcast` index) and the audience scan (parallel-scan segments of the residents table).

Every change is a PutItem conditional on the version read (PynamoDB's VersionAttribute): the
job's cursor updates and a supervisor's cancel never overwrite each other."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from chalicelib.adapters.dynamodb_models import (
    BROADCAST_LISTED,
    BROADCAST_SETTLING,
    BroadcastModel,
    StageTableStore,
    conditional_save,
)
from chalicelib.domain.broadcasts import (
    Broadcast,
    BroadcastStatus,
    Estimate,
    MessageState,
    Progress,
    Report,
    params_from_json,
    params_json,
    segment_from_json,
    segment_json,
)
from chalicelib.domain.messages import DeliveryStatus
from chalicelib.domain.residents import Resident


class DynamoDBBroadcastStore(StageTableStore):
    @property
    def _model(self) -> type[BroadcastModel]:
        return self._tables.broadcasts

    def add(self, broadcast: Broadcast) -> None:
        item = to_item(self._model, broadcast)
        item.save(condition=self._model.broadcast_id.does_not_exist())

    def get(self, broadcast_id: str) -> Broadcast | None:
        try:
            return from_item(self._model.get(broadcast_id, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def save(self, broadcast: Broadcast) -> Broadcast | None:
        item = to_item(self._model, broadcast)
        # Conditional on the version read; the item holds the stored version (+ 1) afterwards.
        return from_item(item) if conditional_save(item) else None

    def recent(self, limit: int = 50) -> list[Broadcast]:
        items = self._model.by_created.query(
            BROADCAST_LISTED, scan_index_forward=False, limit=limit
        )
        return [from_item(item) for item in items]

    def settling(self) -> list[Broadcast]:
        return [from_item(item) for item in self._model.settling.query(BROADCAST_SETTLING)]

    def message_states(self, broadcast_id: str) -> list[MessageState]:
        messages = self._tables.messages
        return [
            MessageState(
                status=DeliveryStatus(item.status),
                error_code=None if item.error_code is None else int(item.error_code),
                error_title=item.error_title,
                status_at=item.status_at,
            )
            for item in messages.by_broadcast.query(broadcast_id)
        ]


class DynamoDBAudienceSource(StageTableStore):
    def scan_segment(self, segment: int, total_segments: int) -> Iterator[Resident]:
        model = self._tables.residents
        if total_segments == 1:
            items = model.scan()
        else:
            items = model.scan(segment=segment, total_segments=total_segments)
        for item in items:
            yield item.to_resident()


# --- the item ---------------------------------------------------------------------------------


def to_item(model: type[BroadcastModel], broadcast: Broadcast) -> BroadcastModel:
    # Domain version 0 = never stored: PynamoDB then makes the save conditional on the item not
    # existing yet; otherwise on the version read.
    version = {"version": broadcast.version} if broadcast.version else {}
    return model(
        broadcast.id,
        name=broadcast.name,
        template=broadcast.template,
        category=broadcast.category,
        params=params_json(broadcast.params),
        segment=segment_json(broadcast.segment),
        status=broadcast.status.value,
        send_at=broadcast.send_at,
        created_by=broadcast.created_by,
        created_at=broadcast.created_at,
        started_at=broadcast.started_at,
        finished_at=broadcast.finished_at,
        cancelled_by=broadcast.cancelled_by,
        cancel_reason=broadcast.cancel_reason,
        lease_until=broadcast.lease_until,
        estimate=_estimate_json(broadcast.estimate),
        total_segments=broadcast.total_segments,
        next_segment=broadcast.next_segment,
        queued=broadcast.queued,
        progress=None if broadcast.progress is None else dataclasses.asdict(broadcast.progress),
        report=None if broadcast.report is None else _report_json(broadcast.report),
        settling_marker=BROADCAST_SETTLING if broadcast.settling else None,
        listed_marker=BROADCAST_LISTED,
        **version,
    )


def from_item(item: BroadcastModel) -> Broadcast:
    return Broadcast(
        id=item.broadcast_id,
        name=item.name,
        template=item.template,
        category=item.category,
        params=params_from_json(item.params),
        segment=segment_from_json(item.segment),
        status=BroadcastStatus(item.status),
        send_at=item.send_at,
        created_by=item.created_by,
        created_at=item.created_at,
        started_at=item.started_at,
        finished_at=item.finished_at,
        cancelled_by=item.cancelled_by,
        cancel_reason=item.cancel_reason,
        lease_until=item.lease_until,
        estimate=_estimate(item.estimate),
        total_segments=int(item.total_segments),
        next_segment=int(item.next_segment or 0),
        queued=int(item.queued or 0),
        progress=None if item.progress is None else Progress(**item.progress),
        report=None if item.report is None else _report(item.report),
        version=int(item.version or 0),
    )


def _estimate_json(estimate: Estimate) -> dict[str, Any]:
    return {
        "audience": estimate.audience,
        "by_language": dict(estimate.by_language),
        "category": estimate.category,
        "price_per_message": str(estimate.price_per_message),
        "currency": estimate.currency,
        "estimated_cost": str(estimate.estimated_cost),
        "daily_limit": estimate.daily_limit,
        "days_needed": estimate.days_needed,
        "scanned": estimate.scanned,
    }


def _estimate(value: Mapping[str, Any]) -> Estimate:
    return Estimate(
        audience=int(value["audience"]),
        by_language=dict(value.get("by_language") or {}),
        category=value["category"],
        price_per_message=Decimal(value["price_per_message"]),
        currency=value["currency"],
        estimated_cost=Decimal(value["estimated_cost"]),
        daily_limit=value.get("daily_limit"),
        days_needed=int(value["days_needed"]),
        scanned=int(value.get("scanned") or 0),
    )


def _report_json(report: Report) -> dict[str, Any]:
    return {
        "reached": report.reached,
        "delivered": report.delivered,
        "read": report.read,
        "failed": report.failed,
        "failed_by_error": dict(report.failed_by_error),
        "skipped_by_reason": dict(report.skipped_by_reason),
        "cost": str(report.cost),
        "currency": report.currency,
    }


def _report(value: Mapping[str, Any]) -> Report:
    return Report(
        reached=int(value["reached"]),
        delivered=int(value["delivered"]),
        read=int(value["read"]),
        failed=int(value["failed"]),
        failed_by_error=dict(value.get("failed_by_error") or {}),
        skipped_by_reason=dict(value.get("skipped_by_reason") or {}),
        cost=Decimal(value["cost"]),
        currency=value["currency"],
    )
