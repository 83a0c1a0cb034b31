"""Jobs sent by name reach the queue of their kind of traffic, exactly once."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from celery import Celery

from paysync import crashpoints
from paysync.config import settings

pytestmark = pytest.mark.e2e


def bare_app() -> Celery:
    """An application with none of paysync's configuration: no routes, no queues."""
    url = settings().redis_url
    return Celery("other-application", broker=url, backend=url)


def runs(r: redis.Redis, token: str) -> int:
    return int(r.get(f"paysync:smoke:{token}") or 0)


@pytest.mark.parametrize("task,queue", [("paysync.smoke_user", "user.interactive"),
                                        ("paysync.smoke_company", "company"),
                                        ("paysync.smoke_service", "service")])
def test_job_sent_by_name_from_bare_app_runs_on_its_traffic_queue(worker_factory, redis_client, task, queue):
    # given a worker on the default queue and one on every traffic queue
    worker_factory.start(queues="celery", concurrency=1, name="forwarder")
    worker_factory.start(queues="user,company,service", concurrency=1, name="traffic")
    token = uuid.uuid4().hex
    # when another application sends the job by name
    result = bare_app().send_task(task, kwargs={"token": token}).get(timeout=30)
    # then it ran once, on the queue of its traffic and class, in the traffic worker
    assert result["queue"] == queue
    assert result["worker"].startswith("traffic@")
    assert runs(redis_client, token) == 1


def test_crash_between_forward_and_ack_still_runs_the_work_once(worker_factory, redis_client):
    # given the forwarder will die right after forwarding, before acknowledging
    crashpoints.arm("routing.after_forward", times=1, scope="process")
    worker_factory.start(queues="celery,user", concurrency=1, name="both")
    token = uuid.uuid4().hex
    # when a bare application sends a job
    async_result = bare_app().send_task("paysync.smoke_user", kwargs={"token": token})
    result = async_result.get(timeout=60)
    # then the original came back and was forwarded again (two copies on 'user') ...
    assert redis_client.get("paysync:crash:routing.after_forward") is None, "the crash point never fired"
    # ... and still the work ran exactly once, even after every copy had its chance
    time.sleep(3)
    assert result["queue"] == "user.interactive"
    assert runs(redis_client, token) == 1
    assert redis_client.llen(f"paysync:smoke:{token}:where") == 1


def test_pool_process_killed_mid_task_runs_the_task_again(worker_factory, redis_client):
    # given the pool process will be killed with SIGKILL in the middle of the task
    crashpoints.arm("smoke.mid_task", times=1, scope="process")
    worker_factory.start(queues="user", concurrency=1)
    token = uuid.uuid4().hex
    from tasks.routing import enqueue

    # when the job runs
    result = enqueue("paysync.smoke_user", {"token": token}).get(timeout=60)
    # then the crash happened, the message came back, and the task completed once
    assert redis_client.get("paysync:crash:smoke.mid_task") is None
    assert result["runs"] == 1
    assert runs(redis_client, token) == 1


def test_whole_worker_killed_has_its_task_redelivered(worker_factory, redis_client):
    # given a short visibility timeout, and the whole worker (parent and pool) killed mid-task
    env = {"PAYSYNC_VISIBILITY_TIMEOUT": "6", "PAYSYNC_MAX_COUNTDOWN": "2"}
    crashpoints.arm("smoke.mid_task", times=1, scope="worker")
    first = worker_factory.start(queues="user", concurrency=1, name="doomed", **env)
    token = uuid.uuid4().hex
    from tasks.routing import enqueue

    pending = enqueue("paysync.smoke_user", {"token": token})
    deadline = time.time() + 30
    while first.alive() and time.time() < deadline:
        time.sleep(0.2)
    assert not first.alive(), "the worker should have been killed by the crash point"
    assert runs(redis_client, token) == 0
    # when another worker starts, the unacknowledged message comes back after the timeout
    worker_factory.start(queues="user", concurrency=1, name="rescuer", **env)
    result = pending.get(timeout=60)
    # then the task ran to completion exactly once
    assert result["worker"].startswith("rescuer@")
    assert runs(redis_client, token) == 1


def test_bad_payload_is_refused_naming_the_field_before_any_work(worker_factory, redis_client):
    worker_factory.start(queues="celery,user", concurrency=1)
    token = uuid.uuid4().hex
    # when another application sends a payload with a wrong and an unknown field
    result = bare_app().send_task("paysync.smoke_user", kwargs={"token": token, "sleep": "soon", "colour": 1})
    with pytest.raises(Exception) as err:
        result.get(timeout=30)
    # then the error names each field, and the task body never ran
    assert "sleep" in str(err.value) and "colour" in str(err.value)
    assert runs(redis_client, token) == 0
