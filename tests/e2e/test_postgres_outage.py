"""PostgreSQL stopped for 20 s while payouts are sent by name: every one completes, exactly once.

The test runs its own PostgreSQL cluster (``devstack.PrivatePostgres``), so stopping it
disturbs no other session; real workers, real Redis, Wise faked by the sandbox.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from paysync.config import settings
from paysync_dev.devstack import PrivatePostgres
from storage.db import close_pool
from tests.connectors.wise.sandbox_helpers import (
    allow_payouts,
    cycle_inline,
    install,
    pick,
    transfers_with_cti,
)
from tests.tasks.test_routing import bare_app

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 20


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A database on a cluster of this test's own, exported as DATABASE_URL while the test runs."""
    cluster = PrivatePostgres().init()
    cluster.start()
    before = os.environ.get("DATABASE_URL")
    try:
        os.environ["DATABASE_URL"] = cluster.create_database("paysync_outage")
        settings.cache_clear()
        close_pool()
        yield cluster
    finally:
        close_pool()
        if before is not None:
            os.environ["DATABASE_URL"] = before
        settings.cache_clear()
        cluster.destroy()


def test_postgresql_stopped_for_20s_during_a_payout_stream_loses_none_and_pays_each_once(
        private_pg, redis_client, sandbox_ctl, worker_factory):
    wise_url = sandbox_ctl.url("wise")
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    conn, user = install("acme", wise_url, pageSize=100)
    cycle_inline(conn["id"])
    business = str(user["profiles"][1]["id"])
    balance, recipient = pick(conn["id"], business)
    allow_payouts(conn["merchant_id"])
    worker_factory.start(queues="celery,user", concurrency=2)
    app = bare_app()

    def send(i: int):
        return app.send_task("wise.create_payout", kwargs={
            "connector_id": conn["id"], "idempotency_key": f"outage-{i}-{uuid.uuid4()}", "source_account": balance,
            "destination_account": recipient, "amount": 100 + i, "asset": "EUR/2"})

    # given ten payouts sent before the outage
    sent = [send(i) for i in range(10)]
    time.sleep(1)
    # when PostgreSQL stops for 20 s while ten more are sent, and ten more after it is back
    private_pg.stop()
    stopped = time.time()
    for i in range(10, 20):
        sent.append(send(i))
        time.sleep(OUTAGE_SECONDS / 10)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.time() - stopped)))
    private_pg.start()
    close_pool()  # this test process's own connections died with the server
    sent += [send(i) for i in range(20, 30)]
    # then every payout completes (none ends FAILURE) ...
    results = [r.get(timeout=180) for r in sent]
    assert all(r.successful() for r in sent)
    from storage import wise as store

    rows = [store.get_initiation(r["initiation_id"]) for r in results]
    assert len({row["id"] for row in rows}) == 30
    # ... each with exactly one transfer at Wise, funded once
    for i, row in enumerate(rows):
        found = transfers_with_cti(wise_url, user["token"], business, str(row["customer_transaction_id"]))
        assert len(found) == 1, (i, row)
        assert row["transfer_id"] == str(found[0]["id"])
        detail = requests.get(f"{wise_url}/_control/transfers/{found[0]['id']}", timeout=10).json()
        assert detail["funded"], (i, row)
