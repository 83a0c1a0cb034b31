"""Benchmark of the Wise connector; prints a markdown table.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_wise.py

1. Wise API calls per incremental sync of one profile with 10,000 transfers (from the
   sandbox's counters): when nothing changed, and when 1% (100 of the watched transfers:
   in flight, or settled inside the settlement window) changed (each scripted to a state it is not in, and checked against what Wise really
   changed: the run fails if the status changes recorded differ). Also the first, full sync.
2. Rows a second that the mappers + batched upserts persist for those 10,000 transfers
   (pages of 100, each in its own transaction with its watermark), as a ratio to a plain
   ``COPY`` of the same rows into an empty table, in the same run; and the same upserts
   again when nothing changed (rows compared, none rewritten).

Runs in its own PostgreSQL database (created and dropped) and Redis database
BENCH_REDIS_DB [13]; the sandbox runs on a free port with its clock stopped, so only the
changes the bench makes happen.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + \
    f"/{os.environ.get('BENCH_REDIS_DB', '13')}"
os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch data: the development key is fine
os.environ.setdefault("PAYSYNC_WISE_MINUTE_LIMIT", "100000")  # measure calls, not the bucket

TRANSFERS = int(os.environ.get("BENCH_WISE_TRANSFERS", "10000"))
#: the scripted change of a watched transfer, by its current state (anything else completes)
NEXT_STATE = {"incoming_payment_waiting": "cancelled", "outgoing_payment_received": "charged_back"}



def main() -> int:
    from paysync_dev import devstack
    from paysync_dev.sandbox.control import SandboxControl

    with devstack.scratch_database("paysync_bench"):
        proc = None
        try:
            proc, url = devstack.start_sandbox(Path(tempfile.mkdtemp(prefix="bench-wise-")))
            ctl = SandboxControl(url)
            ctl.reset(seed=0, size={"wise": {"users": 1, "profiles": 1, "transfers": TRANSFERS}}, scale=0)
            ctl.wise_config(bounce_share=0)
            return run(ctl, url)
        finally:
            if proc is not None:
                proc.stop()


def cycle(connector_id: int) -> None:
    from paysync.connectors.wise import accounts, external_accounts, others, payments, profiles
    from paysync.connectors.wise.context import open_run

    run = open_run(connector_id)
    for pid in profiles.fetch(run)["profiles"]:
        accounts.fetch(run, pid)
        external_accounts.fetch(run, pid)
        payments.fetch(run, pid)
        others.fetch(run, pid)


def calls(ctl) -> dict[str, int]:
    return {k[5:]: v for k, v in ctl.counters("wise:").items() if " /" in k}


def run(ctl, url: str) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from paysync.connectors.wise import payments, settings
    from paysync.connectors.wise.context import open_run, utcnow
    from paysync.connectors.wise.install import install
    from storage import merchants, reports
    from storage.db import transaction

    wise = f"{url}/wise"
    token = ctl.wise_users()[0]["token"]
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    m = merchants.create("bench")
    conn = install(m["id"], {"apiKey": token, "webhookPublicKey": pem, "baseUrl": wise, "pageSize": 100})
    cid = conn["id"]
    results: list[tuple[str, str, str]] = []
    failed = False

    ctl.reset_counters()
    t0 = time.perf_counter()
    cycle(cid)
    full = calls(ctl)
    results.append(("first (full) sync: Wise calls", str(sum(full.values())),
                    f"{full.get('GET /v1/transfers', 0)} transfer pages; {time.perf_counter() - t0:.1f} s"))

    in_flight = reports.watched_payouts(cid)
    watched = len(in_flight)

    ctl.reset_counters()
    t0 = time.perf_counter()
    cycle(cid)
    same = calls(ctl)
    same_s = time.perf_counter() - t0
    results.append(("incremental sync, nothing changed: Wise calls", str(sum(same.values())),
                    f"{watched} watched transfers (in flight or inside the settlement window) re-polled; {same_s:.1f} s; " + _by(same)))

    # 1% of the transfers, spread over the watched ones, each scripted to a state it is NOT in
    # (a watched transfer may already be settled inside the settlement window: scripting
    # "outgoing_payment_received" onto one that holds it is no change, and counting it as one
    # made the bench report 99 changes for "100")
    changed = in_flight[:: max(1, len(in_flight) // (TRANSFERS // 100))][: TRANSFERS // 100]
    for row in changed:
        nxt = NEXT_STATE.get(row["raw_status"], "outgoing_payment_received")
        assert nxt != row["raw_status"], row
        ctl.wise_script_transfer(row["reference"], [[nxt, 0]])
    ctl.advance(1)
    made = sum(1 for row in changed if ctl.wise_transfer(row["reference"])["transfer"]["status"]
               != row["raw_status"])  # what Wise really changed
    ctl.reset_counters()
    before = reports.adjustment_count()
    cycle(cid)
    one = calls(ctl)
    seen = reports.adjustment_count() - before
    results.append((f"incremental sync, 1% changed ({made} transfers): Wise calls", str(sum(one.values())),
                    f"{seen} status changes recorded for {made} changed in Wise; " + _by(one)))
    if seen != made:
        print(f"MISMATCH: {made} transfers changed in Wise, {seen} status changes recorded", file=sys.stderr)
        failed = True

    # ---- persistence: mappers + upserts vs COPY of the same rows
    pages = []
    client = open_run(cid).client
    from paysync.clients.wise import transfers as api

    pid = str(conn["profiles"][0]["id"])
    offset = 0
    while True:
        page = api.list_page(client, pid, offset, 100)
        if page:
            pages.append([(t, offset + i) for i, t in enumerate(page)])
        if len(page) < 100:
            break
        offset += 100
    total = sum(len(p) for p in pages)
    fresh = install(m["id"], {"apiKey": token, "webhookPublicKey": pem, "baseUrl": wise}, name="bench-upserts")
    run2 = open_run(fresh["id"])
    lookups = payments.read_lookups(fresh["id"], pid)
    window = settings.settlement_window()

    def persist() -> tuple[float, int]:
        start = time.perf_counter()
        rows = 0
        now = utcnow()
        for page in pages:
            with transaction() as cur:
                stats = payments.persist_transfers(cur, run2.id, pid, page, lookups, now, window)
                from storage import sync_states

                sync_states.advance(run2.owner, "transfers", f"profile:{pid}", {"offset": page[-1][1] + 1}, cur=cur)
            rows += stats["inserted"] + stats["updated"] + stats["unchanged"]
        return time.perf_counter() - start, rows

    upsert_s, rows = persist()
    again_s, _ = persist()

    copied, copy_s = reports.copy_payments_baseline(fresh["id"])
    upsert_rate, copy_rate, again_rate = rows / upsert_s, copied / copy_s, rows / again_s
    results.append((f"mappers + upserts, {total} transfers ({rows} rows) into empty tables: rows/s",
                    f"{upsert_rate:,.0f}", f"{upsert_s:.2f} s, pages of 100 with their watermark"))
    results.append(("plain COPY of the same rows into an empty table: rows/s", f"{copy_rate:,.0f}",
                    f"{copy_s:.3f} s"))
    results.append(("ratio upserts / COPY", f"{upsert_rate / copy_rate:.3f}", "same run, same machine"))
    results.append(("mappers + upserts again, nothing changed: rows/s", f"{again_rate:,.0f}",
                    f"{again_s:.2f} s; no row rewritten"))

    print(f"\n### Wise connector ({TRANSFERS} transfers in one profile, pageSize 100, sandbox)\n")
    print("| measure | value | notes |")
    print("|---|---|---|")
    for name, value, note in results:
        print(f"| {name} | {value} | {note} |")
    return 1 if failed else 0


def _by(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
