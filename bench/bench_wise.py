"""Benchmark of the Wise connector; prints a markdown table.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_wise.py [--persist-only] [--profile]

1. Wise API calls per incremental sync of one profile with 10,000 transfers (from the
   sandbox's counters): when nothing changed, and when 1% (100 of the watched transfers:
   in flight, or settled inside the settlement window) changed (each scripted to a state it is not in, and checked against what Wise really
   changed: the run fails if the status changes recorded differ). Also the first, full sync.
2. Rows a second that mapping + writing persist for those 10,000 transfers (pages of 100,
   each committed with its watermark), for the writers side by side, each into a connector
   of its own: the previous one (``persist_transfers``: map row by row in
   the page's transaction, one multi-row upsert) and the page writer (``PageWriter``: pages
   mapped on the plain path while earlier ones are written, up to 10 a transaction, new legs
   by ``COPY``), mapping in its own process and in a mapping process of its own; as ratios
   to a plain ``COPY`` of the same rows into an empty table, in the same run (the median of
   three); the same writes again when nothing changed; and the connectors' rows and history
   compared (the run fails when they differ). ``--persist-only`` skips part 1;
   ``--profile`` adds where the page writer's time goes: its two halves timed apart, and a
   ``cProfile`` of both run in one thread, by function, with its SQL statements by the
   function that runs them (on stderr).

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

    from paysync.connectors.wise.install import install
    from storage import merchants

    wise = f"{url}/wise"
    token = ctl.wise_users()[0]["token"]
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    m = merchants.create("bench")
    results: list[tuple[str, str, str]] = []
    failed = False
    if "--persist-only" not in sys.argv:
        failed |= sync_calls(ctl, install(m["id"], {"apiKey": token, "webhookPublicKey": pem, "baseUrl": wise,
                                                    "pageSize": 100})["id"], results)
    failed |= persistence(ctl, url, token, pem, m["id"], results)
    print(f"\n### Wise connector ({TRANSFERS} transfers in one profile, pageSize 100, sandbox)\n")
    print("| measure | value | notes |")
    print("|---|---|---|")
    for name, value, note in results:
        print(f"| {name} | {value} | {note} |")
    return 1 if failed else 0


def sync_calls(ctl, cid: int, results: list[tuple[str, str, str]]) -> bool:
    """Part 1; True when the status changes recorded differ from Wise's."""
    from storage import reports

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
    return failed


def persistence(ctl, url: str, token: str, pem: str, merchant_id: int, results: list[tuple[str, str, str]]) -> bool:
    """Part 2; True when the two writers stored different rows or history."""
    import statistics

    from paysync.clients.wise import transfers as api
    from paysync.connectors.wise import mapping_process, payments, settings
    from paysync.connectors.wise.context import open_run, utcnow
    from paysync.connectors.wise.install import install
    from storage import reports

    wise = f"{url}/wise"
    reader = install(merchant_id, {"apiKey": token, "webhookPublicKey": pem, "baseUrl": wise}, name="bench-reader")
    client = open_run(reader["id"]).client
    pid = str(reader["profiles"][0]["id"])
    pages = []
    offset = 0
    while True:
        page = api.list_page(client, pid, offset, 100)
        if page:
            pages.append([(t, offset + i) for i, t in enumerate(page)])
        if len(page) < 100:
            break
        offset += 100
    total = sum(len(p) for p in pages)
    window = settings.settlement_window()
    now = utcnow()

    def fresh(name: str):
        row = install(merchant_id, {"apiKey": token, "webhookPublicKey": pem, "baseUrl": wise}, name=name)
        return open_run(row["id"]), payments.read_lookups(row["id"], pid)

    def mark(page) -> dict:
        return {"offset": page[-1][1] + 1}

    def previous(run, lookups) -> tuple[float, int]:
        start = time.perf_counter()
        rows = 0
        for page in pages:
            stats = payments._write(run, pid, page, lookups, now, window, mark(page))
            rows += stats["inserted"] + stats["updated"] + stats["unchanged"]
        return time.perf_counter() - start, rows

    def page_writer(run, lookups, map_apart: bool = False) -> tuple[float, int]:
        start, cpu = time.perf_counter(), time.process_time()
        with payments.PageWriter(run, pid, lookups, now, window, map_apart=map_apart) as writer:
            for page in pages:
                writer.submit(page, mark(page))
        stats = writer.totals
        cpus[run.id] = time.process_time() - cpu
        return time.perf_counter() - start, stats["inserted"] + stats["updated"] + stats["unchanged"]

    cpus: dict[int, float] = {}
    old_run, old_lookups = fresh("bench-previous")
    new_run, new_lookups = fresh("bench-pages")
    apart_run, apart_lookups = fresh("bench-apart")
    old_s, rows = previous(old_run, old_lookups)
    new_s, new_rows = page_writer(new_run, new_lookups)
    started = time.perf_counter()
    mapping_process.warm()  # as a worker process that synced before: its mapping process ready
    start_s = time.perf_counter() - started
    apart_s, apart_rows = page_writer(apart_run, apart_lookups, map_apart=True)
    copies = [reports.copy_payments_baseline(new_run.id, f"bench_copy_{i}") for i in range(3)]
    copy_s = statistics.median(s for _, s in copies)
    copied = copies[0][0]
    new_cpu, apart_cpu = cpus[new_run.id], cpus[apart_run.id]
    old_again_s, _ = previous(old_run, old_lookups)
    new_again_s, _ = page_writer(new_run, new_lookups)
    apart_again_s, _ = page_writer(apart_run, apart_lookups, map_apart=True)
    same_rows = reports.payment_rows(old_run.id) == reports.payment_rows(new_run.id) \
        == reports.payment_rows(apart_run.id)
    same_history = reports.payment_history(old_run.id) == reports.payment_history(new_run.id) \
        == reports.payment_history(apart_run.id)
    copy_rate = copied / copy_s
    for label, seconds, again, note in (
            ("previous writer (persist_transfers, upserts)", old_s, old_again_s, "one page a transaction"),
            ("page writer (PageWriter, COPY), mapping in the writer's process (default)", new_s, new_again_s,
             f"up to {payments.PAGES_PER_TRANSACTION} pages a transaction; this process's CPU {new_cpu:.2f} s"),
            ("page writer, mapping process (PAYSYNC_WISE_MAPPING_PROCESS=1)", apart_s, apart_again_s,
             f"started beforehand ({start_s:.2f} s); this process's CPU {apart_cpu:.2f} s")):
        rate = rows / seconds
        results.append((f"{label}: {total} transfers ({rows} rows) into empty tables, rows/s",
                        f"{rate:,.0f}", f"{seconds:.2f} s, pages of 100 with their watermark, {note}"))
        results.append((f"{label}: ratio to COPY", f"**{rate / copy_rate:.3f}**", "same run, same machine"))
        results.append((f"{label}: again, nothing changed, rows/s", f"{rows / again:,.0f}",
                        f"{again:.2f} s; no row rewritten"))
    results.append(("plain COPY of the same rows into an empty table: rows/s", f"{copy_rate:,.0f}",
                    f"{copy_s:.3f} s, median of {len(copies)}: " + ", ".join(f"{s:.3f}" for _, s in copies)))
    results.append(("rows and history of the three", "identical" if same_rows and same_history else "DIFFERENT",
                    f"{len(reports.payment_history(new_run.id))} history rows each"))
    if "--profile" in sys.argv:
        profile(pages, pid, fresh, now, window, mark, results)
    return not (same_rows and same_history and rows == new_rows == apart_rows)


def profile(pages, pid: str, fresh, now, window, mark, results: list[tuple[str, str, str]]) -> None:
    """Where the page writer's time goes: its halves timed apart (the transactions one page
    each, and grouped as a writer that has pages waiting groups them), then a cProfile of
    both in one thread."""
    import cProfile
    import pstats

    from paysync.connectors.wise import payments

    group = payments.PAGES_PER_TRANSACTION
    run, lookups = fresh("bench-halves")
    start = time.perf_counter()
    ctx = payments.map_context(run.id, pid, lookups, now, window)
    prepared = [payments.prepare_page(page, ctx) for page in pages]
    mapped = time.perf_counter() - start
    start = time.perf_counter()
    for page, ready in zip(pages, prepared, strict=True):
        payments.write_pages(run, ctx, [ready], lookups, mark(page), set())
    one_by_one = time.perf_counter() - start
    run, lookups = fresh("bench-grouped")
    ctx = payments.map_context(run.id, pid, lookups, now, window)
    prepared = [payments.prepare_page(page, ctx) for page in pages]  # the lines name the connector
    start = time.perf_counter()
    for n in range(0, len(pages), group):
        payments.write_pages(run, ctx, prepared[n:n + group], lookups, mark(pages[n:n + group][-1]), set())
    grouped = time.perf_counter() - start
    results.append(("page writer's halves one after the other: map + encode (no database)", f"{mapped:.2f} s",
                    "prepare_page, every page, in this process"))
    results.append(("page writer's halves one after the other: the transactions, one page each", f"{one_by_one:.2f} s",
                    "write_pages of the mapped pages: stored legs read, COPY, history, watermark, commit"))
    results.append((f"page writer's halves one after the other: the transactions, {group} pages each",
                    f"{grouped:.2f} s", "as the writer groups the pages waiting"))
    run, lookups = fresh("bench-profile")
    prof = cProfile.Profile()
    prof.enable()
    ctx = payments.map_context(run.id, pid, lookups, now, window)
    for n in range(0, len(pages), group):
        batch = [payments.prepare_page(page, ctx) for page in pages[n:n + group]]
        payments.write_pages(run, ctx, batch, lookups, mark(pages[n:n + group][-1]),
                             set())  # no open quarantine records, as the PageWriter knows
    prof.disable()
    stats = pstats.Stats(prof)
    print(f"\n### cProfile of the page writer (one thread: map, encode, write, {group} pages a transaction)\n",
          file=sys.stderr)
    stats.stream = sys.stderr
    stats.sort_stats("tottime").print_stats(25)
    print("\n### the page writer's statements, by the function that runs them\n", file=sys.stderr)
    stats.print_callers(r"execute|copy_expert|commit")


def _by(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
