"""The limiter against a real Redis: windows, waits, reserve, leases, blocks, feedback."""

from __future__ import annotations

import math
import os
import time
import uuid

import pytest
import redis

from paysync.budgets import BucketSpec, BudgetExhausted, Limiter, Window
from paysync.budgets.limiter import jittered, reschedule_countdown

US = 2e-6  # microsecond clock, rounded twice


@pytest.fixture
def limiter(redis_client) -> Limiter:
    return Limiter(redis_client)


def bucket(*windows: tuple, concurrency: int | None = None, lease: float = 5.0, reserve: float = 0.0,
           key: str | None = None) -> BucketSpec:
    """A spec with windows given as (name, limit, seconds[, margin, margin_seconds])."""
    key = key or f"test:{uuid.uuid4().hex[:8]}"
    return BucketSpec(name=key, key=key, concurrency=concurrency, lease_seconds=lease, reserve=reserve,
                      windows=tuple(Window(w[0], f"{key}:{w[0]}", *w[1:]) for w in windows))


def take(limiter: Limiter, spec: BucketSpec, n: int, interactive: bool = False) -> list:
    grants = [limiter.acquire(spec, interactive) for _ in range(n)]
    assert all(g.ok for g in grants), grants
    return grants


def test_a_full_window_refuses_with_the_exact_wait_until_its_oldest_grant_leaves(limiter):
    # given a window of 3 calls per second, used up
    spec = bucket(("minute", 3, 1.0))
    first = take(limiter, spec, 3)[0]
    # when one more is asked for
    refused = limiter.acquire(spec)
    # then nothing is granted and the wait ends exactly when the first grant leaves the window
    assert not refused.ok and refused.reason == "minute" and refused.lease is None
    assert refused.wait == pytest.approx(first.granted_at + 1.0 - refused.granted_at, abs=US)
    # and after that wait one call fits again
    time.sleep(refused.wait)
    assert limiter.acquire(spec).ok


def test_the_margin_keeps_calls_back_and_lengthens_the_window(limiter):
    # given a window of 4 calls per 0.5 s with one call and 0.25 s of margin
    spec = bucket(("minute", 4, 0.5, 1, 0.25))
    first = take(limiter, spec, 3)[0]
    # when a fourth call is asked for, then it waits for 0.75 s after the first grant
    refused = limiter.acquire(spec)
    assert not refused.ok
    assert refused.wait == pytest.approx(first.granted_at + 0.75 - refused.granted_at, abs=US)


def test_windows_are_all_or_nothing(limiter):
    # given two tenants of one app sharing an app window of 4, each with a tenant window of 3
    app = Window("app", f"test:{uuid.uuid4().hex[:8]}:app", 4, 10.0)
    one, two = (BucketSpec(name=t, key=t, windows=(Window("minute", f"{t}:minute", 3, 10.0), app))
                for t in (f"test:{uuid.uuid4().hex[:8]}", f"test:{uuid.uuid4().hex[:8]}"))
    take(limiter, one, 3)
    # when tenant one asks again, its own window refuses and the app window gives nothing
    refused = limiter.acquire(one)
    assert (refused.ok, refused.reason) == (False, "minute")
    assert limiter.remaining(two).windows["app"].used == 3
    # when tenant two takes the last app call, then the app window refuses it next
    take(limiter, two, 1)
    refused = limiter.acquire(two)
    assert (refused.ok, refused.reason) == (False, "app")
    # and tenant two's own window was not charged for the refusal
    assert limiter.remaining(two).windows["minute"].used == 1


def test_the_longest_wait_of_several_binding_constraints_is_returned(limiter):
    # given a short window with room that is blocked and a long window that is full
    spec = bucket(("minute", 5, 1.0), ("day", 2, 3.0))
    first = take(limiter, spec, 2)[0]
    limiter.block(spec, 0.5, "minute")
    # when asked, then the day window binds: its wait is longer than the block
    refused = limiter.acquire(spec)
    assert refused.reason == "day"
    assert refused.wait == pytest.approx(first.granted_at + 3.0 - refused.granted_at, abs=US)


def test_batch_calls_leave_the_reserve_to_interactive_ones(limiter):
    # given a window of 10 with 20% reserved for interactive calls
    spec = bucket(("minute", 10, 5.0), reserve=0.2)
    # when batch work asks, then it gets 8 and is refused the 9th
    take(limiter, spec, 8)
    refused = limiter.acquire(spec, interactive=False)
    assert (refused.ok, refused.reason) == (False, "minute")
    state = limiter.remaining(spec).windows["minute"]
    assert (state.used, state.left, state.left_batch) == (8, 2, 0)
    # and interactive calls still get the last 2, then are refused too
    take(limiter, spec, 2, interactive=True)
    assert not limiter.acquire(spec, interactive=True).ok


def test_the_reserve_also_keeps_a_concurrency_slot_for_interactive_calls(limiter):
    # given 5 in flight at most with 20% reserved
    spec = bucket(("minute", 100, 5.0), concurrency=5, reserve=0.2)
    take(limiter, spec, 4)
    # then batch work is refused a fifth slot, an interactive call gets it
    assert limiter.acquire(spec).reason == "concurrency"
    assert limiter.acquire(spec, interactive=True).ok


def test_a_lease_holds_its_slot_until_released(limiter):
    # given a concurrency of 2, both slots leased
    spec = bucket(("minute", 100, 5.0), concurrency=2, lease=5.0)
    first, second = take(limiter, spec, 2)
    # when a third asks, then it waits for the earliest lease to expire
    refused = limiter.acquire(spec)
    assert (refused.ok, refused.reason) == (False, "concurrency")
    assert refused.wait == pytest.approx(first.granted_at + 5.0 - refused.granted_at, abs=US)
    # when one is released, then the slot is free at once
    assert limiter.release(spec, second.lease) == pytest.approx(time.time(), abs=1.0)
    assert limiter.acquire(spec).ok
    # and releasing twice, or an unknown lease, frees nothing
    assert limiter.release(spec, second.lease) is None
    assert limiter.release(spec, "unknown") is None
    assert limiter.remaining(spec).in_flight == 2


def test_a_lease_that_is_never_released_expires(limiter):
    # given a lease of 0.3 s on the only slot, never released
    spec = bucket(("minute", 100, 5.0), concurrency=1, lease=0.3)
    held = take(limiter, spec, 1)[0]
    refused = limiter.acquire(spec)
    assert refused.reason == "concurrency"
    # when its time is up, then the slot returns
    time.sleep(refused.wait)
    again = limiter.acquire(spec)
    assert again.ok and again.granted_at >= held.granted_at + 0.3
    # and the expired lease can no longer be released or extended
    assert limiter.release(spec, held.lease) is None
    assert not limiter.extend(spec, held.lease)


def test_extending_a_lease_keeps_a_slow_call_in_its_slot(limiter):
    # given a lease of 0.3 s extended by 1 s
    spec = bucket(("minute", 100, 5.0), concurrency=1, lease=0.3)
    held = take(limiter, spec, 1)[0]
    assert limiter.extend(spec, held.lease, seconds=1.0)
    # when the original lease time has passed, then the slot is still taken, for at most 1 s more
    time.sleep(0.4)
    refused = limiter.acquire(spec)
    assert refused.reason == "concurrency" and refused.wait <= 0.6
    assert refused.granted_at + refused.wait > held.granted_at + 0.4


def test_a_block_refuses_every_process_until_it_ends(limiter):
    # given a block of 0.4 s (a 429 with Retry-After)
    spec = bucket(("minute", 100, 5.0))
    until = limiter.block(spec, 0.4, reason="minute")
    # when another process asks, then it is refused with the time left, and takes nothing
    other = Limiter.from_url(os.environ["REDIS_URL"])
    refused = other.acquire(spec, interactive=True)
    assert (refused.ok, refused.reason) == (False, "blocked")
    assert refused.wait == pytest.approx(until - refused.granted_at, abs=2e-3)
    state = limiter.remaining(spec)
    assert state.windows["minute"].used == 0
    assert state.blocked_reason == "minute" and state.blocked_until == pytest.approx(until, abs=2e-3)
    # when a shorter block comes, then the longer one stays
    assert limiter.block(spec, 0.1) == pytest.approx(until, abs=2e-3)
    # and after the block the bucket serves again
    time.sleep(refused.wait)
    assert limiter.acquire(spec).ok
    assert limiter.remaining(spec).blocked_until is None


def test_blocking_a_shared_window_blocks_every_bucket_that_shares_it(limiter):
    # given two tenants sharing an app window
    app = Window("app_minute", f"test:{uuid.uuid4().hex[:8]}:app", 100, 10.0)
    one, two = (BucketSpec(name=t, key=t, windows=(Window("minute", f"{t}:minute", 60, 10.0), app))
                for t in (f"test:{uuid.uuid4().hex[:8]}", f"test:{uuid.uuid4().hex[:8]}"))
    # when tenant one hits the app limit
    until = limiter.block(one, 2.0, reason="appminute", window="app_minute")
    # then tenant two is blocked too
    refused = limiter.acquire(two)
    assert refused.reason == "blocked" and refused.wait == pytest.approx(until - refused.granted_at, abs=2e-3)
    assert limiter.remaining(two).windows["app_minute"].blocked_until is not None


def test_observed_remaining_lowers_the_budget_and_never_raises_it(limiter):
    # given a window of 10 in 0.6 s with 2 calls granted
    spec = bucket(("minute", 10, 0.6))
    take(limiter, spec, 2)
    # when the provider says 5 remain (someone else made 3 calls), then 3 phantoms appear
    assert limiter.observe_remaining(spec, "minute", 5) == 3
    assert limiter.remaining(spec).windows["minute"].left == 5
    # when it says more remain than we think, then nothing changes
    assert limiter.observe_remaining(spec, "minute", 9) == 0
    assert limiter.remaining(spec).windows["minute"].left == 5
    # when it says none remain, then we are refused until the phantoms age out
    limiter.observe_remaining(spec, "minute", 0)
    refused = limiter.acquire(spec, interactive=True)
    assert refused.reason == "minute" and 0 < refused.wait <= 0.6
    time.sleep(0.61)
    assert limiter.remaining(spec).windows["minute"].left == 10


def test_remaining_reports_every_window_in_flight_and_blocks(limiter):
    # given a Xero-like bucket with 3 calls made, 1 still in flight
    spec = bucket(("minute", 60, 60.0, 1), ("day", 5000, 86400.0, 1), concurrency=5, reserve=0.2)
    grants = take(limiter, spec, 3)
    limiter.release(spec, grants[0].lease)
    limiter.release(spec, grants[1].lease)
    # when the connections view asks
    state = limiter.remaining(spec)
    # then it shows the calls left this minute and today
    assert (state.windows["minute"].left, state.windows["day"].left) == (56, 4996)
    assert (state.windows["minute"].left_batch, state.windows["day"].left_batch) == (44, 3996)
    assert (state.in_flight, state.concurrency, state.blocked_until) == (1, 5, None)
    assert state.now == pytest.approx(time.time(), abs=1.0)


def test_acquire_blocking_sleeps_the_exact_wait_or_gives_up_at_once(limiter):
    # given a window of 2 calls in 0.3 s, used up
    spec = bucket(("minute", 2, 0.3))
    first = take(limiter, spec, 2)[0]
    # when waiting longer than the window is allowed, then the grant comes when the first leaves
    grant = limiter.acquire_blocking(spec, max_wait=1.0)
    assert grant.ok and first.granted_at + 0.3 <= grant.granted_at < first.granted_at + 0.5
    # when the wait would exceed max_wait, then the refusal comes back without sleeping
    full = bucket(("minute", 1, 1.0))
    take(limiter, full, 1)
    started = time.monotonic()
    refused = limiter.acquire_blocking(full, max_wait=0.5)
    assert not refused.ok and time.monotonic() - started < 0.05


def test_scripts_are_reloaded_after_redis_forgets_them(limiter, redis_client):
    # given the script cache flushed (a Redis restart)
    spec = bucket(("minute", 2, 1.0))
    redis_client.script_flush()
    # then acquiring still works
    assert limiter.acquire(spec).ok


def test_a_client_that_decodes_responses_works_the_same(redis_client):
    limiter = Limiter(redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True))
    spec = bucket(("minute", 1, 1.0))
    limiter.block(spec, 0.2, reason="minute")
    assert limiter.acquire(spec).reason == "blocked"
    assert limiter.remaining(spec).blocked_reason == "minute"


@pytest.mark.parametrize("windows, kwargs", [
    ((("a", 1, 1.0), ("a", 2, 1.0)), {}),           # duplicate window
    ((("a", 2, 1.0, 2),), {}),                     # margin eats the limit
    ((("a", 0, 1.0),), {}),                        # no calls
    ((("a", 2, 1.0),), {"reserve": 1.0}),          # all reserved
    ((("a", 2, 1.0),), {"concurrency": 0}),
])
def test_an_impossible_spec_is_refused(windows, kwargs):
    with pytest.raises(ValueError):
        bucket(*windows, **kwargs)



def test_a_lease_holds_its_slot_for_the_block_and_frees_it_even_when_the_block_fails(limiter):
    spec = bucket(("minute", 10, 60.0), concurrency=1, lease=30.0)
    # while a lease is held, the only slot is taken
    with limiter.lease(spec, interactive=True) as grant:
        assert grant.ok and grant.lease is not None
        assert limiter.remaining(spec).in_flight == 1
        assert limiter.acquire(spec, True).reason == "concurrency"
    assert limiter.remaining(spec).in_flight == 0
    # a block that raises still gives its slot back
    with pytest.raises(RuntimeError):
        with limiter.lease(spec, interactive=True):
            raise RuntimeError("the call failed")
    assert limiter.remaining(spec).in_flight == 0


def test_a_lease_that_cannot_be_granted_raises_budget_exhausted_and_takes_nothing(limiter):
    spec = bucket(("minute", 1, 60.0))
    with limiter.lease(spec):
        pass
    used = limiter.remaining(spec).windows["minute"].used
    with pytest.raises(BudgetExhausted) as exc:
        with limiter.lease(spec, max_wait=0.05):
            raise AssertionError("the block must not run without a grant")  # pragma: no cover
    assert exc.value.bucket == spec.name and exc.value.reason == "minute" and exc.value.wait > 59
    assert limiter.remaining(spec).windows["minute"].used == used


def test_sub_window_counters_refuse_until_the_oldest_sub_window_leaves(limiter):
    # given a window of 6 calls per second counted in 4 sub-windows of 0.25 s, used up
    key = f"test:{uuid.uuid4().hex[:8]}"
    spec = BucketSpec(name=key, key=key, windows=(Window("day", f"{key}:day", 6, 1.0, subwindows=4),))
    first = take(limiter, spec, 6)[0]
    # when one more is asked for, then the wait ends when the first grant's sub-window is
    # no longer among the last 5 (any true 1 s interval lies within 5 sub-windows)
    refused = limiter.acquire(spec)
    sub = math.floor(first.granted_at * 1e6 / 250_000)
    assert (refused.ok, refused.reason) == (False, "day")
    assert refused.wait == pytest.approx((sub + 5) * 0.25 - refused.granted_at, abs=US)
    # and after it the calls are back
    time.sleep(refused.wait)
    take(limiter, spec, 6)


def test_sub_window_counters_keep_a_few_fields_whatever_the_traffic(limiter, redis_client):
    # given the same traffic through a sliding log and through 8 sub-windows
    log = bucket(("day", 10_000, 0.4))
    counted = BucketSpec(name="c", key=f"{log.key}c", windows=(Window("day", f"{log.key}c:day", 10_000, 0.4,
                                                                       subwindows=8),))
    # when 400 calls go through each over 1.2 s, three window lengths
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        take(limiter, log, 1)
        take(limiter, counted, 1)
        time.sleep(0.003)
    # then the log holds every grant of the last window (dozens, fewer on a loaded machine, but
    # more than the counters' fields), the counters a state of at most 7 fields and at most 8
    # closed sub-windows, each a compact listpack
    state, past = counted.window("day").state_key, counted.window("day").second_key
    assert redis_client.hlen(state) <= 7 and redis_client.hlen(past) <= 8
    assert redis_client.zcard(log.window("day").state_key) > 7 + 8
    assert redis_client.object("encoding", state) == redis_client.object("encoding", past) == b"listpack"
    # and both count the same calls now, give or take the sub-window being filled
    state_log, state_counted = limiter.remaining(log).windows["day"], limiter.remaining(counted).windows["day"]
    assert state_log.used <= state_counted.used <= state_log.used * 1.3


def test_a_caller_that_accepts_a_wait_is_booked_and_the_next_waiter_after_it(limiter):
    # given a window of 2 calls per second, used up
    spec = bucket(("minute", 2, 1.0))
    first, second = take(limiter, spec, 2)
    # when three callers accept waits of up to 1.5 s
    a = limiter.acquire(spec, max_wait=1.5)
    b = limiter.acquire(spec, max_wait=1.5)
    c = limiter.acquire(spec, max_wait=1.5)
    # then the first is booked when the first grant leaves, the second when the second leaves
    assert a.ok and a.granted_at == pytest.approx(first.granted_at + 1.0, abs=US) and a.reason == "minute"
    assert b.ok and b.granted_at == pytest.approx(second.granted_at + 1.0, abs=US)
    assert a.wait > 0 and b.wait > 0
    # and the third, whose slot frees only when the first booking leaves, is told so, taking nothing
    assert not c.ok and c.granted_at + c.wait == pytest.approx(a.granted_at + 1.0, abs=US)
    assert limiter.remaining(spec).windows["minute"].used == 4


def test_a_booked_batch_call_leaves_the_reserve_to_an_interactive_call_now(limiter):
    # given a window of 10 with 20% reserved, batch work at its share and a batch call booked
    spec = bucket(("minute", 10, 1.0), reserve=0.2)
    first = take(limiter, spec, 8)[0]
    booked = limiter.acquire(spec, max_wait=2.0)
    assert booked.ok and booked.granted_at == pytest.approx(first.granted_at + 1.0, abs=US)
    # when an interactive call comes, then it is granted at once from the reserve
    now = limiter.acquire(spec, interactive=True)
    assert now.ok and now.wait == 0
    # and the booked call counts against the window: one interactive call is left
    assert limiter.remaining(spec).windows["minute"].left == 0
    assert limiter.acquire(spec, interactive=True).reason == "minute"


def test_acquire_blocking_sleeps_until_the_booked_time(limiter, redis_client):
    spec = bucket(("minute", 1, 0.3))
    first = take(limiter, spec, 1)[0]
    grant = limiter.acquire_blocking(spec, max_wait=1.0)
    seconds, micros = redis_client.time()
    assert grant.ok and grant.granted_at == pytest.approx(first.granted_at + 0.3, abs=US)
    assert seconds + micros / 1e6 >= grant.granted_at


def test_the_day_reserve_follows_interactive_demand_from_its_floor(limiter):
    def day_bucket() -> BucketSpec:
        key = f"test:{uuid.uuid4().hex[:8]}"
        return BucketSpec(name=key, key=key, reserve=0.2, windows=(
            Window("day", f"{key}:day", 100, 60.0, subwindows=10, reserve_floor=0.05),))

    def batch_gets(spec: BucketSpec) -> int:
        n = 0
        while limiter.acquire(spec).ok:
            n += 1
        return n

    # given no interactive call in the window, batch work may use all but the floor (5 of 100)
    idle = day_bucket()
    assert batch_gets(idle) == 95
    assert limiter.remaining(idle).windows["day"].left == 5
    # given 10 interactive calls, batch work leaves the floor plus those 10 (85 in all)
    busy = day_bucket()
    take(limiter, busy, 10, interactive=True)
    assert batch_gets(busy) == 75
    state = limiter.remaining(busy).windows["day"]
    assert (state.used, state.interactive_used, state.left, state.left_batch) == (85, 10, 15, 0)
    # given 30 interactive calls, the reserve stops at the full 20%: batch work gets 80 - 30
    busier = day_bucket()
    take(limiter, busier, 30, interactive=True)
    assert batch_gets(busier) == 50
    # and interactive calls still find what the reserve kept
    take(limiter, busier, 20, interactive=True)
    assert not limiter.acquire(busier, interactive=True).ok


def test_observed_remaining_lowers_a_sub_window_budget_too(limiter):
    key = f"test:{uuid.uuid4().hex[:8]}"
    spec = BucketSpec(name=key, key=key, windows=(Window("day", f"{key}:day", 100, 0.6, subwindows=6),))
    take(limiter, spec, 2)
    assert limiter.observe_remaining(spec, "day", 50) == 48
    assert limiter.remaining(spec).windows["day"].left == 50
    assert limiter.observe_remaining(spec, "day", 70) == 0
    limiter.observe_remaining(spec, "day", 0)
    refused = limiter.acquire(spec, interactive=True)
    assert refused.reason == "day" and 0 < refused.wait <= 0.8
    time.sleep(refused.wait)
    assert limiter.acquire(spec).ok


def test_renewing_a_lease_never_shortens_it(limiter):
    spec = bucket(("minute", 100, 5.0), concurrency=1, lease=5.0)
    held = take(limiter, spec, 1)[0]
    assert limiter.extend(spec, held.lease, seconds=0.1)
    refused = limiter.acquire(spec)
    assert refused.reason == "concurrency" and refused.wait > 4.9


def test_a_lease_whose_release_fails_is_logged_and_ends_by_itself(caplog, tmp_path):
    # given a lease taken on a Redis that dies while the call runs
    import shutil
    import subprocess

    from paysync_dev.devstack import free_port

    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--save", "", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=1, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        limiter = Limiter(client)
        spec = bucket(("minute", 10, 60.0), concurrency=1)
        # when the block ends after the server is gone, then the call's own outcome stands
        with limiter.lease(spec, interactive=True) as grant:
            server.kill()
            server.wait(5)
            answer = "the provider's answer"
        assert grant.ok and answer
        # and the failed release is logged, naming the bucket
        assert any("could not release lease of " + spec.name in r.getMessage() for r in caplog.records)
    finally:
        server.kill()


def test_re_scheduled_jobs_are_spread_and_never_come_back_early():
    countdowns = [reschedule_countdown(10.0) for _ in range(200)]
    assert min(countdowns) >= 10.05 and max(countdowns) <= 10.05 + 0.5 + 2.0
    assert max(countdowns) - min(countdowns) > 1.0
    polls = [jittered(0.1) for _ in range(200)]
    assert 0.075 <= min(polls) < max(polls) <= 0.125 and len(set(polls)) > 100
