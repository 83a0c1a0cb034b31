"""The limiter of another commit beside this one, timed in one loop with a redis-py PING.

    .venv/bin/python bench/compare_limiter.py --against 8325bf4 [--samples 3000]

Loads ``paysync/budgets/limiter.py`` and its Lua scripts as they were at ``--against`` (from
git, into a scratch package; the rest of paysync is this checkout's) and times, interleaved:
a PING through redis-py, then acquire, and acquire + release, with each limiter on its own
Xero-shaped counters bucket. Prints the medians and their ratios to the PING. Not part of
``make bench``: it needs the repository's history.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch keys: the development key is fine

from bench_limiter import latency_bucket

from paysync.budgets import Limiter, budget_settings
from paysync.config import settings
from paysync.redis_client import redis_client

ROOT = Path(__file__).resolve().parent.parent
FILES = ("limiter.py", "acquire.lua", "extend.lua", "block.lua", "observe.lua", "remaining.lua", "subwindows.lua")


def limiter_at(revision: str, into: Path) -> type:
    """The ``Limiter`` class of ``revision``, loaded as package ``limiter_then``."""
    package = into / "limiter_then"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in FILES:
        text = subprocess.run(["git", "show", f"{revision}:paysync/budgets/{name}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        (package / name).write_text(text)
    sys.path.insert(0, str(into))
    return importlib.import_module("limiter_then.limiter").Limiter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="a git revision")
    parser.add_argument("--samples", type=int, default=3000)
    options = parser.parse_args()
    url = f"{os.environ.get('REDIS_URL', settings().redis_url).rsplit('/', 1)[0]}/13"
    client = redis_client(url)
    run, subwindows = f"bench:compare:{uuid.uuid4().hex[:8]}", budget_settings().subwindows
    with tempfile.TemporaryDirectory() as scratch:
        limiters = {"before": limiter_at(options.against, Path(scratch))(client), "now": Limiter(client)}
        specs = {name: latency_bucket(limiters["now"], f"{run}:{name}", subwindows) for name in limiters}
        out: dict[str, list[float]] = {}
        for i in range(options.samples + 300):
            started = time.perf_counter()
            client.ping()
            took = {"PING": time.perf_counter() - started}
            for name, limiter in limiters.items():
                started = time.perf_counter()
                grant = limiter.acquire(specs[name])
                acquired = time.perf_counter()
                limiter.release(specs[name], grant.lease)
                took[f"acquire, {name}"] = acquired - started
                took[f"acquire + release, {name}"] = time.perf_counter() - started
            if i >= 300:  # warm-up
                for label, seconds in took.items():
                    out.setdefault(label, []).append(seconds)
        for key in client.scan_iter(f"{run}*"):
            client.delete(key)
    ping = statistics.median(out["PING"])
    print("| measure | median | ratio to PING |\n|---|---|---|")
    for label, values in out.items():
        print(f"| {label} | {statistics.median(values) * 1e6:.0f} µs | {statistics.median(values) / ping:.2f}x |")


if __name__ == "__main__":
    main()
