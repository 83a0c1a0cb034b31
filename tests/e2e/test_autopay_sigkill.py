"""SIGKILL at random moments over the auto-payment path (the short run; the benchmark
``bench/bench_autopay_sigkill.py`` runs 20+ trials): each bill paid once in Wise, once in Xero."""

from __future__ import annotations

import pytest

from tests.e2e.autopay_sigkill import WORKER_ENV, run_trial

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("seed", [11, 12])
def test_sigkill_at_random_moments_pays_each_bill_once_in_wise_and_once_in_xero(db, redis_client, sandbox_ctl,
                                                                                worker_factory, seed):
    def start_worker():
        return worker_factory.start(queues="celery,user,service", concurrency=2, **WORKER_ENV)

    result = run_trial(sandbox_ctl, start_worker, seed, bills=2, kills=3, window=1.2, whole_worker_share=0.0)
    assert result.kills, "nothing was killed"
    assert result.completed, result
    for payment in result.per_payment:
        assert (payment["funded_transfers"], payment["xero_payments"]) == (1, 1), result
