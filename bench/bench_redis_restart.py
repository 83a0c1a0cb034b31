"""Redis restart soak (run by ``make bench``, not collected by pytest).

Runs ``tests/e2e/test_redis_restart.py`` ``--runs`` times in a row (each run: a private
Redis with the append-only file, a supervised worker and beat, 30 jobs, Redis killed with
SIGKILL mid-stream and restarted 3 s later, every job checked to have run exactly once and
every process alive 60 s after the kill) and prints how many runs passed. About 70 s a run.
Usage::

    source <(scripts/services.sh env) && .venv/bin/python bench/bench_redis_restart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/e2e/test_redis_restart.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    passed = 0
    for run in range(1, args.runs + 1):
        started = time.time()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT,
                                capture_output=True, text=True)
        ok = result.returncode == 0
        passed += ok
        print(f"run {run}: {'passed' if ok else 'FAILED'} in {time.time() - started:.0f}s", flush=True)
        if not ok:
            print(result.stdout[-3000:], flush=True)
    print(f"| Redis SIGKILL + restart mid-stream | {passed} of {args.runs} runs: every job once, no process dead |")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
