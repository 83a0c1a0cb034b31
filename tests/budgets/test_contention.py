"""Many processes on one bucket, time-scaled: no window ever overrun, leases honoured."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid

import pytest

from paysync.budgets import BucketSpec, Limiter, Window
from tests.budgets._contention import contend, hold_forever, most_in_any_window, most_in_flight, records

WORKERS, SECONDS = 8, 8.0
WINDOW, LIMIT, CONCURRENCY, LEASE, RESERVE = 2.0, 20, 3, 1.0, 0.25


def spec_for(key: str, concurrency: int = CONCURRENCY) -> BucketSpec:
    return BucketSpec(name=key, key=key, windows=(Window("minute", f"{key}:minute", LIMIT, WINDOW),),
                      concurrency=concurrency, lease_seconds=LEASE, reserve=RESERVE)


def wait_for(client, out: str, count: int, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while len(got := records(client, out)) < count:
        assert time.monotonic() < deadline, "no grant reported in time"
        time.sleep(0.01)
    return got


@pytest.fixture
def spawn():
    ctx, started = multiprocessing.get_context("spawn"), []

    def start(target, *args):
        process = ctx.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    start.ctx = ctx
    yield start
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(5)


def test_eight_processes_never_overrun_a_window_or_the_concurrency(redis_client, spawn):
    # given 8 processes (half interactive, half batch) and one that dies holding a lease,
    # all on a bucket of 20 calls per 2 s, 3 in flight, a quarter reserved for interactive calls
    key, out = f"test:{uuid.uuid4().hex[:8]}", f"test:out:{uuid.uuid4().hex[:8]}"
    spec, url = spec_for(key), os.environ["REDIS_URL"]
    barrier = spawn.ctx.Barrier(WORKERS + 2)
    workers = [spawn(contend, url, spec, w, w % 2 == 0, barrier, SECONDS, 0.15, out) for w in range(WORKERS)]
    victim = spawn(hold_forever, url, spec, WORKERS, barrier, f"{out}:victim")
    barrier.wait(timeout=60)
    # when the victim holds its lease it is killed with SIGKILL, and the others run on
    wait_for(redis_client, f"{out}:victim", 1)
    os.kill(victim.pid, signal.SIGKILL)
    for process in workers:
        process.join(SECONDS + 30)
        assert process.exitcode == 0
    grants = records(redis_client, out) + records(redis_client, f"{out}:victim")
    times = [g for _, _, g, _ in grants]
    # then no interval of the window's length ever holds more than the limit
    assert most_in_any_window(times, WINDOW) <= LIMIT
    # and batch calls never took the interactive reserve
    assert most_in_any_window([g for _, i, g, _ in grants if not i], WINDOW) <= LIMIT * (1 - RESERVE)
    # and never more than 3 were in flight, counting the dead victim's lease until it expired
    lease_us = round(LEASE * 1e6)
    intervals = [(g, min(r, g + lease_us) if r else g + lease_us) for _, _, g, r in grants]
    assert most_in_flight(intervals) <= CONCURRENCY
    # and the allowed calls were well used: 4 windows of 20 from the first grant
    first = min(times)
    used = sum(1 for t in times if t < first + SECONDS * 1e6)
    print(f"granted {used} of {LIMIT * SECONDS / WINDOW:.0f}; most in a window "
          f"{most_in_any_window(times, WINDOW)}, in flight {most_in_flight(intervals)}")
    assert used >= 0.7 * LIMIT * SECONDS / WINDOW, f"only {used} calls granted"


def test_a_killed_process_gives_its_slot_back_when_the_lease_expires(redis_client, spawn):
    # given a bucket of 1 call in flight, held by a process
    key, out = f"test:{uuid.uuid4().hex[:8]}", f"test:out:{uuid.uuid4().hex[:8]}"
    spec, limiter = spec_for(key, concurrency=1), Limiter(redis_client)
    victim = spawn(hold_forever, os.environ["REDIS_URL"], spec, 0, None, out)
    (_, _, held_us, _), = wait_for(redis_client, out, 1)
    # when that process is killed with SIGKILL
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(5)
    # then the slot stays taken until the lease expires, and is free right after
    refused = limiter.acquire(spec, interactive=True)
    assert refused.reason == "concurrency"
    assert refused.wait == pytest.approx(held_us / 1e6 + LEASE - refused.granted_at, abs=2e-6)
    grant = limiter.acquire_blocking(spec, interactive=True, max_wait=LEASE + 1)
    assert grant.ok and held_us / 1e6 + LEASE <= grant.granted_at <= held_us / 1e6 + LEASE + 0.1
