"""The receiver under a PostgreSQL outage: 503 (Wise delivers again), never a lost delivery."""

from __future__ import annotations

from typing import Any

import pytest

from paysync.config import settings
from paysync_dev.devstack import free_port
from storage.db import close_pool, fetch_all
from tests.webhooks.conftest import Receiver, event, later, signed


def test_a_delivery_while_postgresql_is_unreachable_is_answered_503_then_stored_when_sent_again(
        receiver: Receiver, connector: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    # given the connector's key is known, and then PostgreSQL stops answering
    assert receiver.post(connector["id"], *signed(event(50000002, 30000001, "processing", later(5))),
                         "d-0").status_code == 200
    working = settings().database_url
    monkeypatch.setenv("DATABASE_URL", f"postgresql://paysync:secret@127.0.0.1:{free_port()}/paysync")
    settings.cache_clear()
    close_pool()
    try:
        # when Wise delivers an event
        down = receiver.post(connector["id"], body, sig, "d-1")
    finally:
        monkeypatch.setenv("DATABASE_URL", working)
        settings.cache_clear()
        close_pool()
    # then the answer is 503 with Retry-After (so Wise re-delivers), naming no password
    assert down.status_code == 503, down.get_data(as_text=True)
    assert down.headers["Retry-After"] == "30" and "secret" not in down.get_data(as_text=True)
    assert [r["delivery_id"] for r in fetch_all("select delivery_id from webhooks")] == ["d-0"]
    # and Wise's next attempt, once PostgreSQL is back, is stored
    again = receiver.post(connector["id"], body, sig, "d-1")
    assert again.status_code == 200 and again.get_json()["status"] == "ok"
