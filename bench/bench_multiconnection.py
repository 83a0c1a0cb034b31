"""Benchmark of the seed's claim: three connections carry about three times the traffic of one,
and user actions stay fast. Prints markdown tables.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_multiconnection.py

Against the sandbox with Xero's limits (60 calls a minute, 5 in flight, per app and tenant),
time-scaled: one Xero minute lasts BENCH_XERO_MINUTE [6] real seconds in the sandbox and in
paysync's limiter (``PAYSYNC_XERO_MINUTE_SECONDS``), and the sandbox answers each call after
BENCH_XERO_LATENCY_MS [300] milliseconds scaled the same way (50 ms at 6 s a minute). Real
Celery workers, one per queue (user 4 processes, company 2, service 4) plus the default
forwarder, run the real tasks. One merchant per mode with three apps (client ids) on the
sandbox's ONE tenant; the same fixed workload, first with multi-connection off, then on:

- user: BENCH_USER_JOBS [330] ``accounting.record_payment`` jobs sent with the batch class
  (the Xero side of auto-payment execution: one ``PUT /Payments`` each);
- company: one ``wisesync.sync_invoices`` batch job over BENCH_CW_INVOICES [410] ConnectWise
  invoices (about 330 reach Xero), one ``PUT /Invoices`` per invoice
  (``PAYSYNC_WISESYNC_BATCH=1``);
- service: BENCH_POLLS [165] ``accounting.poll_latest`` jobs (two reads each);

about 330 Xero calls per third, plus a steady stream of interactive
``accounting.download_latest`` jobs every BENCH_DOWNLOAD_EVERY [1.5] s, each timed from
send to result. Then, multi-connection on, the same stream idle and beside a large user
batch alone (BENCH_USER_JOBS record_payment batch jobs on the user connection).

Work is counted in Xero operations the workload needs: a payment written, an invoice
written, a poll's two reads. "Steady state" is the rate over whole limiter windows
(``minute + PAYSYNC_LIMIT_MARGIN_SECONDS``) after the first window (whose full budget is
free at the start) and while all three thirds still have work. 429s come from the
sandbox's own counters per app.

Runs in its own PostgreSQL database (created and dropped) and Redis database
BENCH_REDIS_DB [11]; the sandbox and the workers are local processes on loopback.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + \
    f"/{os.environ.get('BENCH_REDIS_DB', '11')}"
os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch data: the development key is fine
MINUTE = float(os.environ.get("BENCH_XERO_MINUTE", "6"))
LATENCY_MS = float(os.environ.get("BENCH_XERO_LATENCY_MS", "300")) * MINUTE / 60
MARGIN_S = float(os.environ.get("PAYSYNC_LIMIT_MARGIN_SECONDS", "0.5"))
USER_JOBS = int(os.environ.get("BENCH_USER_JOBS", "330"))
CW_INVOICES = int(os.environ.get("BENCH_CW_INVOICES", "410"))
POLLS = int(os.environ.get("BENCH_POLLS", "165"))
EVERY = float(os.environ.get("BENCH_DOWNLOAD_EVERY", "1.5"))
TIMEOUT = float(os.environ.get("BENCH_MODE_TIMEOUT", "600"))
CONCURRENCY = {"celery": 1, "user": 4, "company": 2, "service": 4}
os.environ.update({
    "PAYSYNC_XERO_MINUTE_SECONDS": str(MINUTE),
    "PAYSYNC_LIMIT_MARGIN_SECONDS": str(MARGIN_S),
    "PAYSYNC_WISESYNC_BATCH": "1",
    # ConnectWise is not what is measured: its bucket must never be the bottleneck.
    "PAYSYNC_CONNECTWISE_MINUTE_LIMIT": "100000",
    "PAYSYNC_CONNECTWISE_CONCURRENCY": "10",
})
SPAN = MINUTE + MARGIN_S  # the limiter's sliding-log length



def reset_sandbox(ctl) -> None:
    ctl.reset(seed=1, size={"xero": {"minute_seconds": MINUTE, "latency_ms": LATENCY_MS, "invoices": 300},
                            "connectwise": {"invoices": CW_INVOICES}})
    ctl.reset_counters()


def work(s) -> int:
    return s.payments + s.invoices + 2 * s.polls


def run_mode(ctl, mode: str, multi: bool):
    import _multiconnection_world as w

    reset_sandbox(ctl)
    world = w.build_world(ctl, mode, multi)
    run = w.Run(mode)
    time.sleep(SPAN + 0.5)  # the set-up's calls leave the limiter's window: every mode starts alike
    run.started = time.monotonic()
    company = w.send([("wisesync.sync_invoices", {"merchant_id": world.merchant_id})])[0]
    polls: list = []
    user = w.user_jobs(world, USER_JOBS, f"{mode}-u")
    for i in range(max(len(user), POLLS)):  # interleaved, so neither queue waits for the other's sending
        if i < len(user):
            w.send([user[i]])
        if i < POLLS:
            polls += w.send([("accounting.poll_latest", {"merchant_id": world.merchant_id})])
    stream = w.DownloadStream(world.merchant_id, EVERY, run).start()
    try:
        deadline = run.started + TIMEOUT
        while time.monotonic() < deadline:
            t = time.monotonic() - run.started
            pay, inv, done, pay_failed, poll_failed = w.progress(world, polls, f"{mode}-u")
            calls, _ = w.app_stats(ctl, world)
            run.samples.append(w.Sample(t, pay, inv, done, sum(calls.values())))
            if pay + pay_failed >= USER_JOBS:
                run.finished.setdefault("user", t)
            if done + poll_failed >= POLLS:
                run.finished.setdefault("service", t)
            if company.ready():
                run.finished.setdefault("company", t)
            if len(run.finished) == 3:
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"{mode}: the workload did not finish in {TIMEOUT:.0f}s: {run.samples[-1]}")
    finally:
        stream.stop()
    run.company_report = company.get(timeout=10)
    last = run.samples[-1]
    run.totals = {"payments": last.payments, "invoices": last.invoices, "polls": last.polls}
    run.failed = {"payments": pay_failed, "polls": poll_failed}
    run.calls, run.throttled = w.app_stats(ctl, world)
    return run, world


def latency_scenarios(ctl, world) -> dict[str, object]:
    """Multi-connection on: the download stream idle, then beside a large user batch alone."""
    import _multiconnection_world as w

    idle = w.Run("idle")
    stream = w.DownloadStream(world.merchant_id, EVERY, idle).start()
    time.sleep(max(10 * EVERY, 10.0))
    stream.stop()
    time.sleep(SPAN + 0.5)
    big = w.Run("big-user-batch")
    results = w.send(w.user_jobs(world, USER_JOBS, "big"))
    big.started = time.monotonic()
    stream = w.DownloadStream(world.merchant_id, EVERY, big).start()
    try:
        for r in results:
            r.get(timeout=TIMEOUT, propagate=False)
    finally:
        stream.stop()
    big.finished["user"] = time.monotonic() - big.started
    big.calls, big.throttled = w.app_stats(ctl, world)
    return {"idle": idle, "big": big}


def steady(run, measure=None) -> tuple[float, float, float]:
    """Per Xero minute over whole limiter windows after the first, while every third has work."""
    measure = measure or work
    end = min(run.finished.values())
    windows = math.floor((end - SPAN) / SPAN)
    if windows < 1:
        return float("nan"), SPAN, end
    t_a, t_b = SPAN, SPAN + windows * SPAN

    def at(t: float) -> int:
        best = run.samples[0]
        for s in run.samples:
            if s.t <= t:
                best = s
        return measure(best)

    return (at(t_b) - at(t_a)) / ((t_b - t_a) / MINUTE), t_a, t_b


def whole(run) -> tuple[float, float]:
    end = max(run.finished.values())
    return work(run.samples[-1]) / (end / MINUTE), end


def report(off, on, scen) -> None:
    import _multiconnection_world as w

    s_off, a_off, b_off = steady(off)
    s_on, a_on, b_on = steady(on)
    w_off, e_off = whole(off)
    w_on, e_on = whole(on)
    print(f"Multi-connection, three apps on one tenant; Xero 60 calls a minute and 5 in flight per app "
          f"(time-scaled: 1 Xero minute = {MINUTE:g} s, {LATENCY_MS:.0f} ms per call); workers user 4, "
          f"company 2, service 4 processes, forwarder 1; download latest every {EVERY:g} s\n")
    print("| measure | multi-connection off | on | on / off |")
    print("|---|---|---|---|")
    print(f"| work per Xero minute, steady state (all thirds busy) | {s_off:.0f} | {s_on:.0f} | "
          f"**{s_on / s_off:.2f}x** |")
    print(f"| work per Xero minute, whole workload (first job to last) | {w_off:.0f} | {w_on:.0f} | "
          f"{w_on / w_off:.2f}x |")
    print(f"| time for the fixed workload (s) | {e_off:.1f} | {e_on:.1f} | {e_off / e_on:.2f}x faster |")
    c_off, c_on = steady(off, lambda s: s.calls)[0], steady(on, lambda s: s.calls)[0]
    print(f"| Xero calls granted per Xero minute, steady state (downloads included) | {c_off:.0f} | {c_on:.0f} | "
          f"{c_on / c_off:.2f}x |")
    u_off, u_on = sum(off.calls.values()) / work(off.samples[-1]), sum(on.calls.values()) / work(on.samples[-1])
    print(f"| Xero calls per unit of work, whole run (downloads included) | {u_off:.2f} | {u_on:.2f} | |")
    print(f"| download latest jobs during the workload (2+ calls each) | {len(off.downloads)} | {len(on.downloads)} "
          "| |")
    for role in w.ROLES:
        print(f"| Xero calls / 429s, {role} app | {off.calls[role]} / {off.throttled[role]} | "
              f"{on.calls[role]} / {on.throttled[role]} | |")
    print(f"| download latest: median / p95 (s), n | {w.median(off.downloads):.2f} / "
          f"{w.percentile(off.downloads, .95):.2f}, {len(off.downloads)} | {w.median(on.downloads):.2f} / "
          f"{w.percentile(on.downloads, .95):.2f}, {len(on.downloads)} | |")
    print(f"\nWork done: off {off.totals} (failed {off.failed}), on {on.totals} (failed {on.failed}); "
          f"company run: off {off.company_report.get('counts')}, on {on.company_report.get('counts')}. "
          f"Steady-state windows: off {a_off:.1f}-{b_off:.1f} s, on {a_on:.1f}-{b_on:.1f} s.")
    errors = off.download_errors + on.download_errors
    if errors:
        print(f"download errors: {errors[:3]}")

    idle, big = scen["idle"], scen["big"]
    print("\n`download latest` (user, interactive), multi-connection on unless said:\n")
    print("| while | downloads | median (s) | p95 (s) | max (s) |")
    print("|---|---|---|---|---|")
    for label, r in (("nothing else runs", idle), ("full workload, multi-connection off", off),
                     ("full workload, multi-connection on", on),
                     (f"a {USER_JOBS}-payment user batch alone on the user connection ({big.finished['user']:.0f} s)",
                      big)):
        print(f"| {label} | {len(r.downloads)} | {w.median(r.downloads):.2f} | {w.percentile(r.downloads, .95):.2f} "
              f"| {max(r.downloads) if r.downloads else float('nan'):.2f} |")
    print(f"\n429s during the user batch: {big.throttled}")


def main() -> int:
    from paysync_dev import devstack
    from paysync_dev.sandbox.control import SandboxControl

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with devstack.scratch_database("paysync_bench"):
        procs: list = []
        logdir = Path(tempfile.mkdtemp(prefix="bench-multiconnection-"))
        try:
            import redis

            redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
            sandbox, url = devstack.start_sandbox(logdir)
            procs.append(sandbox)
            ctl = SandboxControl(url)
            for queue, n in CONCURRENCY.items():
                procs.append(devstack.start_worker(logdir, queue, concurrency=n,
                                                   name="default" if queue == "celery" else queue))
            off, _ = run_mode(ctl, "off", False)
            on, world = run_mode(ctl, "on", True)
            scen = latency_scenarios(ctl, world)
        finally:
            for proc in reversed(procs):
                proc.stop()
    report(off, on, scen)
    print(f"\n(logs in {logdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
