"""SIGKILL at random moments over the auto-payment path, many trials; prints a markdown table.

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_autopay_sigkill.py

Each trial (``tests/e2e/autopay_sigkill.py``): three due bills of an allow-listed supplier,
executed by a real worker while three SIGKILLs land at random moments of the first two
seconds of work (about what the path takes) (a pool process, or in 30% of the kills the whole worker, started again); then,
per scheduled payment, the Wise transfers of every attempt of every payout, how many were
funded, and the live payments in Xero. ``BENCH_SIGKILL_TRIALS`` (24) trials,
``BENCH_SIGKILL_SEED`` (1) the first seed. Exits non-zero unless every payment was paid
exactly once in Wise and written exactly once to Xero.

Runs in its own PostgreSQL database (created and dropped) and Redis database
BENCH_REDIS_DB [13], with the sandbox on a free port.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + \
    f"/{os.environ.get('BENCH_REDIS_DB', '13')}"
os.environ.setdefault("PAYSYNC_ENV", "development")  # scratch data: the development key is fine
os.environ.setdefault("PAYSYNC_CRASH_POINTS", "1")

TRIALS = int(os.environ.get("BENCH_SIGKILL_TRIALS", "24"))
FIRST_SEED = int(os.environ.get("BENCH_SIGKILL_SEED", "1"))


def main() -> int:
    from paysync_dev import devstack
    from paysync_dev.sandbox.control import SandboxControl
    from tests.e2e.autopay_sigkill import WORKER_ENV, run_trial

    logdir = Path(tempfile.mkdtemp(prefix="bench-sigkill-"))
    rows, failed = [], 0
    with devstack.scratch_database("paysync_bench"):
        sandbox, url = devstack.start_sandbox(logdir)
        ctl = SandboxControl(url)
        try:
            for n, seed in enumerate(range(FIRST_SEED, FIRST_SEED + TRIALS)):
                ctl.reset(seed=0)
                workers: list[devstack.Proc] = []

                def start_worker(n: int = n, workers: list[devstack.Proc] = workers) -> devstack.Proc:
                    proc = devstack.start_worker(logdir / f"trial{n}", "celery,user,service", 2,
                                                 name=f"kill{n}-{len(workers)}", **WORKER_ENV)
                    workers.append(proc)
                    return proc

                try:
                    result = run_trial(ctl, start_worker, seed)
                finally:
                    for proc in workers:
                        proc.stop()
                ok = result.exactly_once
                failed += not ok
                funded = "/".join(str(p["funded_transfers"]) for p in result.per_payment)
                xero = "/".join(str(p["xero_payments"]) for p in result.per_payment)
                rows.append(f"| {seed} | {'; '.join(result.kills)} | {result.seconds} | {funded} | {xero} | "
                            f"{'yes' if ok else 'NO'} |")
                print(rows[-1], flush=True)
        finally:
            sandbox.stop()
    print()
    print("| seed | kills (SIGKILL, seconds into the trial) | seconds | funded transfers per payment | "
          "Xero payments per payment | exactly once |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n{TRIALS - failed} of {TRIALS} trials paid every bill exactly once in Wise and in Xero")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
