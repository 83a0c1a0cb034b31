"""The shared budgets as jobs see them: priority, reserve, parking, multi-connection routing."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from paysync_dev.devstack import wait_until
from storage import connections, merchants, parked_jobs
from tasks.routing import enqueue
from tests.support import probe_tasks  # noqa: F401  (registers the probes in this process too)

pytestmark = pytest.mark.e2e
INCLUDE = ["--include", "tests.support.probe_tasks"]


def records(redis_client, token):
    return [json.loads(x) for x in redis_client.lrange(f"paysync:probe:{token}", 0, -1)]




def test_interactive_job_overtakes_queued_batch_jobs_and_gets_its_reserved_share(db, worker_factory, redis_client):
    # given a bucket of 10 calls per 20 s with 30% reserved for interactive calls,
    # and a queue full of slow batch jobs that use up the batch share (7 calls)
    token = uuid.uuid4().hex
    worker_factory.start(queues="user", concurrency=1, extra_args=INCLUDE)
    bucket = {"token": token, "limit": 10, "seconds": 20, "reserve": 0.3}
    for job in range(20):
        enqueue("paysync.probe_budget", {**bucket, "job": job, "sleep": 0.25}, interactive=False)
    wait_until(lambda: len(records(redis_client, token)) >= 2, 30, "batch work to start")
    # when an interactive job is sent behind them
    sent = time.time()
    enqueue("paysync.probe_budget", {**bucket, "job": 99, "sleep": 0}, interactive=True)
    # then it starts ahead of the batch jobs queued before it ...
    wait_until(lambda: any(r["job"] == 99 for r in records(redis_client, token)), 30, "the interactive job")
    got = records(redis_client, token)
    position = [r["job"] for r in got].index(99)
    assert position <= 4, f"interactive job ran after {position} batch jobs: {[r['job'] for r in got]}"
    # ... and takes from the reserved share, long before the 20 s window frees anything
    interactive = next(r for r in got if r["job"] == 99)
    assert interactive["started"] - sent < 3.0
    # while batch work stopped once the window held its share (7 of 10 calls, the
    # interactive one included): the other 3 stay for interactive calls
    time.sleep(1.5)
    got = records(redis_client, token)
    first = got[0]["granted_at"]
    in_window = [r for r in got if r["granted_at"] < first + 20]
    assert len(in_window) == 7
    assert len([r for r in in_window if not r["interactive"]]) == 6


def test_job_facing_a_spent_budget_is_parked_holds_nothing_and_runs_when_it_returns(db, worker_factory,
                                                                                    redis_client):
    # given a "daily" budget of one call per 8 s, already spent, and waits over 1 s park
    token = uuid.uuid4().hex
    env = {"PAYSYNC_SHORT_WAIT": "1", "PAYSYNC_PARKED_SWEEP_SECONDS": "1"}
    worker_factory.start(queues="user,service", concurrency=1, extra_args=INCLUDE, **env)
    bucket = {"token": token, "limit": 1, "seconds": 8, "sleep": 0}
    enqueue("paysync.probe_budget", {**bucket, "job": 1}).get(timeout=30)
    # when the next job needs the budget
    enqueue("paysync.probe_budget", {**bucket, "job": 2})
    row = wait_until(lambda: parked_jobs.waiting(), 20, "the job to be parked")[0]
    # then it is parked in PostgreSQL with its not-before time ...
    assert row["task_name"] == "paysync.probe_budget" and row["payload"]["job"] == 2
    # ... holding no unacknowledged message and no worker (a smoke job runs at once)
    wait_until(lambda: redis_client.hlen("unacked") == 0, 10, "the message to be acknowledged")
    enqueue("paysync.smoke_user", {"token": token}).get(timeout=10)
    assert [r["job"] for r in records(redis_client, token)] == [1]
    # and once beat's sweeper sees the budget back, it runs exactly once
    worker_factory.beat(**env)
    wait_until(lambda: len(records(redis_client, token)) == 2, 40, "the parked job to run")
    first, second = records(redis_client, token)
    assert second["granted_at"] - first["granted_at"] >= 8
    time.sleep(2)
    assert len(records(redis_client, token)) == 2
    assert parked_jobs.waiting() == []


def test_multi_connection_switch_applies_to_the_very_next_job(db, worker_factory):
    # given a merchant with three connections from three apps, and a running worker
    m = merchants.create("acme")
    ids = {role: connections.add(m["id"], role, f"app-{role}", {"client_secret": "s"}, tenant_id="tenant-1",
                                 status="active").id for role in ("user", "company", "service")}
    worker = worker_factory.start(queues="user,company,service", concurrency=1, extra_args=INCLUDE)

    def route() -> dict[str, tuple[int, str]]:
        out = {}
        for traffic in ("user", "company", "service"):
            r = enqueue(f"paysync.probe_connection_{traffic}", {"merchant_id": m["id"]}).get(timeout=30)
            out[traffic] = (r["connection"], r["bucket"])
        return out

    # when multi-connection is off, every kind of traffic uses the primary connection's budget
    off = route()
    assert {c for c, _ in off.values()} == {ids["user"]}
    assert {b for _, b in off.values()} == {"xero:app-user:tenant-1"}
    # when an administrator turns it on, the next jobs use their own connection and bucket
    merchants.set_multi_connection(m["id"], True)
    on = route()
    assert {t: c for t, (c, _) in on.items()} == ids
    assert on["company"][1] == "xero:app-company:tenant-1"
    # and a role without a usable connection falls back to the primary one
    connections.set_status(ids["service"], "disabled")
    fallback = enqueue("paysync.probe_connection_service", {"merchant_id": m["id"]}).get(timeout=30)
    assert fallback["connection"] == ids["user"] and fallback["fallback"] is True
    # and turning it off again applies at once too, all with the same worker running
    merchants.set_multi_connection(m["id"], False)
    assert {c for c, _ in route().values()} == {ids["user"]}
    assert worker.alive()
