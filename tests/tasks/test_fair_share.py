"""How workers take jobs (tasks/dispatch.py): a fair share between merchants on each queue, and
interactive jobs that never wait for a process held by batch work."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from paysync import crashpoints
from paysync_dev.devstack import wait_until
from tasks import dispatch
from tasks.routing import enqueue

pytestmark = pytest.mark.e2e


def runs(redis_client, token: str) -> int:
    return int(redis_client.get(f"paysync:smoke:{token}") or 0)


def test_worker_queues_name_both_queues_of_a_traffic_interactive_first():
    assert dispatch.worker_queues("user") == "user.interactive,user"
    assert dispatch.worker_queues("celery,user,service") == "celery,user.interactive,user,service.interactive,service"
    assert dispatch.worker_queues("user.interactive") == "user.interactive"


def queued(redis_client, key: str) -> list[tuple[str, str | None]]:
    """(task id, admission header) of the messages in one of the broker's lists, oldest first."""
    out = []
    for raw in reversed(redis_client.lrange(key, 0, -1)):
        headers = json.loads(raw)["headers"]
        out.append((headers["id"], headers.get(dispatch.ADMISSION_HEADER)))
    return out


def test_a_merchant_with_nothing_waiting_goes_ahead_and_a_backlog_is_released_in_order(redis_client):
    # given merchant 1's four batch jobs sent (no worker runs)
    ones = [enqueue("paysync.smoke_user", {"token": f"one-{i}", "merchant_id": 1}, interactive=False).id
            for i in range(4)]
    # then its first waits in the lane of merchants with nothing waiting (priority 6), its second
    # behind backlogs (9), and the other two are held
    assert [t for t, _ in queued(redis_client, "user:6")] == [ones[0]]
    assert [t for t, _ in queued(redis_client, "user:9")] == [ones[1]]
    assert dispatch.backlog() == {"user|merchant:1": 2}
    # when merchant 2 sends one, it goes ahead of merchant 1's second
    two = enqueue("paysync.smoke_user", {"token": "two", "merchant_id": 2}, interactive=False).id
    assert [t for t, _ in queued(redis_client, "user:6")] == [ones[0], two]
    # and when merchant 1's first starts, its third is released behind the second; its fourth when the second starts
    first = queued(redis_client, "user:6")[0][1]
    assert dispatch.started(first) == 1
    assert [t for t, _ in queued(redis_client, "user:9")] == [ones[1], ones[2]]
    assert dispatch.started(first) == 0  # a second delivery of the same job releases nothing more
    assert dispatch.started(queued(redis_client, "user:9")[0][1]) == 1
    assert [t for t, _ in queued(redis_client, "user:9")] == ones[1:]
    assert dispatch.backlog() == {}
    # an interactive job, a job of no merchant and a job with a countdown are never held
    assert dispatch.fair_share() == 2
    enqueue("paysync.smoke_user", {"token": "now", "merchant_id": 1})
    enqueue("paysync.smoke_user", {"token": "system"}, interactive=False)
    enqueue("paysync.smoke_user", {"token": "later", "merchant_id": 1}, interactive=False, countdown=1)
    assert len(queued(redis_client, "user.interactive")) == 1
    assert [a for _, a in queued(redis_client, "user:6")][2:] == [None, None]  # behind the two sent earlier
    assert dispatch.backlog() == {}


def test_a_held_job_written_or_changed_by_someone_else_is_never_published(redis_client):
    # given merchant 1's four batch jobs: two admitted, two held in Redis
    ones = [enqueue("paysync.smoke_user", {"token": f"seal-{i}", "merchant_id": 1}, interactive=False).id
            for i in range(4)]
    held = "paysync:fair:user|merchant:1:held"
    assert redis_client.llen(held) == 2
    # when someone who can write to Redis changes one held job and adds one of their own
    index = next(i for i, raw in enumerate(redis_client.lrange(held, 0, -1)) if json.loads(raw)["task_id"] == ones[2])
    tampered = json.loads(redis_client.lindex(held, index))
    tampered["kwargs"]["token"] = "changed"
    redis_client.lset(held, index, json.dumps(tampered))
    forged = {**tampered, "task_id": str(uuid.uuid4()), "actor": '{"kind":"sender","sender":"forged"}'}
    redis_client.rpush(held, json.dumps(forged))
    # and the merchant's jobs start, releasing everything held
    for _ in range(4):
        waiting = queued(redis_client, "user:6") + queued(redis_client, "user:9")
        for _, admission in waiting:
            dispatch.started(admission)
    dispatch.sweep()
    # then only the job paysync held unchanged reached the queue; the other two were dropped
    published = {t for t, _ in queued(redis_client, "user:6") + queued(redis_client, "user:9")}
    assert ones[3] in published
    assert ones[2] not in published and forged["task_id"] not in published
    assert dispatch.backlog() == {}


def test_a_released_job_is_signed_for_the_actor_it_was_held_for_not_for_the_job_releasing_it(redis_client):
    from paysync import signing
    from tasks import trust

    # given a sender's three batch jobs of merchant 1, the third held back
    sender = '{"kind":"sender","sender":"billing"}'
    with trust.acting_for(sender):
        ids = [enqueue("paysync.smoke_user", {"token": f"actor-{i}", "merchant_id": 1}, interactive=False).id
               for i in range(3)]
    # when the first starts in a process acting for no one in particular
    dispatch.started(queued(redis_client, "user:6")[0][1])
    # then the released job carries (and is signed for) the sender it was held for
    released = [json.loads(raw)["headers"] for raw in redis_client.lrange("user:9", 0, -1)]
    actor = {h["id"]: h[signing.ACTOR_HEADER] for h in released}
    assert json.loads(actor[ids[2]]) == json.loads(sender)


def test_one_merchants_job_runs_before_another_merchants_backlog_drains(worker_factory, redis_client):
    # given one worker process on 'user', and merchant 1's backlog of 40 batch jobs sent first
    worker_factory.start(queues="user", concurrency=1, name="user")
    base = uuid.uuid4().hex[:8]
    backlog = [enqueue("paysync.smoke_user", {"token": f"{base}-a{i}", "sleep": 0.05, "merchant_id": 1},
                       interactive=False) for i in range(40)]
    # when merchant 2 sends one batch job behind them
    other = enqueue("paysync.smoke_user", {"token": f"{base}-b", "sleep": 0.05, "merchant_id": 2}, interactive=False)
    ran = other.get(timeout=60)
    # then it ran while most of merchant 1's backlog still waited (a few of its jobs ahead at most)
    ahead = sum(runs(redis_client, f"{base}-a{i}") for i in range(40))
    assert ran["queue"] == "user" and ran["merchant_id"] == 2
    assert ahead <= 10, f"merchant 2's job waited for {ahead} of merchant 1's 40 jobs"
    # and merchant 1's jobs all ran, once each, in the order they were sent
    done = [r.get(timeout=60) for r in backlog]
    assert [runs(redis_client, f"{base}-a{i}") for i in range(40)] == [1] * 40
    starts = [d["started"] for d in done]
    assert starts == sorted(starts)
    assert dispatch.backlog() == {}


def test_interactive_job_runs_while_every_batch_process_is_busy(worker_factory, redis_client):
    # given the 'user' worker's only process held by a long batch job, others queued behind it,
    # and the interactive pool beside it
    worker_factory.start(queues="user", concurrency=1, name="user")
    worker_factory.start(queues="user.interactive", concurrency=1, name="interactive")
    base = uuid.uuid4().hex[:8]
    batch = [enqueue("paysync.smoke_user", {"token": f"{base}-batch{i}", "sleep": 3}, interactive=False)
             for i in range(3)]
    wait_until(lambda: redis_client.hlen("unacked") >= 1, 20, "the first batch job to start")
    # when a person's interactive job comes
    sent = time.monotonic()
    ran = enqueue("paysync.smoke_user", {"token": f"{base}-now"}).get(timeout=30)
    took = time.monotonic() - sent
    # then it ran at once, in the interactive pool, on the interactive sub-queue of 'user'
    assert ran["worker"].startswith("interactive@") and ran["queue"] == "user.interactive"
    assert took < 2.0, f"the interactive job took {took:.1f}s"
    assert runs(redis_client, f"{base}-batch2") == 0
    for r in batch:
        r.forget()


def test_a_release_whose_publisher_died_is_published_by_the_sweeper_and_runs_once(worker_factory, redis_client):
    # given a merchant's three batch jobs (two admitted, one held), and the process that
    # releases the held one killed after the release, before publishing it
    crashpoints.arm("fair_share.released", times=1, scope="process")
    base = uuid.uuid4().hex[:8]
    jobs = [enqueue("paysync.smoke_user", {"token": f"{base}-{i}", "merchant_id": 7}, interactive=False)
            for i in range(3)]
    assert dispatch.backlog() == {"user|merchant:7": 1}
    worker_factory.start(queues="user", concurrency=1, name="user")
    wait_until(lambda: redis_client.get("paysync:crash:fair_share.released") is None, 30, "the crash point")
    jobs[0].get(timeout=60)
    jobs[1].get(timeout=60)
    assert runs(redis_client, f"{base}-2") == 0
    assert redis_client.hlen("paysync:fair:releasing") == 1
    # when the sweeper runs (beat's paysync.release_held)
    assert dispatch.sweep(stale_after=0)["republished"] == 1
    # then the held job ran, and every job ran exactly once
    jobs[2].get(timeout=60)
    time.sleep(1)
    assert [runs(redis_client, f"{base}-{i}") for i in range(3)] == [1, 1, 1]
    assert redis_client.hlen("paysync:fair:releasing") == 0
