"""Benchmark of the shared limiter (paysync.budgets); prints a markdown table.

    .venv/bin/python bench/bench_limiter.py

1. Utilization: 8 processes contend for one bucket; the share of the calls the window
   allows that they actually got (target at least 95%).
2. Safety against Celery's own ``rate_limit``: 3 ``celery worker`` nodes with the task's
   rate_limit against 3 processes using the limiter, on the same nominal limit; the most
   calls seen in any sliding window, as a multiple of the limit.
3. Waiting: 16 processes on a Xero-shaped bucket whose day window binds, before (sliding
   logs, every refused caller sleeping the exact wait) and now (sub-window counters, callers
   booked by the limiter): acquire calls per grant (target at most 1.5), the day window's
   utilization and the most calls in any sliding day.
4. Memory: bytes a Xero tenant's budget holds at 5,000 calls a day, sliding logs against
   sub-window counters (target at most 16 KB), from a time-scaled day of real acquires.
5. Acquire latency (median, p99) against a bare Redis PING measured in the same run, on a
   Xero-shaped bucket with sub-window counters and with the sliding logs (a day of 5,000).

Time-scaled (windows of seconds) so it runs in about two minutes. Redis comes from
REDIS_URL (default settings().redis_url); the bench uses databases BENCH_REDIS_DB [13] for
its records and BENCH_CELERY_DB [14] as Celery's broker, only under keys of its own run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch keys: the development key is fine

import redis
from _limiter_workers import grab, most_in_any_window

from paysync.budgets import BucketSpec, Limiter, Window, budget_settings
from paysync.budgets.connections import PerThreadConnections
from paysync.budgets.limiter import _acquire_frame, _bulk
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


def xero_shaped(name: str, subwindows: int, day: tuple[int, float], minute: tuple[int, float],
                concurrency: int | None = 16, app: str | None = None) -> BucketSpec:
    """A bucket with Xero's three windows (time-scaled); ``subwindows`` 0 keeps sliding logs."""
    key, app_key = f"{RUN}:{name}", f"{RUN}:{app or name}:app"
    return BucketSpec(name=key, key=key, concurrency=concurrency, lease_seconds=5.0, reserve=0.2, windows=(
        Window("minute", f"{key}:minute", minute[0], minute[1], 1, 0.0),
        Window("day", f"{key}:day", day[0], day[1], 1, 0.0, subwindows=subwindows,
               reserve_floor=0.05 if subwindows else None),
        Window("app_minute", f"{app_key}:app_minute", 10000, minute[1], 1, 0.0, subwindows=subwindows)))


def waiting(mode: str, subwindows: int, processes: int = 16, seconds: float = 12.0) -> tuple[float, float, int]:
    """Calls per grant, the day window's utilization and the most in any sliding day when
    ``processes`` take calls lasting up to 50 ms for ``seconds`` (two days) from a bucket whose
    day (300 / 6 s) binds; the minute (30 / 0.5 s) spreads the grants over the day."""
    day = (300, 6.0)
    spec = xero_shaped(f"wait-{mode}", subwindows, day, (30, 0.5))
    ctx, out = multiprocessing.get_context("spawn"), f"{spec.key}:out"
    barrier = ctx.Barrier(processes + 1)
    procs = [ctx.Process(target=grab, args=(URL, spec, seconds + 1, barrier, out, mode, True, 0.05))
             for _ in range(processes)]
    for p in procs:
        p.start()
    barrier.wait(timeout=60)
    for p in procs:
        p.join(seconds + 60)
    client = redis.Redis.from_url(URL)
    times = [int(t) for t in client.lrange(out, 0, -1)]
    counts = [json.loads(c) for c in client.lrange(f"{out}:calls", 0, -1)]
    first = min(times)
    got = sum(1 for t in times if t < first + seconds * 1e6)
    return (sum(c for c, _ in counts) / max(1, sum(g for _, g in counts)),
            got / ((day[0] - 1) * seconds / day[1]), most_in_any_window(times, day[1]))


def memory_per_tenant(calls: int = 5000, day_seconds: float = 20.0) -> dict[str, tuple[int, int]]:
    """Bytes (MEMORY USAGE) held by one Xero tenant's keys and by its app's window after
    ``calls`` acquires spread over a time-scaled day, for sliding logs and for counters."""
    limiter = Limiter.from_url(URL)
    minute = (60, day_seconds / 1440)
    specs = {"log": xero_shaped("mem-log", 0, (calls * 2, day_seconds), minute, 5),
             "counters": xero_shaped("mem-counters", budget_settings().subwindows, (calls * 2, day_seconds), minute, 5)}
    started = time.monotonic()
    for i in range(calls):
        time.sleep(max(0.0, started + i * day_seconds / calls - time.monotonic()))
        for spec in specs.values():
            grant = limiter.acquire(spec, interactive=i % 10 == 0)
            assert grant.ok, grant
            limiter.release(spec, grant.lease)
    out = {}
    for name, spec in specs.items():
        tenant = sum(limiter.redis.memory_usage(k) or 0 for k in limiter.redis.scan_iter(f"{spec.key}:*")
                     if b":app" not in k)
        app = sum(limiter.redis.memory_usage(k) or 0 for k in limiter.redis.scan_iter(f"{spec.key}:app*"))
        out[name] = (tenant, app)
    return out


def latency_bucket(limiter: Limiter, app: str, subwindows: int) -> BucketSpec:
    """A Xero-shaped bucket that never binds (keyed as ``xero_bucket`` keys them, under
    ``app``), its day holding 5,000 grants: what the latency rows time."""
    key = f"{app}:tenant"
    spec = BucketSpec(name=key, key=key, concurrency=10**6, lease_seconds=30.0, reserve=0.2, windows=(
        Window("minute", f"{key}:minute", 10**6, 60.0, 1, 1.0),
        Window("day", f"{key}:day", 10**6, 86400.0, 1, 1.0, subwindows=subwindows,
               reserve_floor=0.05 if subwindows else None),
        Window("app_minute", f"{app}:app_minute", 10**6, 60.0, 1, 1.0, subwindows=subwindows)))
    limiter.observe_remaining(spec, "day", 10**6 - 5000)
    return spec


def latency(samples: int = 3000) -> dict[str, list[float]]:
    """Round trips in ms of PING and of acquire on Xero-shaped buckets (sub-window counters;
    sliding logs with a day of 5,000 grants), interleaved."""
    limiter = Limiter.from_url(URL)
    specs = {name: latency_bucket(limiter, f"{RUN}:latency-{name}", subwindows)
             for name, subwindows in (("counters", budget_settings().subwindows), ("log", 0))}
    # where an acquire's time goes, on the counters bucket: the bare round trip (a PING on a
    # connection like the limiter's own), an empty script taking the acquire's keys and
    # arguments, and the acquire's own script, each sent packed and read back the same way
    own = PerThreadConnections(limiter.redis)
    spec = specs["counters"]
    empty = limiter.redis.script_load("return {ok = '1 0 0 0 '}")
    packed = {"bare PING": lambda: b"*1\r\n$4\r\nPING\r\n"}
    for label, sha in (("empty script", empty), ("acquire script", limiter._acquire.sha)):
        _, _, prefix, head, tail = _acquire_frame(spec, False, sha)
        packed[label] = lambda p=prefix, h=head, t=tail: b"".join((p, _bulk(os.urandom(8).hex().encode()), h,
                                                                    _bulk(b"0"), t))

    def send(command: bytes) -> None:
        own.run(command, lambda: None)

    out: dict[str, list[float]] = {"ping": [], "counters": [], "log": [], **{k: [] for k in packed}}
    for i in range(samples + 300):
        started = time.perf_counter()
        limiter.redis.ping()
        took = {"ping": time.perf_counter() - started}
        for name, spec in specs.items():
            started = time.perf_counter()
            grant = limiter.acquire(spec)
            took[name] = time.perf_counter() - started
            limiter.release(spec, grant.lease)
        for label, command in packed.items():
            body = command()
            started = time.perf_counter()
            send(body)
            took[label] = time.perf_counter() - started
        if i >= 300:  # warm-up
            for name, seconds in took.items():
                out[name].append(seconds * 1e3)
    return out


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
    for label, mode, subwindows in (("before: sliding logs, exact waits", "exact", 0),
                                    ("now: sub-window counters, booked", "booked", budget_settings().subwindows)):
        per_grant, used, most = waiting(mode, subwindows)
        rows.append((f"16 processes, Xero-shaped (day 300 / 6 s binds), {label}: acquire calls per grant",
                     f"{per_grant:.2f}", "<= 1.5"))
        rows.append(("  same run: calls in 12 s of the 598 two days allow; most in any sliding 6 s",
                     f"{used:.1%}; {most}/300", f">= {1 - 1 / (1 + subwindows) if subwindows else 1:.0%}; <= 300"))
    memory = memory_per_tenant()
    for name, (tenant, app) in memory.items():
        rows.append((f"bytes per Xero tenant at 5,000 calls a day, {name} (its app window: shared by its tenants)",
                     f"{tenant / 1024:.1f} KB (app window {app / 1024:.1f} KB)", "<= 16 KB" if name == "counters" else ""))
    times = latency()
    ping = times.pop("ping")
    parts = {label: statistics.median(times.pop(label)) for label in ("bare PING", "empty script", "acquire script")}
    for name, f in (("median", statistics.median), ("p99", p99)):
        for shape, values in times.items():
            rows.append((f"acquire latency {name}, Xero-shaped ({shape}: 3 windows + leases)",
                         f"{f(values):.3f} ms ({f(values) / f(ping):.2f}x PING {f(ping):.3f} ms, "
                         f"+{(f(values) - f(ping)) * 1000:.0f} us)",
                         "<= 1.5x" if name == "median" else ""))
    bare, empty, script = parts["bare PING"], parts["empty script"], parts["acquire script"]
    whole, py_ping = statistics.median(times["counters"]), statistics.median(ping)
    rows.append(("where the counters acquire's median goes (medians, us): bare round trip (a PING on a connection "
                 "like the limiter's own); + an empty script with its keys and arguments; + its script's work; "
                 "+ paysync's client; a PING through redis-py",
                 f"{bare * 1000:.0f}; +{(empty - bare) * 1000:.0f}; +{(script - empty) * 1000:.0f}; "
                 f"+{(whole - script) * 1000:.0f}; {py_ping * 1000:.0f}", ""))
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(f"{RUN}*"):
        client.delete(key)
    print("| measure | result | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{time.monotonic() - started:.0f} s, Redis {URL}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
