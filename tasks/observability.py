"""What every worker and beat does for operators, hooked through Celery's signals and a bootstep
(nothing here changes how a task runs):

- logging: ``setup_logging`` configures the process (:func:`paysync.logs.configure`: JSON or
  text, ``PAYSYNC_LOG_LEVEL``, secrets redacted) instead of Celery's own set-up;
- log context: between ``task_prerun`` and ``task_postrun`` every record carries the task's
  name and id, and the merchant, connection and connector its payload names;
- metrics: ``task_postrun`` counts the job by task and outcome, with its run time
  (:mod:`paysync.metrics`);
- health: a consumer bootstep touches ``PAYSYNC_HEALTH_DIR/worker-<node name>`` every
  ``PAYSYNC_HEALTH_INTERVAL`` seconds from the worker's event loop while it is connected to
  the broker; ``paysync health worker`` fails when the file is older than three intervals.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from celery import bootsteps, signals

from paysync import logs, metrics

PAYLOAD_CONTEXT = ("merchant_id", "connection_id", "connector_id")
OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "IGNORED": "rescheduled", "RETRY": "retry",
            "REJECTED": "rejected"}
_started: dict[str, tuple[float, Any]] = {}


def health_dir() -> Path:
    return Path(os.environ.get("PAYSYNC_HEALTH_DIR") or "/tmp/paysync-health")


def health_interval() -> float:
    try:
        return max(0.5, float(os.environ.get("PAYSYNC_HEALTH_INTERVAL") or 10))
    except ValueError:
        return 10.0


def heartbeat_file(node: str) -> Path:
    return health_dir() / f"worker-{node.replace('/', '_')}"


def _process_kind() -> str:
    for word in ("worker", "beat", "flower"):
        if word in sys.argv[1:]:
            return word
    return "celery"


@signals.setup_logging.connect
def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    logs.configure(_process_kind(), default_level=loglevel)


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, kwargs: dict[str, Any] | None = None,
                  **_: Any) -> None:
    payload = kwargs or {}
    fields = {k: payload.get(k) for k in PAYLOAD_CONTEXT if isinstance(payload.get(k), int | str)}
    token = logs.set_context(task=getattr(task, "name", None), task_id=task_id, **fields)
    if task_id:
        _started[task_id] = (time.monotonic(), token)


@signals.task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    began, token = _started.pop(task_id or "", (None, None))
    try:
        if began is not None and task is not None:
            outcome = OUTCOMES.get(state or "", (state or "unknown").lower())
            metrics.observe(metrics.JOB_SECONDS, {"task": task.name, "outcome": outcome}, time.monotonic() - began,
                            counter=metrics.JOBS)
    finally:
        try:
            logs.reset_context(token)
        except ValueError:  # set in another context: start afresh
            logs.reset_context()


class HealthHeartbeat(bootsteps.StartStopStep):
    """Touches the worker's heartbeat file from its event loop while the consumer runs."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.path: Path | None = None

    def _touch(self) -> None:
        try:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError:  # health turns stale; the worker goes on
            pass

    def start(self, c: Any) -> None:
        self.path = heartbeat_file(c.hostname)
        self._touch()
        self.tref = c.timer.call_repeatedly(health_interval(), self._touch)

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def shutdown(self, c: Any) -> None:
        self.stop(c)
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def install(app: Any) -> None:
    """Add the heartbeat bootstep to ``app``'s workers (the signals connect on import). In a
    ``celery`` process, logging is set up at once, so what Celery says before its own
    ``setup_logging`` (a warning about privileges, say) is formatted like the rest."""
    app.steps["consumer"].add(HealthHeartbeat)
    if Path(sys.argv[0]).name == "celery":
        logs.configure(_process_kind())
