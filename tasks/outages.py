"""How a job outlasts an outage of PostgreSQL or Redis (called by ``tasks.contract.PaysyncTask``).

Where the broker itself may be the service that is down, a re-publish cannot be the retry.
So a job that meets a transient fault (:func:`paysync.infra.is_transient`) waits in its
worker process and runs that step again (:func:`paysync.infra.wait_out`: backoff from
0.5 s to 5 s, for ``PAYSYNC_INFRA_WAIT`` seconds). When the outage outlasts the wait, the
message goes back to the broker (``Reject(requeue=True)``): same message, same task id,
same copy id, so the execution claim lets it run again and nothing else. If the broker
cannot take it back either, the message stays unacknowledged in Redis and returns after
the visibility timeout. Either way the job never ends as a FAILURE because of an outage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery.exceptions import Reject

from paysync.infra import InfrastructureUnavailable, wait_out
from storage.db import rerun_on_conflict

T = TypeVar("T")
log = logging.getLogger(__name__)


def outlast(task: Any, step: Callable[[], T], what: str) -> T:
    """``step()`` of ``task``, waiting out PostgreSQL or Redis, and run again when PostgreSQL
    rolled its transaction back for a deadlock (:func:`storage.db.rerun_on_conflict`); the
    message goes back to the broker when the wait is spent."""
    label = f"{task.name}[{task.request.id}] {what}"
    try:
        return rerun_on_conflict(lambda: wait_out(step, label), label)
    except InfrastructureUnavailable as exc:
        log.error("%s; handing the message back to the broker", exc)
        raise Reject(str(exc), requeue=True) from exc


def settle(task: Any, step: Callable[[], Any], what: str) -> None:
    """A bookkeeping step after the job's outcome is known (finish or release its claim):
    waited out like any step, logged if the outage outlasts the wait. It never raises: the
    job's outcome is already decided, and a claim left behind expires with its lease."""
    try:
        wait_out(step, f"{task.name}[{task.request.id}] {what}")
    except InfrastructureUnavailable as exc:
        log.error("%s", exc)
    except Exception as exc:  # noqa: BLE001
        log.warning("%s[%s]: %s failed: %r", task.name, task.request.id, what, exc)
