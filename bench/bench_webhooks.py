"""Webhook receiver benchmark (run by ``make bench``, not collected by pytest).

Starts ``paysync webhooks serve`` as its own process on loopback against a throw-away
PostgreSQL database and Redis database 15 (nobody consumes the translation jobs, so the
queue only grows: the receiver must answer whatever the queue depth), then:

1. steady rate: ``--rate`` signed deliveries a second for ``--seconds`` seconds (open loop:
   each request leaves at its scheduled time) -> acknowledgement latency median, p99, max;
2. max rate: ``--clients`` senders back to back for ``--seconds`` seconds -> deliveries a
   second the receiver sustains, with its latency.

Every request is a distinct, correctly signed ``transfers#state-change`` (bodies signed
before timing). Bounded: at most ``rate x seconds`` + what the closed loop sends in
``seconds``. Usage::

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_webhooks.py [--rate 50 --seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=50.0, help="steady deliveries a second")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--clients", type=int, default=16, help="concurrent senders in the max-rate phase")
    ap.add_argument("--threads", type=int, default=16, help="receiver worker threads")
    args = ap.parse_args()

    os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch data: the development key is fine
    # the receiver's own throughput is measured: its rate limits (one source here) stay off
    os.environ.setdefault("PAYSYNC_WEBHOOKS_RATE_PER_SOURCE", "0")
    os.environ.setdefault("PAYSYNC_WEBHOOKS_RATE_PER_CONNECTOR", "0")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + "/15"
    os.environ["REDIS_URL"] = redis_url
    from paysync_dev import devstack

    with devstack.scratch_database("paysync_bench") as db_url:
        return measure(args, db_url, redis_url)


def measure(args: argparse.Namespace, db_url: str, redis_url: str) -> int:
    """Serve the receiver on a fresh database and time signed deliveries against it."""
    name = db_url.rsplit("/", 1)[1]
    from mappers import jsonnum
    from paysync.config import settings
    from paysync_dev import devstack
    from paysync_dev.sandbox.wise_webhooks import public_pem, sign

    settings.cache_clear()
    from storage import connectors, merchants

    proc = None
    try:
        m = merchants.create("bench")
        row = connectors.create(m["id"], "wise", "wise", {"webhookPublicKey": public_pem(), "pageSize": 25},
                                {"apiKey": "unused"}, 1800)
        connectors.activate(row["id"])
        proc, base = devstack.start_webhook_receiver(Path("/tmp"), name=f"{name}-receiver",
                                                     extra_args=["--threads", str(args.threads)])
        url = f"{base}/webhooks/wise/{row['id']}"

        steady_n = int(args.rate * args.seconds)
        max_n = int(min(20000, max(2000, args.rate * args.seconds * 4)))
        print(f"signing {steady_n + max_n + 50} deliveries...", file=sys.stderr)
        at = "2026-07-02T12:00:00.000Z"
        bodies = []
        for i in range(steady_n + max_n + 50):
            body = jsonnum.dumps({"data": {"resource": {"type": "transfer", "id": 60000000 + i, "profile_id": 1,
                                                        "account_id": 2}, "current_state": "processing",
                                           "previous_state": "incoming_payment_waiting", "occurred_at": at},
                                  "subscription_id": str(uuid.uuid4()), "event_type": "transfers#state-change",
                                  "schema_version": "4.0.0", "sent_at": at}).encode()
            bodies.append((body, sign(body), str(uuid.uuid4())))
        local = threading.local()

        def send(item: tuple[bytes, str, str]) -> float:
            s = getattr(local, "s", None) or requests.Session()
            local.s = s
            t0 = time.perf_counter()
            r = s.post(url, data=item[0], headers={"Content-Type": "application/json",
                                                   "X-Signature-SHA256": item[1], "X-Delivery-Id": item[2]},
                       timeout=10)
            took = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"receiver answered {r.status_code}: {r.text[:200]}")
            return took

        with ThreadPoolExecutor(max_workers=max(args.clients, 32)) as pool:
            list(pool.map(send, bodies[-50:]))  # warm-up: connections, pool, first publish
            # 1. steady rate, open loop
            futures = []
            start = time.perf_counter()
            for i, item in enumerate(bodies[:steady_n]):
                delay = start + i / args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(send, item))
            steady = [f.result() for f in futures]
            steady_elapsed = time.perf_counter() - start

            # 2. max rate, closed loop
            it = iter(bodies[steady_n:steady_n + max_n])
            lock = threading.Lock()
            stop_at = time.perf_counter() + args.seconds
            closed: list[float] = []

            def sender() -> None:
                while time.perf_counter() < stop_at:
                    with lock:
                        item = next(it, None)
                    if item is None:
                        return
                    took = send(item)
                    with lock:
                        closed.append(took)

            t0 = time.perf_counter()
            for f in [pool.submit(sender) for _ in range(args.clients)]:
                f.result()
            closed_elapsed = time.perf_counter() - t0

        import redis

        depth = sum(redis.Redis.from_url(redis_url).llen(k) for k in redis.Redis.from_url(redis_url).keys("service*"))
        ms = 1000.0
        print(f"\nwebhook receiver on loopback ({args.threads} waitress threads, signature check + INSERT + "
              f"publish per delivery; translation queue depth at the end: {depth})")
        print(f"{'phase':<34}{'deliveries':>11}{'rate/s':>9}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}")
        print(f"{'steady ' + format(args.rate, 'g') + '/s':<34}{len(steady):>11}{len(steady) / steady_elapsed:>9.0f}"
              f"{statistics.median(steady) * ms:>11.1f}{pct(steady, 99) * ms:>9.1f}{max(steady) * ms:>9.1f}")
        print(f"{'max, ' + str(args.clients) + ' senders back to back':<34}{len(closed):>11}"
              f"{len(closed) / closed_elapsed:>9.0f}{statistics.median(closed) * ms:>11.1f}"
              f"{pct(closed, 99) * ms:>9.1f}{max(closed) * ms:>9.1f}")
        return 0 if pct(steady, 99) < 5.0 else 1
    finally:
        if proc is not None:
            proc.stop()
        import redis

        redis.Redis.from_url(redis_url).flushdb()


if __name__ == "__main__":
    sys.exit(main())
