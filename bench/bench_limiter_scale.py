"""Scale simulation of the shared limiter: many merchants' Xero budgets on one Redis.

    .venv/bin/python bench/bench_limiter_scale.py [--merchants 1000] [--processes 4] [--seconds 60]

Every merchant has three accounting connections (user, company, service), each on its own
Xero app, so 3 x merchants buckets built by ``xero_bucket`` with the production limits and
sub-windows, the day time-scaled to ``--seconds`` (the minute to 1/1440 of it). Processes
acquire and release on buckets picked at random for one scaled day, as fast as Redis lets
them. Prints acquire throughput, the limiter's memory (MEMORY USAGE of every key it made),
bytes per tenant and what they extrapolate to.

Redis comes from REDIS_URL (database BENCH_REDIS_DB [13]), only under keys of its own run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import uuid
from collections import Counter

os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch keys: the development key is fine

import redis
from _limiter_workers import drive

from paysync.budgets import budget_settings, xero_bucket
from paysync.budgets.limiter import _keys
from paysync.config import settings

BASE = os.environ.get("REDIS_URL", settings().redis_url).rsplit("/", 1)[0]
URL = f"{BASE}/{os.environ.get('BENCH_REDIS_DB', '13')}"
RUN = f"bench-scale-{uuid.uuid4().hex[:8]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--merchants", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the scaled day")
    args = parser.parse_args()
    os.environ["PAYSYNC_XERO_DAY_SECONDS"] = str(args.seconds)
    os.environ["PAYSYNC_XERO_MINUTE_SECONDS"] = str(args.seconds / 1440)
    os.environ["PAYSYNC_LIMIT_MARGIN_SECONDS"] = "0"
    budget_settings.cache_clear()
    specs = [xero_bucket(f"{RUN}-{role}", f"tenant-{m}") for role in ("user", "company", "service")
             for m in range(args.merchants)]
    client = redis.Redis.from_url(URL)
    ctx, out = multiprocessing.get_context("spawn"), f"{RUN}:out"
    barrier = ctx.Barrier(args.processes + 1)
    procs = [ctx.Process(target=drive, args=(URL, specs, args.seconds, barrier, out, seed))
             for seed in range(args.processes)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    started = time.monotonic()
    for p in procs:
        p.join(args.seconds + 120)
    elapsed = time.monotonic() - started
    counts = [json.loads(c) for c in client.lrange(out, 0, -1)]
    calls, grants = sum(c for c, _ in counts), sum(g for _, g in counts)

    tenant_bytes, app_bytes, fields = 0, 0, Counter()
    for spec in specs:
        for key in _keys(spec):
            if key.endswith(":app_minute:counts") or key.endswith(":app_minute:past"):
                continue
            tenant_bytes += client.memory_usage(key) or 0
        fields[client.hlen(spec.window("day").second_key) + 1] += 1
    apps = {key for spec in specs for key in _keys(spec) if ":app_minute:" in key}
    app_bytes = sum(client.memory_usage(k) or 0 for k in apps)
    buckets = len(specs)
    per_tenant = tenant_bytes / buckets
    sub = budget_settings().subwindows
    mean_fields = sum(n * c for n, c in fields.items()) / buckets
    print(f"{args.merchants} merchants x 3 connections = {buckets} Xero buckets on 3 apps; "
          f"{args.processes} processes for one day scaled to {args.seconds:g} s ({elapsed:.0f} s)\n")
    print("| measure | result |\n|---|---|")
    print(f"| acquires (each followed by its release) | {calls} ({calls / elapsed:,.0f} a second; "
          f"{grants / max(1, calls):.1%} granted) |")
    print(f"| limiter memory, every tenant's keys | {tenant_bytes / 2**20:.2f} MiB "
          f"({per_tenant / 1024:.2f} KB a tenant) |")
    print(f"| limiter memory, the 3 app windows | {app_bytes / 1024:.1f} KB |")
    print(f"| day sub-windows holding calls, mean per tenant | {mean_fields:.0f} of {sub + 1} |")
    print(f"| extrapolated to 5,000 merchants (15,000 buckets) | "
          f"{per_tenant * 15000 / 2**20:.0f} MiB |")
    for key in client.scan_iter(f"*{RUN}*"):
        client.delete(key)


if __name__ == "__main__":
    main()
