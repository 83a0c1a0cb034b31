"""The world and the workload of bench_multiconnection.py (not a benchmark by itself).

One merchant per run: three Xero apps (client ids) authorised on the sandbox's one tenant,
a ConnectWise connection, multi-connection on or off. The workload is sent to the real
Celery workers as batch jobs, the way beat and other applications send it:

- user (auto-payment execution's Xero side): ``accounting.record_payment`` jobs sent with
  the batch class, one payment of one minor unit each on an outstanding invoice (one
  ``PUT /Payments`` each);
- company (Wise-Sync): one ``wisesync.sync_invoices`` batch job over the ConnectWise
  unposted invoices, one ``PUT /Invoices`` per invoice (``PAYSYNC_WISESYNC_BATCH=1``);
- service (polling): ``accounting.poll_latest`` jobs (``GET /Contacts`` + ``GET /Invoices``
  since the bookmarks, two reads each).

Progress is sampled from PostgreSQL (payments recorded, invoices synced) and from the
result backend (polls finished); "download latest" jobs are sent as a steady stream by a
thread and timed from send to result.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

BANK = {"USD": "090", "EUR": "091", "GBP": "092", "JPY": "093"}
ROLES = ("user", "company", "service")


@dataclass
class World:
    merchant_id: int
    apps: dict[str, str]  # role -> client id
    tenant_id: str
    bills: list[dict[str, Any]]  # outstanding invoices a batch may pay (one minor unit at a time)
    today: str


@dataclass
class Sample:
    t: float
    payments: int
    invoices: int
    polls: int
    calls: int = 0  # Xero calls of the merchant's three apps so far (the sandbox's counters)


@dataclass
class Run:
    """One mode's measurements."""

    mode: str
    started: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    downloads: list[float] = field(default_factory=list)  # seconds from send to result
    download_errors: list[str] = field(default_factory=list)
    finished: dict[str, float] = field(default_factory=dict)  # third -> seconds after start when complete
    totals: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # role -> Xero calls of its app (sandbox)
    throttled: dict[str, int] = field(default_factory=dict)  # role -> 429s of its app (sandbox)
    company_report: dict[str, Any] = field(default_factory=dict)


def build_world(ctl: Any, mode: str, multi: bool) -> World:
    """A merchant with three apps on the one tenant, a ConnectWise connection, books downloaded."""
    from paysync.accounting.onboarding import authorize
    from paysync.clients.xero import XeroUrls
    from paysync_dev.sandbox.connectwise import DEFAULT_CONFIG as CW
    from storage import accounting, connections, merchants, psa
    from tasks.routing import enqueue

    tag = uuid.uuid4().hex[:6]
    m = merchants.create(f"bench-{mode}-{tag}")
    apps: dict[str, str] = {}
    tenant = ""
    for role in ROLES:
        apps[role] = f"bench-{mode}-{role}-{tag}"
        conn = connections.add(m["id"], role, apps[role], {"client_secret": f"s-{role}"})
        tenant = authorize(conn.id, urls=XeroUrls.sandbox(ctl.url("xero")), paste=ctl.xero_consent,
                           echo=lambda _line: None, timeout=30).tenant_id or ""
    psa.add(m["id"], site=ctl.url("connectwise"), company=CW["company"], client_id="bench",
            public_key=CW["public_key"], private_key=CW["private_key"], codebase=CW["codebase"])
    merchants.set_multi_connection(m["id"], multi)
    enqueue("accounting.download_latest", {"merchant_id": m["id"], "full": True}).get(timeout=120)
    now = ctl.now()
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    bills = [b for b in accounting.outstanding_invoices(m["id"])
             if b["currency"] in BANK and (b["issued_on"] is None or b["issued_on"] <= today)]
    if not bills:
        raise RuntimeError("the sandbox tenant has no outstanding invoice to pay")
    return World(m["id"], apps, tenant, bills, today.isoformat())


def user_jobs(world: World, count: int, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """``count`` record_payment payloads of one minor unit each, round robin over the bills."""
    from mappers.money import from_minor

    out = []
    for i in range(count):
        bill = world.bills[i % len(world.bills)]
        out.append(("accounting.record_payment", {
            "merchant_id": world.merchant_id, "payment_id": f"{prefix}-{i}", "invoice_id": bill["external_id"],
            "amount": str(from_minor(1, bill["currency"])), "currency": bill["currency"],
            "account_code": BANK[bill["currency"]], "date": world.today, "reference": f"bench {prefix} {i}"}))
    return out


def send(jobs: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Send every job with the batch class (as beat and batch runners do); returns the results."""
    from tasks.routing import enqueue

    return [enqueue(name, payload, interactive=False) for name, payload in jobs]


def progress(world: World, polls: list[Any], payment_prefix: str) -> tuple[int, int, int, int, int]:
    """(payments recorded, invoices synced, polls finished, payments failed, polls failed)."""
    from storage import reports

    recorded, payments_failed = reports.accounting_payment_outcomes(world.merchant_id, payment_prefix)
    inv = reports.synced_links(world.merchant_id)
    done = failed = 0
    for r in polls:
        state = r.state
        if state == "SUCCESS":
            done += 1
        elif state == "FAILURE":
            failed += 1
    return recorded, inv, done, payments_failed, failed


class DownloadStream:
    """``accounting.download_latest`` (user, interactive) every ``every`` seconds, each timed."""

    def __init__(self, merchant_id: int, every: float, run: Run) -> None:
        self.merchant_id, self.every, self.run = merchant_id, every, run
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=16)
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _one(self) -> None:
        from tasks.routing import enqueue

        started = time.monotonic()
        try:
            enqueue("accounting.download_latest", {"merchant_id": self.merchant_id}).get(timeout=300)
            self.run.downloads.append(time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - reported, never hidden
            self.run.download_errors.append(f"{type(exc).__name__}: {exc}"[:200])

    def _loop(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one)
            nxt += self.every
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def start(self) -> DownloadStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)


def app_stats(ctl: Any, world: World) -> tuple[dict[str, int], dict[str, int]]:
    """Xero calls and 429s per role's app on the tenant, from the sandbox's counters."""
    stats = ctl.xero_calls()
    calls, throttled = {}, {}
    for role, app in world.apps.items():
        per = (stats.get(app) or {}).get(world.tenant_id) or {}
        calls[role], throttled[role] = int(per.get("calls", 0)), int(per.get("429", 0))
    return calls, throttled


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
