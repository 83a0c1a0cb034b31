"""SIGKILL at random moments over the auto-payment path: one trial, shared by the suite's short
run (``tests/e2e/test_autopay_sigkill.py``) and the benchmark (``bench/bench_autopay_sigkill.py``).

A trial: a merchant with a Xero connection and a Wise connector, a few due bills of an
allow-listed supplier, scheduled; a real worker executes them (``autopay.run_due`` sent
again and again, as two beats would) while worker processes are killed with SIGKILL at
random moments (a pool process, or the whole worker, which is then started again). No crash
point is armed: the kills land wherever the work happens to be. At the end, for every
scheduled payment: the Wise transfers carrying any customerTransactionId of any attempt of
any of its payouts, how many of them were funded, and its live payments in Xero. Exactly
one funded transfer and one Xero payment each is the bar.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

WORKER_ENV = {"PAYSYNC_WISE_INITIATION_POLL": "1s", "PAYSYNC_AUTOPAY_RECHECK_SECONDS": "2",
              "PAYSYNC_CLAIM_SECONDS": "3", "PAYSYNC_VISIBILITY_TIMEOUT": "10", "PAYSYNC_MAX_COUNTDOWN": "4"}


@dataclass
class TrialResult:
    seed: int
    kills: list[str] = field(default_factory=list)           # what was killed, when (seconds into the trial)
    per_payment: list[dict[str, Any]] = field(default_factory=list)
    completed: bool = False
    seconds: float = 0.0

    @property
    def exactly_once(self) -> bool:
        return self.completed and all(p["funded_transfers"] == 1 and p["xero_payments"] == 1
                                      for p in self.per_payment)


def pool_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def _funded(env: Any, transfer_id: Any) -> bool:
    return bool(requests.get(f"{env.wise_url}/_control/transfers/{transfer_id}", timeout=10).json()["funded"])


def payment_counts(env: Any, invoice_id: str) -> dict[str, Any]:
    """Transfers (and funded ones) of every attempt of every payout of the bill's scheduled payment."""
    from storage import wise as wise_store
    from tests.connectors.wise.sandbox_helpers import transfers_with_cti

    sp = env.sp(invoice_id)
    transfers: dict[str, dict[str, Any]] = {}
    for attempt in range(1, int(sp["attempt"]) + 1):
        found = wise_store.find_initiation(env.connector_id, f"autopay:{sp['id']}:{attempt}")
        if found is None:
            continue
        for a in wise_store.attempts(found["id"]):
            for t in transfers_with_cti(env.wise_url, env.wise_token, env.profile, str(a["customer_transaction_id"])):
                transfers[str(t["id"])] = t
    return {"scheduled_payment": sp["id"], "state": sp["state"], "transfers": len(transfers),
            "funded_transfers": sum(1 for tid in transfers if _funded(env, tid)),
            "xero_payments": len(env.live_payments(invoice_id))}


def run_trial(sandbox_ctl: Any, start_worker: Callable[[], Any], seed: int, *, bills: int = 3, kills: int = 3,
              window: float = 2.0, whole_worker_share: float = 0.3, deadline: float = 150.0) -> TrialResult:
    """One trial (module docstring); ``start_worker()`` starts a worker with :data:`WORKER_ENV` and
    returns its process (``pid``, ``alive()``)."""
    from paysync.autopay import scheduler
    from storage import wise as wise_store
    from tasks.routing import enqueue
    from tests.autopay.helpers import SETTLEMENT, make_env

    rng = random.Random(seed)
    result = TrialResult(seed)
    env = make_env(sandbox_ctl, days_before=3, name=f"Kill Co {seed}")
    supplier = f"Kill Supplies {seed}"
    invoices = [env.new_bill(supplier, f"{100 + i}.{rng.randrange(100):02d}", due_in_days=1) for i in range(bills)]
    env.allow(supplier)
    scheduler.schedule(env.merchant["id"])
    moments = sorted(rng.uniform(0.1, window) for _ in range(kills))
    worker = start_worker()  # ready: the clock of the kills starts with the work
    started = time.time()
    advanced = settled = False

    def written() -> bool:
        return all((env.sp(i) or {}).get("state") == "written_back" for i in invoices)

    while time.time() - started < deadline and not written():
        for _ in range(2):  # two beats at once
            enqueue("autopay.run_due", {"merchant_id": env.merchant["id"]}, interactive=False)
        step_end = time.time() + 0.5
        while time.time() < step_end:
            if moments and time.time() - started >= moments[0]:
                moments.pop(0)
                worker = _kill(worker, rng, whole_worker_share, start_worker, result, started)
            time.sleep(0.05)
        rows = [env.sp(i) for i in invoices]
        inis = [wise_store.get_initiation(r["initiation_id"]) if r["initiation_id"] else None for r in rows]
        if not advanced and all(i and i["step"] in ("funded", "done") for i in inis):
            sandbox_ctl.advance(3000)  # Wise moves the funded transfers on to outgoing_payment_sent
            advanced = True
        elif advanced and not settled and all(i and i["raw_status"] == "outgoing_payment_sent" for i in inis):
            sandbox_ctl.advance(SETTLEMENT + 60)  # no bounce within the settlement window: received
            settled = True
    result.completed = written()
    result.seconds = round(time.time() - started, 1)
    result.per_payment = [payment_counts(env, i) for i in invoices]
    return result


def _kill(worker: Any, rng: random.Random, whole_share: float, start_worker: Callable[[], Any],
          result: TrialResult, started: float) -> Any:
    at = round(time.time() - started, 2)
    children = pool_children(worker.pid)
    if children and rng.random() >= whole_share:
        victim = rng.choice(children)
        try:
            os.kill(victim, signal.SIGKILL)
            result.kills.append(f"pool process at {at}s")
        except ProcessLookupError:
            pass
        return worker
    worker.kill()
    result.kills.append(f"whole worker at {at}s")
    return start_worker()
