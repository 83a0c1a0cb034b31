"""Benchmark: interactive jobs under a saturated batch load, and batch throughput, for three worker
layouts side by side in one run; prints markdown.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_interactive.py

The sandbox enforces Xero's limits (60 calls a minute, 5 in flight per app and tenant),
time-scaled as in ``bench_multiconnection.py``: one Xero minute lasts BENCH_XERO_MINUTE [6] s
and a call takes BENCH_XERO_LATENCY_MS [300] ms scaled the same way (30 ms). One merchant,
multi-connection on, three apps on the sandbox's tenant. The interactive job is
``accounting.download_latest`` (user), sent every BENCH_DOWNLOAD_EVERY [1] s and timed from
send to result, in three phases per layout:

1. idle: nothing else runs (BENCH_IDLE_SECONDS [30]);
2. a budget-bound batch: BENCH_USER_JOBS [330] ``accounting.record_payment`` batch jobs on the
   user connection (one ``PUT /Payments`` each: the Xero side of auto-payment execution);
   the batch's throughput is payments per second, first job sent to last payment recorded;
3. a process-bound batch: BENCH_SMOKE_JOBS [400] ``paysync.smoke_user`` batch jobs of the
   merchant, each sleeping BENCH_SMOKE_MS [300] ms (a job's own I/O), so every batch process
   is always busy; its throughput is jobs per second.

Layouts (the ``user`` worker's processes, then the interactive pool's):

- **one pool** (the design before): one worker for the user traffic, 4 processes taking
  interactive jobs first by priority, and every batch job straight to the queue
  (``PAYSYNC_FAIR_SHARE=0``);
- **one pool of 6**: the same with as many processes as the next layout has in all;
- **reserved** (now): the user worker's 4 processes, the fair share on, and the user
  traffic's interactive pool (2 processes on ``user.interactive`` only).

Runs in its own PostgreSQL database (created and dropped) and a Redis of its own.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

os.environ.setdefault("PAYSYNC_ENV", "test")
MINUTE = float(os.environ.get("BENCH_XERO_MINUTE", "6"))
LATENCY_MS = float(os.environ.get("BENCH_XERO_LATENCY_MS", "300")) * MINUTE / 60
MARGIN_S = float(os.environ.get("PAYSYNC_LIMIT_MARGIN_SECONDS", "0.5"))
USER_JOBS = int(os.environ.get("BENCH_USER_JOBS", "330"))
SMOKE_JOBS = int(os.environ.get("BENCH_SMOKE_JOBS", "400"))
SMOKE = float(os.environ.get("BENCH_SMOKE_MS", "300")) / 1000
EVERY = float(os.environ.get("BENCH_DOWNLOAD_EVERY", "1"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
TIMEOUT = float(os.environ.get("BENCH_MODE_TIMEOUT", "600"))
os.environ.update({
    "PAYSYNC_XERO_MINUTE_SECONDS": str(MINUTE),
    "PAYSYNC_LIMIT_MARGIN_SECONDS": str(MARGIN_S),
})
SPAN = MINUTE + MARGIN_S
LAYOUTS = (  # name, user worker processes, interactive pool processes, fair share
    ("one pool (before)", 4, 0, "0"),
    ("one pool of 6", 6, 0, "0"),
    ("reserved (now)", 4, 2, os.environ.get("PAYSYNC_FAIR_SHARE") or "2"),
)
GOAL_RATIO = 1.5  # the reserved layout's interactive p95 under each batch load, as a ratio to its idle p95
GOAL_THROUGHPUT = 0.9  # the reserved layout's batch throughput under each load, as a ratio to the design before


def reset_sandbox(ctl) -> None:
    ctl.reset(seed=1, size={"xero": {"minute_seconds": MINUTE, "latency_ms": LATENCY_MS, "invoices": 300}})
    ctl.reset_counters()


def phase_idle(world, w) -> object:
    run = w.Run("idle")
    stream = w.DownloadStream(world.merchant_id, EVERY, run).start()
    time.sleep(IDLE_SECONDS)
    stream.stop()
    return run


def phase_payments(world, w, tag: str) -> object:
    from storage import reports

    run = w.Run("payments")
    jobs = w.user_jobs(world, USER_JOBS, tag)
    run.started = time.monotonic()
    stream = w.DownloadStream(world.merchant_id, EVERY, run).start()
    try:
        results = w.send(jobs)
        for r in results:
            r.get(timeout=TIMEOUT, propagate=False)
    finally:
        stream.stop()
    recorded, failed = reports.accounting_payment_outcomes(world.merchant_id, tag)
    run.finished["user"] = time.monotonic() - run.started
    run.totals = {"done": recorded}
    run.failed = {"payments": failed}
    return run


def phase_smoke(world, w, tag: str) -> object:
    from tasks.routing import enqueue

    run = w.Run("smoke")
    run.started = time.monotonic()
    stream = w.DownloadStream(world.merchant_id, EVERY, run).start()
    try:
        results = [enqueue("paysync.smoke_user", {"token": f"{tag}-{i}", "sleep": SMOKE,
                                                  "merchant_id": world.merchant_id}, interactive=False)
                   for i in range(SMOKE_JOBS)]
        done = sum(1 for r in results if r.get(timeout=TIMEOUT, propagate=False) is not None)
    finally:
        stream.stop()
    run.finished["user"] = time.monotonic() - run.started
    run.totals = {"done": done}
    return run


def run_layout(ctl, world, w, logdir: Path, index: int, name: str, user_procs: int, pool: int,
               share: str) -> dict:
    from paysync_dev import devstack

    os.environ["PAYSYNC_FAIR_SHARE"] = share
    procs = [devstack.start_worker(logdir, "user", user_procs, name=f"user{index}", supervised=False,
                                   PAYSYNC_FAIR_SHARE=share)]
    if pool:
        procs.append(devstack.start_interactive_worker(logdir, "user", pool, name=f"interactive{index}",
                                                       supervised=False, PAYSYNC_FAIR_SHARE=share))
    try:
        time.sleep(SPAN + 0.5)
        idle = phase_idle(world, w)
        time.sleep(SPAN + 0.5)
        payments = phase_payments(world, w, f"l{index}")
        time.sleep(SPAN + 0.5)
        smoke = phase_smoke(world, w, f"l{index}-smoke")
    finally:
        for proc in procs:
            proc.stop()
    calls, throttled = w.app_stats(ctl, world)
    print(f"{name}: done", file=sys.stderr)
    return {"name": name, "idle": idle, "payments": payments, "smoke": smoke, "throttled": dict(throttled),
            "calls": dict(calls)}


def report(rows: list[dict], w) -> None:
    print(f"Interactive jobs (`accounting.download_latest`, user) every {EVERY:g} s; Xero 60 calls a minute and "
          f"5 in flight per app, time-scaled (1 Xero minute = {MINUTE:g} s, {LATENCY_MS:.0f} ms per call); "
          f"{USER_JOBS} record_payment batch jobs, then {SMOKE_JOBS} batch jobs of {SMOKE * 1000:.0f} ms\n")
    print("| layout | idle: median / p95 (s), n | budget-bound batch: median / p95 (s), n | p95 / idle | "
          "process-bound batch: median / p95 (s), n | p95 / idle |")
    print("|---|---|---|---|---|---|")

    def cell(run) -> str:
        d = run.downloads
        return f"{w.median(d):.2f} / {w.percentile(d, .95):.2f}, {len(d)}"

    for row in rows:
        idle = w.percentile(row["idle"].downloads, .95)
        print(f"| {row['name']} | {cell(row['idle'])} | {cell(row['payments'])} | "
              f"**{w.percentile(row['payments'].downloads, .95) / idle:.2f}x** | {cell(row['smoke'])} | "
              f"**{w.percentile(row['smoke'].downloads, .95) / idle:.2f}x** |")
    pooled = [d for row in rows for d in row["idle"].downloads]
    p_idle = w.percentile(pooled, .95)
    print(f"\nIdle, every layout's samples together: median / p95 {w.median(pooled):.2f} / {p_idle:.2f} s, "
          f"n {len(pooled)}; under load against it, p95 / pooled idle p95: "
          + "; ".join(f"{row['name']} {w.percentile(row['payments'].downloads, .95) / p_idle:.2f}x (budget-bound), "
                      f"{w.percentile(row['smoke'].downloads, .95) / p_idle:.2f}x (process-bound)" for row in rows))
    base = rows[0]
    print("\n| layout | payments recorded / s (budget-bound) | vs before | batch jobs / s (process-bound) | vs before |")
    print("|---|---|---|---|---|")
    for row in rows:
        p = row["payments"].totals["done"] / row["payments"].finished["user"]
        p0 = base["payments"].totals["done"] / base["payments"].finished["user"]
        s = row["smoke"].totals["done"] / row["smoke"].finished["user"]
        s0 = base["smoke"].totals["done"] / base["smoke"].finished["user"]
        print(f"| {row['name']} | {p:.2f} ({row['payments'].totals['done']} in {row['payments'].finished['user']:.1f} s) "
              f"| {p / p0:.2f}x | {s:.2f} ({row['smoke'].totals['done']} in {row['smoke'].finished['user']:.1f} s) "
              f"| {s / s0:.2f}x |")
    print(f"\n429s per app over the whole run: {rows[-1]['throttled']}; failed payments: "
          f"{[row['payments'].failed for row in rows]}")
    for row in rows:
        for phase in ("idle", "payments", "smoke"):
            if row[phase].download_errors:
                print(f"download errors ({row['name']}, {phase}): {row[phase].download_errors[:3]}")


def main() -> int:
    from paysync_dev import devstack
    from paysync_dev.redis_server import RedisServer
    from paysync_dev.sandbox.control import SandboxControl

    with RedisServer(prefix="paysync-bench-redis-") as server, devstack.scratch_database("paysync_bench"):
        os.environ["REDIS_URL"] = server.url
        from paysync.config import settings

        settings.cache_clear()
        import _multiconnection_world as w

        procs: list = []
        logdir = Path(tempfile.mkdtemp(prefix="bench-interactive-"))
        rows = []
        try:
            sandbox, sandbox_url = devstack.start_sandbox(logdir)
            procs.append(sandbox)
            ctl = SandboxControl(sandbox_url)
            reset_sandbox(ctl)
            setup = devstack.start_worker(logdir, "user", 2, name="setup", supervised=False)
            try:
                world = w.build_world(ctl, "interactive", True)
            finally:
                setup.stop()
            for index, (name, user_procs, pool, share) in enumerate(LAYOUTS):
                rows.append(run_layout(ctl, world, w, logdir, index, name, user_procs, pool, share))
        finally:
            for proc in reversed(procs):
                proc.stop()
    report(rows, w)
    print(f"\n(logs in {logdir})")
    return 0 if goals_met(rows, w) else 1


def goals_met(rows: list[dict], w) -> bool:
    """Print each goal with its figure; False when one is missed (the benchmark exits 1)."""
    before, now = rows[0], rows[-1]
    idle = w.percentile(now["idle"].downloads, .95)

    def rate(row: dict, phase: str) -> float:
        return row[phase].totals["done"] / row[phase].finished["user"]

    checks = []
    for phase, load in (("payments", "budget-bound"), ("smoke", "process-bound")):
        checks.append((f"{now['name']}: interactive p95 under the {load} batch / idle <= {GOAL_RATIO:g}x",
                       w.percentile(now[phase].downloads, .95) / idle <= GOAL_RATIO))
        checks.append((f"{now['name']}: {load} batch throughput / {before['name']} >= {GOAL_THROUGHPUT:g}x",
                       rate(now, phase) / rate(before, phase) >= GOAL_THROUGHPUT))
    checks.append(("no payment failed", not any(any(row["payments"].failed.values()) for row in rows)))
    print()
    for what, ok in checks:
        print(f"goal {'met' if ok else 'MISSED'}: {what}")
    return all(ok for _, ok in checks)


if __name__ == "__main__":
    sys.exit(main())
