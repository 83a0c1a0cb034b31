"""Beat is safe to run twice: the redbeat lock lets one beat send, the other waits; what it sends is signed."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e


def test_two_beats_send_each_scheduled_job_once_per_period(db, worker_factory, redis_client):
    env = {"PAYSYNC_PARKED_SWEEP_SECONDS": "1", "PAYSYNC_WISE_SWEEP_BEAT": "1"}
    worker_factory.start(queues="service", concurrency=1)
    # given two beats running at once on the same schedule
    first = worker_factory.beat(name="beat-a", **env)
    second = worker_factory.beat(name="beat-b", **env)
    time.sleep(8)
    # then only one of them holds the lock and sends
    sent_a = first.output().count("Sending due task redispatch-parked-jobs")
    sent_b = second.output().count("Sending due task redispatch-parked-jobs")
    assert (sent_a == 0) != (sent_b == 0), f"both beats sent jobs: {sent_a} and {sent_b}"
    assert 3 <= sent_a + sent_b <= 9
    # and beat signs what it sends: a protected job (wise.sweep_initiations) ran, for beat
    from storage.db import fetch_all

    rows = fetch_all("select actor, outcome from audit_log where action='wise.sweep_initiations'")
    assert rows and {r["outcome"] for r in rows} == {"succeeded"}, rows
    assert all(r["actor"].startswith("beat ") for r in rows), rows
