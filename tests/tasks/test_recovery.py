"""Bounded recovery: a killed worker's job runs again within ``settings().recovery_seconds``;
a job running longer than the visibility timeout is not handed out twice; beat fails over
within 60 s."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from paysync import crashpoints
from paysync.config import settings
from paysync_dev.devstack import wait_until
from tests.tasks.test_routing import runs

pytestmark = pytest.mark.e2e

# time-scaled: a 6 s visibility timeout stands for the default 300 s
SCALED = {"PAYSYNC_VISIBILITY_TIMEOUT": "6", "PAYSYNC_MAX_COUNTDOWN": "2"}


def scaled_recovery() -> int:
    os.environ.update(SCALED)
    settings.cache_clear()
    try:
        return settings().recovery_seconds
    finally:
        for key in SCALED:
            del os.environ[key]
        settings.cache_clear()


def test_default_recovery_is_minutes_not_hours():
    assert settings().visibility_timeout == 300 and settings().recovery_seconds <= 6 * 60
    assert settings().max_countdown < settings().visibility_timeout


def test_a_job_of_a_worker_killed_as_a_whole_runs_again_within_the_recovery_time(worker_factory, redis_client):
    # given two workers, and whichever takes the job killed as a whole (parent and pool) mid-job
    crashpoints.arm("smoke.mid_task", times=1, scope="worker")
    workers = [worker_factory.start(queues="user", concurrency=1, name=name, **SCALED) for name in ("one", "two")]
    token = uuid.uuid4().hex
    from tasks.routing import enqueue

    pending = enqueue("paysync.smoke_user", {"token": token}, interactive=True)
    dead = wait_until(lambda: [w for w in workers if not w.alive()], 30, "the crash point to kill a worker")[0]
    killed = time.time()
    # then the other worker runs it, once, within the documented recovery time
    result = pending.get(timeout=60)
    took = time.time() - killed
    assert not result["worker"].startswith(f"{dead.name}@")
    assert runs(redis_client, token) == 1
    assert took <= scaled_recovery() + 3, f"recovered in {took:.1f}s, documented {scaled_recovery()}s"


def restore_mutex_expiry() -> int:
    """The expiry a restorer of the SCALED workers sets on kombu's restore mutex (300 s unless configured)."""
    code = "import celeryconfig; print(celeryconfig.broker_transport_options.get('unacked_mutex_expire', 300))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **SCALED}, capture_output=True, text=True,
                         timeout=60, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_a_restore_mutex_left_behind_delays_recovery_by_one_sweep_at_most(worker_factory, redis_client):
    # given the broker's restore mutex left held, with the expiry these workers' restorer gives it
    # (a restorer killed mid-sweep, or Redis killed while one swept: the key comes back from its
    # append-only file)
    crashpoints.arm("smoke.mid_task", times=1, scope="worker")
    workers = [worker_factory.start(queues="user", concurrency=1, name=name, **SCALED) for name in ("one", "two")]
    token = uuid.uuid4().hex
    from tasks.routing import enqueue

    pending = enqueue("paysync.smoke_user", {"token": token}, interactive=True)
    wait_until(lambda: [w for w in workers if not w.alive()], 30, "the crash point to kill a worker")
    redis_client.set("unacked_mutex", "a-restorer-that-died", ex=restore_mutex_expiry())
    killed = time.time()
    # then the job still runs again within the recovery time plus one sweep
    result = pending.get(timeout=60)
    took = time.time() - killed
    assert result["runs"] == 1
    os.environ.update(SCALED)
    settings.cache_clear()
    try:
        sweep = settings().restore_interval
    finally:
        for key in SCALED:
            del os.environ[key]
        settings.cache_clear()
    assert took <= scaled_recovery() + sweep + 3, f"recovered in {took:.1f}s"


def test_a_job_running_longer_than_the_visibility_timeout_is_not_handed_out_twice(worker_factory, redis_client):
    # given two idle-capable workers and a job three times as long as the visibility timeout
    workers = [worker_factory.start(queues="user", concurrency=1, name=name, **SCALED) for name in ("first", "second")]
    token = uuid.uuid4().hex
    from tasks.routing import enqueue

    # when it runs, then it is delivered once: its heartbeat keeps the message from coming back
    pending = enqueue("paysync.smoke_user", {"token": token, "sleep": 18})
    assert pending.get(timeout=60)["runs"] == 1
    time.sleep(4)
    deliveries = sum(w.output().count(f"[{pending.id}] received") for w in workers)
    assert deliveries == 1, "\n".join(w.output()[-2000:] for w in workers)
    assert runs(redis_client, token) == 1


def test_beat_fails_over_within_60_seconds(worker_factory, redis_client):
    env = {"PAYSYNC_PARKED_SWEEP_SECONDS": "1"}
    sent = "Sending due task redispatch-parked-jobs"
    # given a beat that sends, and a second one waiting for the lock
    first = worker_factory.beat(name="beat-first", **env)
    wait_until(lambda: sent in first.output(), 60, "the first beat to send")
    second = worker_factory.beat(name="beat-second", **env)
    time.sleep(3)
    assert sent not in second.output()
    # when the first beat is killed with SIGKILL
    first.kill()
    killed = time.time()
    # then the second one sends within 60 s
    wait_until(lambda: sent in second.output(), 70, "the second beat to take over")
    assert time.time() - killed < 60
