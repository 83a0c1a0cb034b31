"""Multi-connection with real workers: the very next job follows the switch, no restart."""

from __future__ import annotations

import time

import pytest

from storage import merchants
from tasks.routing import enqueue
from tests.accounting.xero_helpers import api_calls, sandbox_merchant

pytestmark = pytest.mark.e2e
APPS = {"user": "app-user", "company": "app-company", "service": "app-service"}


def calls(sandbox_ctl, tenant: str) -> dict[str, int]:
    return {role: api_calls(sandbox_ctl, app, tenant) for role, app in APPS.items()}


def moved(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {role for role in before if after[role] != before[role]}


def test_switching_multi_connection_moves_the_next_job_to_its_own_app(db, redis_client, sandbox_ctl,
                                                                      worker_factory):
    # given a merchant with three connections, three apps on one tenant, multi-connection off,
    # and one worker left running for the user and service queues
    m, conns = sandbox_merchant(sandbox_ctl, APPS)
    tenant = conns["user"].tenant_id
    worker_factory.start(queues="user,service", concurrency=2, name="traffic")
    # when a user download and a scheduled poll run
    before = calls(sandbox_ctl, tenant)
    user_job = enqueue("accounting.download_latest", {"merchant_id": m["id"]}).get(timeout=60)
    poll_job = enqueue("accounting.poll_latest", {"merchant_id": m["id"]}, interactive=False).get(timeout=60)
    # then both used the user connection and its app's budget
    assert user_job["app"] == poll_job["app"] == "app-user"
    assert poll_job["traffic"] == "service" and poll_job["connection_id"] == conns["user"].id
    assert moved(before, calls(sandbox_ctl, tenant)) == {"user"}
    # when an administrator turns multi-connection on (the worker keeps running)
    merchants.set_multi_connection(m["id"], True)
    before = calls(sandbox_ctl, tenant)
    poll_job = enqueue("accounting.poll_latest", {"merchant_id": m["id"]}, interactive=False).get(timeout=60)
    # then the very next service job uses the service connection: only that app's counters moved
    assert poll_job["app"] == "app-service" and poll_job["connection_id"] == conns["service"].id
    assert moved(before, calls(sandbox_ctl, tenant)) == {"service"}
    # (its bookmark is the merchant's, so it read only what changed)
    assert poll_job["xero.invoices"]["records"] < 10
    # and the user's download stays on the user app
    before = calls(sandbox_ctl, tenant)
    user_job = enqueue("accounting.download_latest", {"merchant_id": m["id"]}).get(timeout=60)
    assert user_job["app"] == "app-user" and moved(before, calls(sandbox_ctl, tenant)) == {"user"}
    # when multi-connection is turned off again, service traffic is back on the user app
    merchants.set_multi_connection(m["id"], False)
    before = calls(sandbox_ctl, tenant)
    poll_job = enqueue("accounting.poll_latest", {"merchant_id": m["id"]}, interactive=False).get(timeout=60)
    assert poll_job["app"] == "app-user" and moved(before, calls(sandbox_ctl, tenant)) == {"user"}


def test_the_scheduled_poll_fans_out_one_job_per_merchant(db, redis_client, sandbox_ctl, worker_factory):
    m1, c1 = sandbox_merchant(sandbox_ctl, {"user": "app-one"}, name="one")
    m2, c2 = sandbox_merchant(sandbox_ctl, {"user": "app-two"}, name="two")
    worker_factory.start(queues="service", concurrency=2, name="service")
    tenant = c1["user"].tenant_id
    # when beat's poll (no merchant) runs
    out = enqueue("accounting.poll_latest", {}, interactive=False).get(timeout=30)
    # then it sent one poll per merchant, each through its own connection
    assert out == {"merchants": [m1["id"], m2["id"]]}
    deadline = time.time() + 60
    while time.time() < deadline and not (api_calls(sandbox_ctl, "app-one", tenant) >= 2
                                          and api_calls(sandbox_ctl, "app-two", tenant) >= 2):
        time.sleep(0.2)
    assert api_calls(sandbox_ctl, "app-one", tenant) >= 2 and api_calls(sandbox_ctl, "app-two", tenant) >= 2
