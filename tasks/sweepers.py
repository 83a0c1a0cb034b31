"""Beat-driven sweepers: re-dispatch what waits in PostgreSQL or in the fair share's held lists (safe with two beats)."""

from __future__ import annotations

from typing import Any

from tasks.contract import REGISTRY, paysync_task


def _send_parked(row: dict[str, Any]) -> None:
    from tasks.app import app

    task = app.tasks[row["task_name"]]
    if row["task_name"] not in REGISTRY:  # pragma: no cover - a task removed since it was parked
        raise LookupError(f"parked job {row['id']}: no task named {row['task_name']!r}")
    task.send_copy(dict(row["payload"]), row["task_id"], bool(row["interactive"]))


@paysync_task("paysync.redispatch_parked", traffic="service", interactive=False)
def redispatch_parked(task: Any, payload: dict[str, Any]) -> dict[str, int]:
    """Send every parked job whose budget should be back; the job resolves its connection when it runs."""
    from storage import parked_jobs

    return {"dispatched": parked_jobs.redispatch_due(_send_parked)}


@paysync_task("paysync.release_held", traffic="service", interactive=False)
def release_held(task: Any, payload: dict[str, Any]) -> dict[str, int]:
    """Publish released jobs whose publisher died and release what expired fair-share tokens held back."""
    from tasks import dispatch

    return dispatch.sweep()
