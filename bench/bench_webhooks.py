"""Webhook receiver benchmark (run by ``make bench``, not collected by pytest): the two
hand-offs to translation side by side in one run.

For each hand-off to translation: ``publish``, one ``wise.translate_webhook`` job published
per delivery before the answer (the previous design, served by
``bench/receiver_per_delivery.py``: the product receiver with that hand-off), and ``drain``,
the product's (``paysync webhooks serve``: a background thread makes sure a
``wise.drain_webhooks`` job follows; see ``paysync/webhooks/handoff.py``), it starts the
receiver as its own process on loopback against a throw-away PostgreSQL database and Redis
database 15, with one worker on the ``service`` queue translating, then:

1. steady rate: ``--rate`` signed deliveries a second for ``--seconds`` seconds (open loop:
   each request leaves at its scheduled time) -> acknowledgement latency median, p99, max,
   and the receiver process's CPU time (user + system, from ``/proc``) per delivery;
2. max rate: ``--clients`` senders back to back for ``--seconds`` seconds -> deliveries a
   second the receiver sustains, its latency and CPU per delivery;
3. when every delivery is translated: each exactly once (the row ``translated`` after one
   run, one balance movement per delivery), and the worker's CPU per delivery.

Every request is a distinct, correctly signed ``balances#update`` (translation needs no
Wise call; bodies signed before timing). The load generator (Python ``requests``) runs in
this process on the same cores. Usage::

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_webhooks.py [--rate 50 --seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HANDOFFS = ("publish", "drain")
TICKS = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its live children (a prefork worker and its pool)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0

    def row(self, name: str) -> str:
        ms = 1000.0
        n = len(self.latencies)
        return (f"| {name} | {n} | {n / self.seconds:.0f} | {statistics.median(self.latencies) * ms:.1f} | "
                f"{pct(self.latencies, 99) * ms:.1f} | {max(self.latencies) * ms:.1f} | {self.cpu / n * ms:.2f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=50.0, help="steady deliveries a second")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--clients", type=int, default=16, help="concurrent senders in the max-rate phase")
    ap.add_argument("--threads", type=int, default=16, help="receiver worker threads")
    ap.add_argument("--handoff", choices=HANDOFFS, action="append", help="only these hand-offs (default: both)")
    args = ap.parse_args()

    os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch data: the development key is fine
    # the receiver's own throughput is measured: its rate limits (one source here) stay off
    os.environ.setdefault("PAYSYNC_WEBHOOKS_RATE_PER_SOURCE", "0")
    os.environ.setdefault("PAYSYNC_WEBHOOKS_RATE_PER_CONNECTOR", "0")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + "/15"
    os.environ["REDIS_URL"] = redis_url
    from paysync_dev import devstack

    failed = False
    report: list[str] = []
    for handoff in args.handoff or HANDOFFS:
        with devstack.scratch_database("paysync_bench"):
            ok, lines = measure(args, handoff, redis_url)
            failed |= not ok
            report += lines
    print(f"\nwebhook receiver on loopback ({args.threads} waitress threads; signature check + INSERT + hand-off per "
          f"delivery; one worker translating)\n")
    print("| hand-off, phase | deliveries | rate/s | median ms | p99 ms | max ms | receiver CPU ms/delivery |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(r for r in report if r.startswith("|")))
    print()
    print("\n".join(r for r in report if not r.startswith("|")))
    return 1 if failed else 0


def start_per_delivery_receiver(logdir: Path, threads: int) -> tuple[Any, str]:
    """``bench/receiver_per_delivery.py`` on a free port, once ``/healthz`` answers."""
    from paysync_dev import devstack

    return devstack.start_webhook_receiver(logdir, name="receiver-publish", extra_args=["--threads", str(threads)],
                                           command=[sys.executable, str(ROOT / "bench" / "receiver_per_delivery.py")])


def measure(args: argparse.Namespace, handoff: str, redis_url: str) -> tuple[bool, list[str]]:
    """Serve the receiver with ``handoff`` on the current scratch database and time signed
    deliveries against it; (every delivery translated exactly once, report lines)."""
    from mappers import jsonnum
    from paysync.config import settings
    from paysync_dev import devstack
    from paysync_dev.sandbox.wise_webhooks import public_pem, sign
    from storage import reports
    from storage.db import close_pool

    settings.cache_clear()
    close_pool()
    from storage import connectors, merchants

    logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    procs = []
    import redis

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    try:
        m = merchants.create("bench")
        row = connectors.create(m["id"], "wise", "wise", {"webhookPublicKey": public_pem(), "pageSize": 25},
                                {"apiKey": "unused"}, 1800)
        connectors.activate(row["id"])
        worker = devstack.start_worker(logs, "service", concurrency=1, name=f"translate-{handoff}",
                                       supervised=False)
        procs.append(worker)
        if handoff == "drain":
            receiver, base = devstack.start_webhook_receiver(logs, name=f"receiver-{handoff}",
                                                             extra_args=["--threads", str(args.threads)])
        else:
            receiver, base = start_per_delivery_receiver(logs, args.threads)
        procs.append(receiver)
        url = f"{base}/webhooks/wise/{row['id']}"

        steady_n = int(args.rate * args.seconds)
        max_n = int(min(20000, max(5000, args.rate * args.seconds * 10)))
        print(f"[{handoff}] signing {steady_n + max_n + 50} deliveries...", file=sys.stderr)
        at = "2026-07-02T12:00:00.000Z"
        bodies = []
        for i in range(steady_n + max_n + 50):
            body = jsonnum.dumps({"data": {"resource": {"type": "balance-account", "id": 900001, "profile_id": 1},
                                           "amount": Decimal("1.00"), "balance_id": 900001,
                                           "channel_name": "TRANSFER", "currency": "EUR", "occurred_at": at,
                                           "step_id": 70000000 + i, "transaction_type": "credit",
                                           "transfer_reference": str(60000000 + i)},
                                  "subscription_id": str(uuid.uuid4()), "event_type": "balances#update",
                                  "schema_version": "4.0.0", "sent_at": at}).encode()
            bodies.append((body, sign(body), str(uuid.uuid4())))
        local = threading.local()

        def send(item: tuple[bytes, str, str]) -> float:
            s = getattr(local, "s", None) or requests.Session()
            local.s = s
            t0 = time.perf_counter()
            resp = s.post(url, data=item[0], headers={"Content-Type": "application/json",
                                                      "X-Signature-SHA256": item[1], "X-Delivery-Id": item[2]},
                          timeout=10)
            took = time.perf_counter() - t0
            if resp.status_code != 200:
                raise RuntimeError(f"receiver answered {resp.status_code}: {resp.text[:200]}")
            return took

        worker_cpu0 = tree_cpu_seconds(worker.pid)
        with ThreadPoolExecutor(max_workers=max(args.clients, 32)) as pool:
            list(pool.map(send, bodies[-50:]))  # warm-up: connections, pool, first hand-off
            time.sleep(1)
            # 1. steady rate, open loop
            steady = Phase()
            cpu0 = cpu_seconds(receiver.pid)
            futures = []
            start = time.perf_counter()
            for i, item in enumerate(bodies[:steady_n]):
                delay = start + i / args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(send, item))
            steady.latencies = [f.result() for f in futures]
            steady.seconds = time.perf_counter() - start
            time.sleep(0.2)  # the last hand-off of the phase
            steady.cpu = cpu_seconds(receiver.pid) - cpu0

            # 2. max rate, closed loop
            it = iter(bodies[steady_n:steady_n + max_n])
            lock = threading.Lock()
            stop_at = time.perf_counter() + args.seconds
            closed = Phase()

            def sender() -> None:
                while time.perf_counter() < stop_at:
                    with lock:
                        item = next(it, None)
                    if item is None:
                        return
                    took = send(item)
                    with lock:
                        closed.latencies.append(took)

            cpu0 = cpu_seconds(receiver.pid)
            t0 = time.perf_counter()
            for f in [pool.submit(sender) for _ in range(args.clients)]:
                f.result()
            closed.seconds = time.perf_counter() - t0
            time.sleep(0.2)
            closed.cpu = cpu_seconds(receiver.pid) - cpu0

        # 3. every delivery translated, each once
        sent = 50 + len(steady.latencies) + len(closed.latencies)
        t0 = time.perf_counter()
        deadline = time.time() + 600
        left = sent
        while time.time() < deadline:
            left = reports.webhook_translations(row["id"])["received"]
            if not left:
                break
            time.sleep(0.5)
        catch_up = time.perf_counter() - t0
        worker_cpu = tree_cpu_seconds(worker.pid) - worker_cpu0
        stats = reports.webhook_translations(row["id"])
        moves = stats["movements"]
        ok = stats["stored"] == sent and stats["translated_once"] == sent and moves == sent
        lines = [steady.row(f"{handoff}, steady {args.rate:g}/s"),
                 closed.row(f"{handoff}, max ({args.clients} senders back to back)"),
                 f"{handoff}: {sent} deliveries stored, {stats['translated_once']} translated by exactly one run, {moves} "
                 f"balance movements ({'OK' if ok else 'MISMATCH'}); translation caught up {catch_up:.1f} s after "
                 f"the last answer ({left} left); worker CPU {worker_cpu / sent * 1000:.1f} ms per delivery"]
        return ok, lines
    finally:
        for proc in reversed(procs):
            proc.stop()
        r.flushdb()


if __name__ == "__main__":
    sys.exit(main())
