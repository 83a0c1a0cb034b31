"""Retry policies declared on tasks, applied by the base class, against real workers.

The probes (``tests/support/probe_tasks.py``) record each run (its attempt number, task id,
copy id and Redis time) and fail as their payload says.
"""

from __future__ import annotations

import json
import uuid

import pytest

from paysync.clients.http import ProviderError
from paysync_dev.devstack import wait_until
from tasks import executions
from tasks.contract import RetryPolicy, provider_unavailable
from tasks.routing import enqueue
from tests.support import probe_tasks  # noqa: F401  (registers the probes in this process too)

INCLUDE = ["--include", "tests.support.probe_tasks"]


def runs(redis_client, token: str) -> list[dict]:
    return [json.loads(x) for x in redis_client.lrange(f"paysync:probe:{token}", 0, -1)]


def test_a_policy_counts_attempts_and_waits_its_backoff_capped_by_the_longest_countdown():
    policy = RetryPolicy(on=provider_unavailable, attempts=6, backoff=10.0, factor=2.0, cap=300.0)
    assert [policy.countdown(n) for n in range(1, 7)] == [10, 20, 40, 80, 160, 300]
    assert policy.matches(ProviderError("xero", 503, "down", retriable=True))
    assert not policy.matches(ProviderError("xero", 400, "refused"))
    assert not policy.matches(ValueError("not a provider"))
    assert RetryPolicy(on=(KeyError,), attempts=2).matches(KeyError("k"))
    with pytest.raises(ValueError):
        RetryPolicy(on=(KeyError,), attempts=0)


@pytest.mark.e2e
def test_retries_keep_the_task_id_count_attempts_and_end_as_declared(db, worker_factory, redis_client):
    # given a worker whose longest countdown is 1 s (the give-up probe declares 30 s waits)
    worker_factory.start(queues="user", concurrency=1, extra_args=INCLUDE, PAYSYNC_MAX_COUNTDOWN="1")

    # when a job fails twice with a retriable error, then succeeds
    ok = uuid.uuid4().hex
    result = enqueue("paysync.probe_retry", {"token": ok, "fail": 2})
    # then the same task id ran three times, as attempts 1, 2, 3, each a new copy, and its
    # result is the third run's
    assert result.get(timeout=60) == {"runs": 3, "attempt": 3}
    seen = runs(redis_client, ok)
    assert [r["attempt"] for r in seen] == [1, 2, 3]
    assert {r["task_id"] for r in seen} == {result.id}
    assert len({r["copy"] for r in seen}) == 3
    # after the declared backoff: 0.5 s, then 1 s
    gaps = [b["at"] - a["at"] for a, b in zip(seen, seen[1:], strict=False)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0
    # the claim is finished in after_return, just after the result is stored (Celery's order)
    wait_until(lambda: executions.is_done(result.id), 10, "the execution claim to be finished")

    # when a job keeps failing, it fails after the policy's attempts with the last failure
    spent = uuid.uuid4().hex
    with pytest.raises(Exception, match="run 3 fails"):
        enqueue("paysync.probe_retry", {"token": spent, "fail": 10}).get(timeout=60)
    assert [r["attempt"] for r in runs(redis_client, spent)] == [1, 2, 3]

    # when the failure is not one the policy names, it fails at once
    refused = uuid.uuid4().hex
    with pytest.raises(Exception, match="run 1 fails"):
        enqueue("paysync.probe_retry", {"token": refused, "fail": 10, "retriable": False}).get(timeout=30)
    assert len(runs(redis_client, refused)) == 1

    # when a policy has a give-up, its value is the job's result once the attempts are spent;
    # its 30 s waits were capped at 1 s; budget waits on the way spent no attempt
    given = uuid.uuid4().hex
    out = enqueue("paysync.probe_retry_give_up", {"token": given, "fail": 10, "budget_waits": 2}).get(timeout=60)
    assert out["gave_up"] == 3 and "run 5 fails" in out["failure"]
    seen = runs(redis_client, given)
    assert [r["attempt"] for r in seen] == [1, 1, 1, 2, 3]
    assert seen[-1]["at"] - seen[2]["at"] < 5
