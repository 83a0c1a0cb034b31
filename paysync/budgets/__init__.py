"""Shared rate budgets: every process that calls Wise, Xero or ConnectWise takes from them.

- :mod:`.spec`: what a bucket is (windows as sliding logs or sub-window counters,
  concurrency, interactive reserve) and the answers (:class:`Grant`, :class:`BucketState`);
  no Redis.
- :mod:`.limiter`: :class:`Limiter`, the state in Redis, one atomic Lua script per call
  (``*.lua`` next to it), clock from Redis ``TIME``; callers that accept a wait are booked
  (no herd), leases are short and renewed while their call runs.
- :mod:`.buckets`: specs keyed by what each provider counts; :mod:`.config`: the
  environment variables (listed in its docstring).

A refusal is not an error: callers decide whether to sleep (``acquire_blocking``),
re-schedule the task or park it. ``with limiter.lease(spec) as grant:`` is the form for one
call: it takes a grant (sleeping through a short wait) or raises :class:`BudgetExhausted`,
keeps the grant's concurrency slot while the block runs and releases it when the block
ends. One limiter per process: ``shared_limiter()``; ``reschedule_countdown`` spreads the
jobs the task layer re-schedules for a budget wait.
"""

from paysync.budgets.buckets import (
    XERO_PROBLEM_WINDOWS,
    XERO_REMAINING_HEADERS,
    connectwise_bucket,
    wise_bucket,
    xero_bucket,
)
from paysync.budgets.config import budget_settings
from paysync.budgets.limiter import Limiter, jittered, reschedule_countdown, shared_limiter
from paysync.budgets.spec import BucketSpec, BucketState, BudgetExhausted, Grant, Window, WindowState

__all__ = [
    "XERO_PROBLEM_WINDOWS",
    "XERO_REMAINING_HEADERS",
    "BucketSpec",
    "BucketState",
    "BudgetExhausted",
    "Grant",
    "Limiter",
    "Window",
    "WindowState",
    "budget_settings",
    "jittered",
    "reschedule_countdown",
    "shared_limiter",
    "connectwise_bucket",
    "wise_bucket",
    "xero_bucket",
]
