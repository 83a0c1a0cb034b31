"""Benchmark of Wise-Sync (PSA -> books); prints a markdown table.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_wisesync.py

For BENCH_WISESYNC_INVOICES [200] ConnectWise invoices in the sandbox, one full
``wisesync.sync_invoices`` run (in this process, batch class, as the beat runs it) against
the sandbox's Xero limits, twice: with batched writes (``PAYSYNC_WISESYNC_BATCH=50``) and
with one write per invoice (``PAYSYNC_WISESYNC_BATCH=1``). Reported per mode: Xero calls
(the sandbox's counter for the app), Xero calls per invoice, elapsed time, and invoices
synced per Xero minute.

Time-scaled: Xero's "minute" lasts BENCH_XERO_MINUTE [6] real seconds in both the sandbox
and paysync's limiter (``PAYSYNC_XERO_MINUTE_SECONDS``), the 60-call limit unchanged, so
"invoices per Xero minute" is what a real minute would give. A refusal for budget
(``BudgetExhausted``) is handled as the task layer does: wait, then run again (the re-run
reconciles and resumes).

Runs in its own PostgreSQL database (created and dropped) and Redis database
BENCH_REDIS_DB [12]; the sandbox runs on a free port.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + \
    f"/{os.environ.get('BENCH_REDIS_DB', '12')}"
os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch data: the development key is fine
MINUTE = float(os.environ.get("BENCH_XERO_MINUTE", "6"))
os.environ["PAYSYNC_XERO_MINUTE_SECONDS"] = str(MINUTE)
os.environ.setdefault("PAYSYNC_LIMIT_MARGIN_SECONDS", "0.2")
INVOICES = int(os.environ.get("BENCH_WISESYNC_INVOICES", "200"))



def run_mode(ctl, batch: int) -> dict:
    from paysync.accounting.onboarding import authorize
    from paysync.clients.http import BudgetExhausted
    from paysync.clients.xero import XeroUrls
    from paysync.wisesync.invoices import sync_invoices
    from paysync_dev.sandbox.connectwise import DEFAULT_CONFIG as CW
    from storage import connections, merchants, psa

    ctl.reset(seed=1, size={"xero": {"minute_seconds": MINUTE, "invoices": 20},
                            "connectwise": {"invoices": INVOICES}})
    ctl.reset_counters()
    os.environ["PAYSYNC_WISESYNC_BATCH"] = str(batch)
    m = merchants.create(f"bench-{batch}-{uuid.uuid4().hex[:6]}")
    app = f"bench-app-{batch}"
    conn = connections.add(m["id"], "user", app, {"client_secret": "s"})
    authorize(conn.id, urls=XeroUrls.sandbox(ctl.url("xero")), paste=ctl.xero_consent, echo=lambda _line: None,
              timeout=20)
    psa.add(m["id"], site=ctl.url("connectwise"), company=CW["company"], client_id="bench", public_key=CW["public_key"],
            private_key=CW["private_key"], codebase=CW["codebase"])
    tenant = connections.get(conn.id).tenant_id
    unposted = ctl.connectwise_stats()["unposted"]
    before = ctl.counters(f"xero:{app}:{tenant}:calls").get(f"xero:{app}:{tenant}:calls", 0)
    started, waits, runs, created, ambiguous = time.monotonic(), 0.0, 0, 0, 0
    while True:
        runs += 1
        try:
            report = sync_invoices(m["id"], interactive=False)
        except BudgetExhausted as exc:  # what the task layer does: the job waits, then runs again
            waits += exc.wait
            time.sleep(exc.wait + 0.05)
            continue
        created += report["counts"].get("created", 0) + report["counts"].get("reconciled", 0)
        ambiguous = report["counts"].get("ambiguous", 0)
        break
    elapsed = time.monotonic() - started
    calls = ctl.counters(f"xero:{app}:{tenant}:calls").get(f"xero:{app}:{tenant}:calls", 0) - before
    from storage import wisesync as store

    created = store.link_counts(m["id"]).get("synced", 0)
    return {"batch": batch, "unposted": unposted, "created": created, "ambiguous": ambiguous, "runs": runs,
            "calls": calls, "elapsed": elapsed, "per_minute": created / (elapsed / MINUTE) if elapsed else 0.0,
            "calls_per_invoice": calls / created if created else 0.0}


def main() -> int:
    from paysync_dev import devstack
    from paysync_dev.sandbox.control import SandboxControl

    with devstack.scratch_database("paysync_bench"):
        proc = None
        try:
            import redis

            redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
            proc, url = devstack.start_sandbox(Path(tempfile.mkdtemp(prefix="bench-wisesync-")))
            ctl = SandboxControl(url)
            rows = [run_mode(ctl, 50), run_mode(ctl, 1)]
        finally:
            if proc is not None:
                proc.stop()
    print(f"Wise-Sync, {INVOICES} ConnectWise invoices; Xero limit 60 calls per Xero minute "
          f"(time-scaled: 1 Xero minute = {MINUTE:g} s)\n")
    print("| writes | invoices synced | Xero calls | calls / invoice | elapsed (s) | invoices / Xero minute |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = f"batched ({r['batch']} per PUT)" if r["batch"] > 1 else "one call per invoice"
        print(f"| {label} | {r['created']} | {r['calls']} | {r['calls_per_invoice']:.3f} | {r['elapsed']:.1f} | "
              f"{r['per_minute']:.0f} |")
    batched, single = rows
    if batched["calls"] and single["elapsed"]:
        print(f"\nbatched / one-per-invoice: {single['calls'] / batched['calls']:.1f}x fewer Xero calls, "
              f"{batched['per_minute'] / single['per_minute']:.1f}x the invoices per Xero minute "
              f"({batched['ambiguous']} invoices skipped as ambiguous in each mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
