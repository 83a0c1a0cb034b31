"""Duplicated deliveries of one task id run once, whatever path they took (tasks/executions.py)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from celery import Celery

from paysync.config import settings

pytestmark = pytest.mark.e2e

FAST_CLAIMS = {"PAYSYNC_CLAIM_SECONDS": "2"}


def bare_app() -> Celery:
    """Another application: none of paysync's configuration, no routes, no copy headers."""
    url = settings().redis_url
    return Celery("other-application", broker=url, backend=url)


def runs(r: redis.Redis, token: str) -> int:
    return int(r.get(f"paysync:smoke:{token}") or 0)


def settle(seconds: float) -> None:
    """Give every copy (and its re-checks, one claim lease later) its chance to run."""
    time.sleep(seconds)


@pytest.mark.parametrize("headers", [{"paysync_copy": "same-copy"}, {}], ids=["same header", "no header"])
def test_two_concurrent_deliveries_straight_to_user_run_once(worker_factory, redis_client, headers):
    # given a worker with two processes on 'user'
    worker_factory.start(queues="user", concurrency=2, name="pair", **FAST_CLAIMS)
    app, token, task_id = bare_app(), uuid.uuid4().hex, str(uuid.uuid4())
    # when an application sends one task id twice straight to the work queue, at once
    for _ in range(2):
        app.send_task("paysync.smoke_user", kwargs={"token": token, "sleep": 3}, task_id=task_id, queue="user",
                      headers=dict(headers))
    result = app.AsyncResult(task_id).get(timeout=60)
    # then both deliveries were taken at once, yet the work ran exactly once
    settle(4)
    assert result["queue"] == "user"
    assert runs(redis_client, token) == 1


def test_a_redis_redelivery_while_the_first_still_runs_does_not_run_it_again(worker_factory, redis_client):
    # given Redis gives an unacknowledged message to another consumer after 5 s, and a task that takes 9 s
    env = {"PAYSYNC_VISIBILITY_TIMEOUT": "5", "PAYSYNC_MAX_COUNTDOWN": "2", **FAST_CLAIMS}
    worker_factory.start(queues="user", concurrency=1, name="first", **env)
    worker_factory.start(queues="user", concurrency=1, name="second", **env)
    from tasks.routing import enqueue

    token = uuid.uuid4().hex
    result = enqueue("paysync.smoke_user", {"token": token, "sleep": 9}).get(timeout=60)
    # then the message came back while the first delivery ran, and the work still ran once
    settle(4)
    assert result["runs"] == 1
    assert runs(redis_client, token) == 1
    assert redis_client.llen(f"paysync:smoke:{token}:where") == 1


def test_the_smoke_probe_counts_one_run_per_delivery_even_when_its_body_runs_again(redis_client):
    """The probe the duplicate tests count with: a body re-run inside one delivery (after Redis
    lost an answer, tasks/outages.py) counts once; two deliveries that both run count twice."""
    from types import SimpleNamespace

    from tasks.system import _smoke

    def delivery(holder: str) -> SimpleNamespace:
        request = SimpleNamespace(paysync_claim=SimpleNamespace(holder=holder), delivery_info={}, hostname="h")
        return SimpleNamespace(name="paysync.smoke_user", request=request, interactive=True)

    token = uuid.uuid4().hex
    payload = {"token": token, "sleep": 0.0, "merchant_id": None}
    first = delivery("holder-1")
    assert _smoke(first, payload)["runs"] == 1
    assert _smoke(first, payload)["runs"] == 1  # the same delivery's body again
    assert _smoke(delivery("holder-2"), payload)["runs"] == 2  # another delivery that ran
    assert int(redis_client.get(f"paysync:smoke:{token}")) == 2
    assert redis_client.llen(f"paysync:smoke:{token}:where") == 2
