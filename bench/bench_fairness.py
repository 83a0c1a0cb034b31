"""Benchmark of the fair share between merchants on one queue (``tasks/dispatch.py``); prints markdown.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_fairness.py

One ``user`` worker (BENCH_CONCURRENCY [2] processes) runs ``paysync.smoke_user`` jobs sent
with the batch class, each sleeping BENCH_JOB_MS [50] ms (its own I/O), on a Redis of its own.
50 merchants: merchant A sends BENCH_BACKLOG [5000] batch jobs at once; then each of the 49
others sends one batch job, one every BENCH_EVERY [0.5] s. The others' jobs are timed from
send to result ("wait") and compared with the same job on an idle system (BENCH_IDLE [49]
jobs one after the other, measured in the same mode just before).

Two runs in one process: the fair share off (``PAYSYNC_FAIR_SHARE=0``: every batch job
straight to the queue, the design before it) and on (the default share). A's throughput
is its jobs finished per second while the others' jobs ran. With the fair share off the
others wait for A's whole backlog, so that run lasts until it drained; with it on the run
ends when the others are done, and A's remaining backlog is dropped.
"""

from __future__ import annotations

import ast
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
JOB = float(os.environ.get("BENCH_JOB_MS", "50")) / 1000
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "5000"))
OTHERS = int(os.environ.get("BENCH_MERCHANTS", "50")) - 1
EVERY = float(os.environ.get("BENCH_EVERY", "0.5"))
IDLE = int(os.environ.get("BENCH_IDLE", "49"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "1200"))
SHARE_ON = os.environ.get("PAYSYNC_FAIR_SHARE") or "2"
GOAL_RATIO = 2.0  # the others' p95 under A's backlog, as a ratio to idle, with the fair share on
GOAL_THROUGHPUT = 0.8  # A's throughput with the fair share on, as a ratio to off: it must not collapse


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def smoke(token: str, merchant: int):
    from tasks.routing import enqueue

    return enqueue("paysync.smoke_user", {"token": token, "sleep": JOB, "merchant_id": merchant}, interactive=False)


def idle_waits(mode: str) -> list[float]:
    out = []
    for i in range(IDLE):
        sent = time.monotonic()
        smoke(f"idle-{mode}-{i}", 1000 + i).get(timeout=60)
        out.append(time.monotonic() - sent)
        time.sleep(0.1)
    return out


def loaded(mode: str) -> dict:
    import redis

    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    a_token = f"A-{mode}"
    t0 = time.time()
    for _ in range(BACKLOG):
        smoke(a_token, 1)
    sent_backlog = time.time() - t0
    others: list[tuple[float, float, float]] = []  # (sent, started, done) wall times
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        sent = time.time()
        try:
            where = smoke(f"other-{mode}-{i}", 2 + i).get(timeout=TIMEOUT)
            with lock:
                others.append((sent, float(where["started"]), time.time()))
        except Exception as exc:  # noqa: BLE001 - reported
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    pool = ThreadPoolExecutor(max_workers=OTHERS)
    start = time.monotonic()
    for i in range(OTHERS):
        pool.submit(one, i)
        time.sleep(max(0.0, start + (i + 1) * EVERY - time.monotonic()))
    pool.shutdown(wait=True)
    a_starts = sorted(float(ast.literal_eval(x.decode())["started"]) for x in r.lrange(f"paysync:smoke:{a_token}:where", 0, -1))
    first_sent = min(s for s, _, _ in others)
    last_done = max(d for _, _, d in others)
    a_in_window = sum(1 for t in a_starts if first_sent <= t <= last_done)
    ahead = [sum(1 for t in a_starts if sent <= t < started) for sent, started, _ in others]
    others_in_window = sum(1 for _, st, _ in others if first_sent <= st <= last_done)
    return {"waits": [d - s for s, _, d in others], "queued": [st - s for s, st, _ in others], "errors": errors,
            "a_rate": a_in_window / (last_done - first_sent),
            "all_rate": (a_in_window + others_in_window) / (last_done - first_sent), "a_done": len(a_starts), "window": last_done - first_sent,
            "ahead_max": max(ahead), "ahead_p95": pct([float(a) for a in ahead], 0.95), "sent_backlog": sent_backlog}


def main() -> int:
    from paysync_dev.redis_server import RedisServer

    with RedisServer(prefix="paysync-bench-redis-") as server:
        os.environ["REDIS_URL"] = server.url
        os.environ.setdefault("PAYSYNC_ENV", "test")
        import redis

        from paysync.config import settings
        from paysync_dev import devstack

        settings.cache_clear()
        logdir = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
        results = {}
        for mode, share in (("off", "0"), ("on", SHARE_ON)):
            os.environ["PAYSYNC_FAIR_SHARE"] = share
            worker = devstack.start_worker(logdir, "user", CONCURRENCY, name=f"user-{mode}", supervised=False,
                                           PAYSYNC_FAIR_SHARE=share)
            try:
                idle = idle_waits(mode)
                run = loaded(mode)
            finally:
                worker.stop()
                redis.Redis.from_url(server.url).flushdb()
            results[mode] = (idle, run)
            print(f"{mode}: done ({run['a_done']} of A's jobs ran)", file=sys.stderr)
    report(results)
    print(f"\n(logs in {logdir})")
    return 0 if goals_met(results) else 1


def goals_met(results: dict) -> bool:
    """Print each goal with its figure; False when one is missed (the benchmark exits 1)."""
    (_, off), (i_on, on) = results["off"], results["on"]
    checks = [
        (f"others' p95 under load / idle <= {GOAL_RATIO:g}x with the fair share on",
         pct(on["waits"], .95) / pct(i_on, .95) <= GOAL_RATIO),
        (f"A's throughput on / off >= {GOAL_THROUGHPUT:g}x", on["a_rate"] / off["a_rate"] >= GOAL_THROUGHPUT),
        ("no job failed", not off["errors"] and not on["errors"]),
    ]
    print()
    for what, ok in checks:
        print(f"goal {'met' if ok else 'MISSED'}: {what}")
    return all(ok for _, ok in checks)


def report(results: dict) -> None:
    (i_off, off), (i_on, on) = results["off"], results["on"]
    print(f"Fair share: one `user` worker, {CONCURRENCY} processes; batch jobs of {JOB * 1000:.0f} ms; merchant A "
          f"sends {BACKLOG} at once, then {OTHERS} other merchants one each every {EVERY:g} s\n")
    print(f"| measure | fair share off (previous design) | on (`PAYSYNC_FAIR_SHARE={SHARE_ON}`) |")
    print("|---|---|---|")
    print(f"| the same job on an idle system: median / p95 (s) | {statistics.median(i_off):.3f} / {pct(i_off, .95):.3f} "
          f"| {statistics.median(i_on):.3f} / {pct(i_on, .95):.3f} |")
    print(f"| other merchants' jobs under A's backlog: median / p95 / max (s) | {statistics.median(off['waits']):.2f} / "
          f"{pct(off['waits'], .95):.2f} / {max(off['waits']):.2f} | {statistics.median(on['waits']):.3f} / "
          f"{pct(on['waits'], .95):.3f} / {max(on['waits']):.3f} |")
    print(f"| **p95 under load / p95 idle** | **{pct(off['waits'], .95) / pct(i_off, .95):.0f}x** | "
          f"**{pct(on['waits'], .95) / pct(i_on, .95):.2f}x** |")
    print(f"| of which queued (send to start): p95 (s) | {pct(off['queued'], .95):.2f} | {pct(on['queued'], .95):.3f} |")
    print(f"| A's jobs started between another merchant's send and its start: p95 / most | {off['ahead_p95']:.0f} / "
          f"{off['ahead_max']} | {on['ahead_p95']:.0f} / {on['ahead_max']} |")
    print(f"| A's throughput while the others ran (jobs/s) | {off['a_rate']:.1f} | {on['a_rate']:.1f} "
          f"({on['a_rate'] / off['a_rate']:.2f}x) |")
    print(f"| every job of the queue (A's and the others') while the others ran (jobs/s) | {off['all_rate']:.1f} | "
          f"{on['all_rate']:.1f} ({on['all_rate'] / off['all_rate']:.2f}x) |")
    print(f"| the others' jobs ran over (s) | {off['window']:.0f} | {on['window']:.0f} |")
    print(f"| sending A's {BACKLOG} jobs took (s) | {off['sent_backlog']:.1f} | {on['sent_backlog']:.1f} |")
    for mode, run in (("off", off), ("on", on)):
        if run["errors"]:
            print(f"\nerrors ({mode}): {run['errors'][:3]}")


if __name__ == "__main__":
    sys.exit(main())
