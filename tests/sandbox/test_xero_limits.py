"""Xero limits on a real threaded server (waitress, 32 threads) hit by several processes.

The virtual clock is frozen (scale 0) so every burst falls in one window; windows are moved
on by advancing the clock through the control API.
"""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

SERVER = """
import sys
from waitress import serve
from paysync_dev.sandbox.server import create_app
from paysync_dev.sandbox.xero import XeroSandbox
app = create_app(seed=0, scale=0.0, providers=[XeroSandbox()])
serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=32, connection_limit=512, channel_timeout=30,
      _quiet=True)
"""
WANTED = ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining", "Retry-After",
          "X-Rate-Limit-Problem")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/_sandbox/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise RuntimeError("sandbox did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    with multiprocessing.get_context("fork").Pool(4) as p:
        yield p


def _burst(args: tuple[str, dict[str, str], int]) -> list[tuple[int, dict[str, str | None]]]:
    """One worker process: ``n`` simultaneous GETs from ``n`` threads."""
    url, headers, n = args

    def one(_: int) -> tuple[int, dict[str, str | None]]:
        r = requests.get(url, headers=headers, timeout=30)
        return r.status_code, {k: r.headers.get(k) for k in WANTED}

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def fire(pool: Any, url: str, headers: dict[str, str], procs: int, per_proc: int) -> list[Any]:
    return [r for chunk in pool.map(_burst, [(url, headers, per_proc)] * procs) for r in chunk]


def reset(base: str, **xero: Any) -> list[str]:
    size = {"tenants": 3, "contacts": 3, "invoices": 3}
    size.update(xero)
    assert requests.post(f"{base}/_sandbox/reset", json={"seed": 11, "size": {"xero": size}, "scale": 0}).ok
    return [t["tenantId"] for t in requests.get(f"{base}/xero/_control/tenants").json()]


def grant(base: str, app: str) -> str:
    resp = requests.post(f"{base}/xero/_control/grant", json={"client_id": app, "client_secret": "s"})
    assert resp.ok, resp.text
    return resp.json()["access_token"]


def hdr(token: str, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant}


def advance(base: str, seconds: float) -> None:
    assert requests.post(f"{base}/_sandbox/clock", json={"advance": seconds}).ok


def statuses(results: list[Any]) -> Counter:
    return Counter(code for code, _ in results)


def test_minute_limit_exact_per_tenant_and_per_app(base: str, pool: Any) -> None:
    tenants = reset(base, concurrent_limit=1000)
    url = f"{base}/xero/api.xro/2.0/Organisation"
    a, b = grant(base, "app-a"), grant(base, "app-b")

    first = fire(pool, url, hdr(a, tenants[0]), 4, 30)
    assert statuses(first) == {200: 60, 429: 60}
    ok = [h for code, h in first if code == 200]
    assert sorted(int(h["X-MinLimit-Remaining"]) for h in ok) == list(range(60))
    refused = [h for code, h in first if code == 429]
    assert {h["X-Rate-Limit-Problem"] for h in refused} == {"minute"}
    retry0 = {h["Retry-After"] for h in refused}
    assert len(retry0) == 1 and 1 <= int(next(iter(retry0))) <= 60
    assert all(h["X-DayLimit-Remaining"] == "4940" for h in refused)

    # the same tenant through another app, and another tenant through the same app: own budgets
    assert statuses(fire(pool, url, hdr(b, tenants[0]), 4, 30)) == {200: 60, 429: 60}
    other = fire(pool, url, hdr(a, tenants[1]), 4, 30)
    assert statuses(other) == {200: 60, 429: 60}
    retry1 = {h["Retry-After"] for code, h in other if code == 429}
    assert retry1 != retry0  # windows start at a different offset per tenant

    advance(base, int(next(iter(retry0))))
    again = fire(pool, url, hdr(a, tenants[0]), 4, 30)
    assert statuses(again) == {200: 60, 429: 60}

    stats = requests.get(f"{base}/xero/_control/stats").json()
    assert stats["calls"]["app-a"][tenants[0]] == {"calls": 240, "429": 120, "429:minute": 120}
    assert stats["calls"]["app-b"][tenants[0]]["calls"] == 120
    assert stats["limits"]["app-a"]["tenants"][tenants[0]]["in_flight"] == 0


def test_app_minute_limit_across_tenants(base: str, pool: Any) -> None:
    tenants = reset(base, concurrent_limit=1000, app_minute_limit=100)
    token = grant(base, "app-c")
    url = f"{base}/xero/api.xro/2.0/Organisation"
    jobs = [(url, hdr(token, t), 60) for t in tenants]
    results = [r for chunk in pool.map(_burst, jobs) for r in chunk]
    assert statuses(results) == {200: 100, 429: 80}
    assert {h["X-Rate-Limit-Problem"] for code, h in results if code == 429} == {"appminute"}
    assert sorted(int(h["X-AppMinLimit-Remaining"]) for code, h in results if code == 200) == list(range(100))
    # tenant-less calls spend (and are refused by) the app budget only
    conn = requests.get(f"{base}/xero/connections", headers={"Authorization": f"Bearer {token}"})
    assert conn.status_code == 429 and conn.headers["X-Rate-Limit-Problem"] == "appminute"
    assert "X-MinLimit-Remaining" not in conn.headers


def test_day_limit_fixed_window(base: str, pool: Any) -> None:
    tenants = reset(base, concurrent_limit=1000, minute_limit=1000, day_limit=50)
    token = grant(base, "app-d")
    url = f"{base}/xero/api.xro/2.0/Organisation"
    results = fire(pool, url, hdr(token, tenants[0]), 4, 20)
    assert statuses(results) == {200: 50, 429: 30}
    refused = [h for code, h in results if code == 429]
    assert {h["X-Rate-Limit-Problem"] for h in refused} == {"day"}
    retry = {int(h["Retry-After"]) for h in refused}
    assert len(retry) == 1 and 1 <= next(iter(retry)) <= 86400
    advance(base, next(iter(retry)))
    token = grant(base, "app-d")  # the clock may have passed the token's 30 minutes
    assert statuses(fire(pool, url, hdr(token, tenants[0]), 4, 20)) == {200: 50, 429: 30}


def test_in_flight_limit_under_latency(base: str, pool: Any) -> None:
    tenants = reset(base, minute_limit=1000, concurrent_limit=5, latency_ms=250)
    token = grant(base, "app-e")
    url = f"{base}/xero/api.xro/2.0/Organisation"
    jobs = [(url, hdr(token, tenants[0]), 10)] * 3 + [(url, hdr(token, tenants[1]), 10)]
    results = [r for chunk in pool.map(_burst, jobs) for r in chunk]
    first, second = results[:30], results[30:]
    assert statuses(first)[200] >= 5 and statuses(first)[429] > 0
    refused = [h for code, h in first if code == 429]
    assert {h["X-Rate-Limit-Problem"] for h in refused} == {"concurrent"}
    assert {h["Retry-After"] for h in refused} == {"1"}
    assert statuses(second)[200] >= 5
    limits = requests.get(f"{base}/xero/_control/stats").json()["limits"]["app-e"]["tenants"]
    assert limits[tenants[0]]["max_in_flight"] == 5 and limits[tenants[0]]["in_flight"] == 0
    assert limits[tenants[1]]["max_in_flight"] <= 5 and limits[tenants[1]]["in_flight"] == 0
