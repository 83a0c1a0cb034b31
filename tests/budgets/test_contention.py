"""Many processes on one bucket, time-scaled: no window ever overrun, leases follow holders."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid

import pytest

from paysync.budgets import BucketSpec, Limiter, Window
from tests.budgets._contention import (
    calls_per_grant,
    contend,
    hold_forever,
    most_in_any_window,
    most_in_flight,
    records,
    slow_call,
)

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


def redis_us(client) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


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


def run_contention(redis_client, spawn, spec: BucketSpec, seconds: float, hold: float, think: float,
                   victim: bool) -> tuple:
    """WORKERS processes (half interactive) contend for ``seconds`` (``contend``: arriving at
    random with a mean pause of ``think``, then waiting for each call); with ``victim`` one more
    takes a lease and is killed with SIGKILL. Returns the grants, the victim's interval
    (granted us, started us, end us) and the acquire calls per grant while they waited."""
    out, url = f"test:out:{uuid.uuid4().hex[:8]}", os.environ["REDIS_URL"]
    barrier = spawn.ctx.Barrier(WORKERS + 1 + victim)
    workers = [spawn(contend, url, spec, w, w % 2 == 0, barrier, seconds, hold, out, think) for w in range(WORKERS)]
    held = None
    if victim:
        process = spawn(hold_forever, url, spec, WORKERS, barrier, f"{out}:victim")
    barrier.wait(timeout=60)
    if victim:
        (_, _, granted, _, started), = wait_for(redis_client, f"{out}:victim", 1)
        os.kill(process.pid, signal.SIGKILL)
        held = (granted, started, redis_us(redis_client) + round(spec.lease_seconds * 1e6))
    for process in workers:
        process.join(seconds + 30)
        assert process.exitcode == 0
    grants = records(redis_client, out)
    # every caller went ahead no sooner than the time it was granted (booked)
    assert all(started >= granted for _, _, granted, _, started in grants)
    return grants, held, calls_per_grant(redis_client, out)


def test_eight_processes_never_overrun_a_window_or_the_concurrency(redis_client, spawn):
    # given 8 processes (half interactive, half batch) and one that dies holding a lease,
    # all on a bucket of 20 calls per 2 s, 3 in flight, a quarter reserved for interactive calls
    spec = spec_for(f"test:{uuid.uuid4().hex[:8]}")
    # when the victim holds its lease it is killed with SIGKILL, and the others run on
    grants, victim, calls = run_contention(redis_client, spawn, spec, SECONDS, 0.15, 0.5, victim=True)
    times = [g for _, _, g, _, _ in grants] + [victim[0]]
    # then no interval of the window's length ever holds more than the limit
    assert most_in_any_window(times, WINDOW) <= LIMIT
    # and batch calls never took the interactive reserve
    assert most_in_any_window([g for _, i, g, _, _ in grants if not i], WINDOW) <= LIMIT * (1 - RESERVE)
    # and never more than 3 were in flight, counting the dead victim's lease until it expired
    assert most_in_flight([(s, r) for _, _, _, r, s in grants] + [victim[1:]]) <= CONCURRENCY
    # and the allowed calls were well used: 4 windows of 20 from the first grant
    first = min(times)
    used = sum(1 for t in times if t < first + SECONDS * 1e6)
    print(f"granted {used} of {LIMIT * SECONDS / WINDOW:.0f}; most in a window "
          f"{most_in_any_window(times, WINDOW)}; {calls:.2f} acquire calls per grant")
    assert used >= 0.7 * LIMIT * SECONDS / WINDOW, f"only {used} calls granted"


def test_sub_window_counters_never_let_any_sliding_interval_over_its_limit(redis_client, spawn):
    # given a Xero-shaped bucket time-scaled: a log of 30 calls per 0.5 s, a "day" of 40 calls
    # per 2 s counted in 10 sub-windows with a demand-following reserve
    key = f"test:{uuid.uuid4().hex[:8]}"
    minute, day = Window("minute", f"{key}:minute", 30, 0.5), Window("day", f"{key}:day", 40, 2.0, subwindows=10,
                                                                    reserve_floor=0.1)
    spec = BucketSpec(name=key, key=key, windows=(minute, day), reserve=RESERVE)
    # when 8 processes contend for 8 s: arriving at random at about the day's rate for 4.8 s
    # (so grants land anywhere in a sub-window), then waiting for their calls
    out, url = f"test:out:{uuid.uuid4().hex[:8]}", os.environ["REDIS_URL"]
    barrier = spawn.ctx.Barrier(WORKERS + 1)
    workers = [spawn(contend, url, spec, w, w % 2 == 0, barrier, SECONDS, 0.05, out, 0.4, 0.6) for w in range(WORKERS)]
    barrier.wait(timeout=60)
    for process in workers:
        process.join(SECONDS + 30)
        assert process.exitcode == 0
    grants, calls = records(redis_client, out), calls_per_grant(redis_client, out)
    times, batch = [g for _, _, g, _, _ in grants], [g for _, i, g, _, _ in grants if not i]
    assert all(started >= granted for _, _, granted, _, started in grants)
    # then no true sliding interval of either window holds more than its limit
    assert most_in_any_window(times, 2.0) <= 40 and most_in_any_window(times, 0.5) <= 30
    # and batch calls kept the floor of the day's reserve and the minute's full reserve free
    assert most_in_any_window(batch, 2.0) <= 40 - 4 and most_in_any_window(batch, 0.5) <= 30 - 8
    first = min(times)
    used = sum(1 for t in times if t < first + SECONDS * 1e6)
    print(f"granted {used} of {40 * SECONDS / 2.0:.0f}; most in any 2 s {most_in_any_window(times, 2.0)}, "
          f"0.5 s {most_in_any_window(times, 0.5)}; {calls:.2f} acquire calls per grant")
    assert used >= 0.7 * 40 * SECONDS / 2.0
    # and waiting callers were booked, not woken together: close to one acquire per grant
    assert calls <= 1.5


def test_a_killed_holder_gives_its_slot_back_within_a_lease_while_a_slow_live_call_keeps_its_own(
        redis_client, spawn):
    # given a bucket of 2 in flight with leases of 1 s: a live call that lasts, and a holder
    # that is killed with SIGKILL
    key, out = f"test:{uuid.uuid4().hex[:8]}", f"test:out:{uuid.uuid4().hex[:8]}"
    spec, limiter, url = spec_for(key, concurrency=2), Limiter(redis_client), os.environ["REDIS_URL"]
    spawn(slow_call, url, spec, 0, f"{out}:slow")
    victim = spawn(hold_forever, url, spec, 1, None, f"{out}:victim")
    wait_for(redis_client, f"{out}:slow", 1)
    wait_for(redis_client, f"{out}:victim", 1)
    os.kill(victim.pid, signal.SIGKILL)
    killed = redis_us(redis_client) / 1e6
    victim.join(5)
    # when a third caller waits for a slot, then it gets the dead holder's within one lease
    refused = limiter.acquire(spec, interactive=True)
    assert refused.reason == "concurrency"
    grant = limiter.acquire_blocking(spec, interactive=True, max_wait=LEASE + 1, poll=0.01)
    assert grant.ok and grant.granted_at <= killed + LEASE + 0.1
    limiter.release(spec, grant.lease)
    # and the slow call, alive for several lease times, keeps its slot all along
    for _ in range(6):
        time.sleep(0.5 * LEASE)
        assert limiter.remaining(spec).in_flight == 1
    assert len(records(redis_client, f"{out}:slow")) == 1  # still running
    # and gives it back when it ends
    redis_client.set(f"{out}:slow:stop", 1)
    (_, _, _, released, _) = wait_for(redis_client, f"{out}:slow", 2)[1]
    assert limiter.remaining(spec).in_flight == 0 and released is not None
