"""Benchmark of the shared limiter (paysync.budgets); prints a markdown table.

    .venv/bin/python bench/bench_limiter.py

1. Utilization: 8 processes contend for one bucket; the share of the calls the window
   allows that they actually got (target at least 95%).
2. Safety against Celery's own ``rate_limit``: 3 ``celery worker`` nodes with the task's
   rate_limit against 3 processes using the limiter, on the same nominal limit; the most
   calls seen in any sliding window, as a multiple of the limit.
3. Acquire latency (median, p99) against a bare Redis PING measured in the same run.

Time-scaled (windows of 2 s) so it runs in well under two minutes. Redis comes from
REDIS_URL (default settings().redis_url); the bench uses databases BENCH_REDIS_DB [13] for
its records and BENCH_CELERY_DB [14] as Celery's broker, only under keys of its own run.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from _limiter_workers import grab, most_in_any_window

from paysync.budgets import BucketSpec, Limiter, Window
from paysync.config import settings

HERE = Path(__file__).resolve().parent
BASE = os.environ.get("REDIS_URL", settings().redis_url).rsplit("/", 1)[0]
URL = f"{BASE}/{os.environ.get('BENCH_REDIS_DB', '13')}"
BROKER = f"{BASE}/{os.environ.get('BENCH_CELERY_DB', '14')}"
RUN = f"bench:limiter:{uuid.uuid4().hex[:8]}"
WINDOW = 2.0


def bucket(name: str, limit: int, concurrency: int | None = None) -> BucketSpec:
    key = f"{RUN}:{name}"
    return BucketSpec(name=key, key=key, windows=(Window("minute", f"{key}:minute", limit, WINDOW),),
                      concurrency=concurrency, lease_seconds=30.0)


def contend(spec: BucketSpec, processes: int, seconds: float) -> list[int]:
    """Grant times (Redis us) of ``processes`` spawned processes taking calls for ``seconds``."""
    ctx, out = multiprocessing.get_context("spawn"), f"{spec.key}:out"
    barrier = ctx.Barrier(processes + 1)
    procs = [ctx.Process(target=grab, args=(URL, spec, seconds, barrier, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    barrier.wait(timeout=60)
    for p in procs:
        p.join(seconds + 60)
    return [int(t) for t in redis.Redis.from_url(URL).lrange(out, 0, -1)]


def utilization(processes: int = 8, limit: int = 50, seconds: float = 10.0) -> tuple[int, int, int]:
    times = contend(bucket("util", limit, concurrency=processes), processes, seconds + 0.5)
    first = min(times)
    got = sum(1 for t in times if t < first + seconds * 1e6)
    return got, round(limit * seconds / WINDOW), most_in_any_window(times, WINDOW)


def celery_rate_limit(limit: int, workers: int = 3, calls_per_worker: int = 80) -> list[int]:
    """Start times of tasks run by ``workers`` Celery nodes, each with rate_limit limit/WINDOW."""
    queue, out = f"{RUN.replace(':', '_')}_celery", f"{RUN}:celery:out"
    env = dict(os.environ, BENCH_CELERY_BROKER=BROKER, BENCH_CELERY_QUEUE=queue, BENCH_RECORD_URL=URL,
               BENCH_CELERY_RATE=f"{limit / WINDOW:g}/s",
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    log = tempfile.NamedTemporaryFile("w", prefix="bench_limiter_celery_", suffix=".log", delete=False)
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "_limiter_celery", "worker", "--pool", "prefork", "-c", "1", "-n",
         f"{queue}{i}@%h", "-Q", queue, "-l", "error", "--without-gossip", "--without-mingle"],
        cwd=HERE, env=env, stdout=log, stderr=log) for i in range(workers)]
    os.environ.update({k: env[k] for k in ("BENCH_CELERY_BROKER", "BENCH_CELERY_QUEUE",
                                           "BENCH_RECORD_URL", "BENCH_CELERY_RATE")})
    from _limiter_celery import app, call
    record = redis.Redis.from_url(URL)
    try:
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < workers:
            assert time.monotonic() < deadline, f"celery workers did not start: see {log.name}"
        total = workers * calls_per_worker
        for _ in range(total):
            call.delay(out)
        while record.llen(out) < total and time.monotonic() < deadline + 60:
            time.sleep(0.2)
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(30)
        log.close()
        broker = redis.Redis.from_url(BROKER)
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    os.unlink(log.name)  # kept when the run failed
    return [int(t) for t in record.lrange(out, 0, -1)]


def latency(samples: int = 3000) -> tuple[list[float], list[float]]:
    """Round trips in ms of PING and of acquire on a Xero-shaped bucket with a full day log."""
    limiter = Limiter.from_url(URL)
    key = f"{RUN}:latency"
    spec = BucketSpec(name=key, key=key, concurrency=10**6, lease_seconds=30.0, reserve=0.2, windows=(
        Window("minute", f"{key}:minute", 10**6, 60.0, 1, 1.0), Window("day", f"{key}:day", 10**6, 86400.0, 1, 1.0),
        Window("app_minute", f"{key}:app", 10**6, 60.0, 1, 1.0)))
    limiter.observe_remaining(spec, "day", 10**6 - 5000)  # a day log of 5000 grants
    pings, acquires = [], []
    for i in range(samples + 300):
        started = time.perf_counter()
        limiter.redis.ping()
        ping = time.perf_counter() - started
        started = time.perf_counter()
        grant = limiter.acquire(spec)
        acquire = time.perf_counter() - started
        limiter.release(spec, grant.lease)
        if i >= 300:  # warm-up
            pings.append(ping * 1e3)
            acquires.append(acquire * 1e3)
    return pings, acquires


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    started = time.monotonic()
    rows = []
    got, allowed, most = utilization()
    rows.append(("utilization, 8 processes, 50 calls / 2 s window, 10 s", f"{got / allowed:.1%} ({got}/{allowed})",
                 ">= 95%"))
    rows.append(("most calls in any 2 s window, same run", f"{most}/50 ({most / 50:.2f}x)", "<= 1.00x"))
    limit = 20
    celery_most = most_in_any_window(celery_rate_limit(limit), WINDOW)
    rows.append((f"Celery rate_limit={limit / WINDOW:g}/s, 3 worker nodes: most in any 2 s window / {limit}",
                 f"{celery_most}/{limit} ({celery_most / limit:.2f}x)", "(for comparison)"))
    ours = most_in_any_window(contend(bucket("vs", limit), 3, 8.0), WINDOW)
    rows.append((f"limiter {limit} / 2 s, 3 processes: most in any 2 s window / {limit}",
                 f"{ours}/{limit} ({ours / limit:.2f}x)", "<= 1.00x"))
    pings, acquires = latency()
    for name, f in (("median", statistics.median), ("p99", p99)):
        rows.append((f"acquire latency {name} (Xero-shaped: 3 windows + leases)",
                     f"{f(acquires):.3f} ms ({f(acquires) / f(pings):.2f}x PING {f(pings):.3f} ms)", ""))
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(f"{RUN}*"):
        client.delete(key)
    print("| measure | result | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{time.monotonic() - started:.0f} s, Redis {URL}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
