"""The page writer's mapping process inside a Celery prefork worker (whose pool processes are
daemonic: multiprocessing would refuse them children): a worker process starts one for its
first sync of several pages, keeps it, and the next sync maps its pages there; both store
the same rows and history."""

from __future__ import annotations

import pytest

from storage import reports
from tests.connectors.wise.sandbox_helpers import install

pytestmark = pytest.mark.e2e


def test_a_celery_worker_maps_pages_in_its_mapping_process(db, redis_client, sandbox_ctl, worker_factory):
    from tasks.routing import enqueue

    # the sandbox's clock stopped: both syncs see the same transfers at the same time
    sandbox_ctl.reset(seed=3, size={"wise": {"users": 1, "profiles": 1, "transfers": 400}}, scale=0)
    wise_url = sandbox_ctl.url("wise")
    first, user = install("first", wise_url, pageSize=20)
    second, _ = install("second", wise_url, pageSize=20)
    profile = str(user["profiles"][0]["id"])
    # one pool process, so both syncs run in the same one
    worker_factory.start(queues="celery,service", concurrency=1, PAYSYNC_WISE_MAPPING_PROCESS="1")

    def sync(connector: dict) -> dict:
        payload = {"connector_id": connector["id"], "profile_id": profile, "generation": connector["generation"]}
        return enqueue("wise.fetch_payments", payload).get(timeout=120)

    # when the worker syncs one connector (its mapping process started at the second page), then the other
    one, two = sync(first), sync(second)
    # then the first sync mapped its first page in the worker's process (the mapping process
    # starts with the second), and the second sync mapped pages in the one the first left (any
    # before it was ready in the worker's process: a writer never waits for it)
    assert one["pages"] == two["pages"] >= 20
    assert one["pages_mapped_apart"] < one["pages"] and two["pages_mapped_apart"] > 0
    # and both connectors hold the same rows and history
    assert len(reports.payment_rows(first["id"])) >= 400
    assert reports.payment_rows(first["id"]) == reports.payment_rows(second["id"])
    assert reports.payment_history(first["id"]) == reports.payment_history(second["id"])
