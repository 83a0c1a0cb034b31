"""Counts a hot path keeps in its process (paysync.metrics.tally): written to Redis by a
background thread within a second, added up, and written when the process exits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from paysync import metrics
from paysync_dev.devstack import wait_until


def stored(redis_client, family: str, labels: dict[str, str]) -> int:
    return int(redis_client.hget(metrics.counter_key(family), metrics.label_field(labels)) or 0)


def test_tallied_counts_reach_redis_added_up_without_a_call_per_count(redis_client):
    # given a family of its own, counted 500 times on the caller's path
    family, labels = f"probe_{uuid.uuid4().hex[:8]}", {"outcome": "stored"}
    started = time.monotonic()
    for _ in range(500):
        metrics.tally(family, labels)
    # then nothing was written on the way (no round trip per count) ...
    assert stored(redis_client, family, labels) < 500
    # ... and all of it within a second or so, in one sum
    wait_until(lambda: stored(redis_client, family, labels) == 500, 5, "the tally to be written")
    assert time.monotonic() - started < 5


def test_a_process_that_exits_writes_what_it_tallied(redis_client):
    family = f"probe_{uuid.uuid4().hex[:8]}"
    code = ("from paysync import metrics\n"
            f"for _ in range(7): metrics.tally({family!r}, {{'outcome': 'x'}})\n")
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ), check=True, timeout=60)
    assert stored(redis_client, family, {"outcome": "x"}) == 7
