"""moto's server as DynamoDB behaves where our concurrency tests need it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def updates_one_at_a_time() -> Iterator[None]:
    """DynamoDB serializes the writes to an item; moto's server runs concurrent UpdateItems on
    one item without isolation (6 clients racing conditional increments capped at 20 got 21-23
    through in about 1 trial of 8). Give moto (in this process) the isolation DynamoDB has, so
    that concurrent tests check our conditions rather than moto's races."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    update_item = DynamoHandler.update_item

    def serialized(handler: DynamoHandler) -> Any:
        with lock:
            return update_item(handler)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoHandler, "update_item", serialized)
        yield
