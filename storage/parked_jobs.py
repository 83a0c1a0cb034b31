"""Jobs parked until a budget returns (a spent daily limit): no worker, no unacked message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from storage.db import Json, one, transaction


def park(task_name: str, task_id: str, payload: dict[str, Any], traffic: str, interactive: bool,
         wait_seconds: float, reason: str, bucket: str | None = None, merchant_id: int | None = None) -> bool:
    """Park a job; a job already parked (a redelivered copy) is not parked twice."""
    with transaction() as cur:
        cur.execute(
            """insert into parked_jobs (task_name, task_id, payload, traffic, interactive, merchant_id, bucket,
                                        reason, not_before)
               values (%s, %s, %s, %s, %s, %s, %s, %s, now() + %s * interval '1 second')
               on conflict (task_id) where dispatched_at is null do nothing""",
            (task_name, task_id, Json(payload), traffic, interactive, merchant_id, bucket, reason, wait_seconds))
        return cur.rowcount == 1


def redispatch_due(send: Callable[[dict[str, Any]], None], limit: int = 500) -> int:
    """Send every due job and mark it dispatched, in one transaction.

    Rows are locked with SKIP LOCKED, so two sweepers (two beats) never take the same job.
    A crash after sending but before the commit sends it again on the next sweep; the
    task's execution claim (tasks/executions.py) runs it once.
    """
    with transaction() as cur:
        cur.execute(
            """select * from parked_jobs where dispatched_at is null and not_before <= now()
               order by not_before, id limit %s for update skip locked""", (limit,))
        rows = [dict(r) for r in cur.fetchall()]
        for row in rows:
            send(row)
            cur.execute("update parked_jobs set dispatched_at = now() where id = %s", (row["id"],))
        return len(rows)


def waiting(merchant_id: int | None = None) -> list[dict[str, Any]]:
    with transaction() as cur:
        if merchant_id is None:
            cur.execute("select * from parked_jobs where dispatched_at is null order by not_before")
        else:
            cur.execute("select * from parked_jobs where dispatched_at is null and merchant_id=%s order by not_before",
                        (merchant_id,))
        return [dict(r) for r in cur.fetchall()]


def next_due() -> dt.datetime | None:
    with transaction() as cur:
        cur.execute("select min(not_before) as t from parked_jobs where dispatched_at is null")
        return one(cur, "earliest parked job")["t"]
