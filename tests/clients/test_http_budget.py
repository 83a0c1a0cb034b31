"""The shared HTTP layer against the sandbox: a 429 seen by one worker stops them all."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
import requests

from paysync.budgets import BucketSpec, Limiter, Window
from paysync.clients.http import BudgetedHTTP, BudgetExhausted

pytestmark = pytest.mark.e2e


def _bucket() -> BucketSpec:
    key = "paysync:budget:{test:wise-429}"
    return BucketSpec(name="test:wise-429", key=key, windows=(Window("minute", f"{key}:minute", 1000, 60),))


def _client(base: str, token: str, max_inline_wait: float) -> BudgetedHTTP:
    return BudgetedHTTP(provider="wise", base_url=base, bucket=_bucket(), limiter=Limiter.from_url(),
                        auth_headers=lambda: {"Authorization": f"Bearer {token}"}, max_inline_wait=max_inline_wait)


def _first_worker(base: str, token: str, out: mp.Queue) -> None:
    try:
        _client(base, token, max_inline_wait=0).request("GET", "/v2/profiles")
        out.put("no 429")
    except BudgetExhausted as exc:
        out.put(exc.wait)


def test_429_from_one_worker_blocks_the_bucket_for_every_worker(sandbox_ctl, redis_client):
    base = sandbox_ctl.url("wise")
    token = requests.get(f"{base}/_control/tokens", timeout=5).json()[0]["token"]
    requests.post(f"{base}/_control/faults", json={"endpoint": "GET /v2/profiles", "status": 429, "count": 1,
                                                   "retryAfter": 3}, timeout=5).raise_for_status()
    # given one worker process that meets a 429 with Retry-After: 3
    out: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_first_worker, args=(base, token, out))
    proc.start()
    assert out.get(timeout=30) == pytest.approx(3, abs=0.01)
    proc.join(10)
    calls_before = sandbox_ctl.counters("wise:GET /v2/profiles")["wise:GET /v2/profiles"]
    # when another worker calls the same bucket
    asked_at = time.time()
    with pytest.raises(BudgetExhausted) as refused:
        _client(base, token, max_inline_wait=0).request("GET", "/v2/profiles")
    # then it is refused without calling Wise, for what is left of the block
    assert 1.5 < refused.value.wait <= 3.0 and refused.value.reason == "blocked"
    assert sandbox_ctl.counters("wise:GET /v2/profiles")["wise:GET /v2/profiles"] == calls_before
    # and a worker willing to wait calls only once the block has passed
    _client(base, token, max_inline_wait=5).request("GET", "/v2/profiles")
    assert time.time() - asked_at >= refused.value.wait - 0.05
    assert sandbox_ctl.counters("wise:GET /v2/profiles")["wise:GET /v2/profiles"] == calls_before + 1
