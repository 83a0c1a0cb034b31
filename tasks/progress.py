"""A long job's progress, summed across its re-schedules, reported through its state.

A job that is re-scheduled (a budget wait) or retried runs again under the same task id as
a new copy; each copy adds to the same totals, kept in Redis under the task id for a day,
so the counts a caller sees (``PROGRESS`` state: ``done``, ``stage``, ``counts``) and the
job's final summary cover every run, not only the last one. A job run eagerly or called
directly keeps its totals in memory.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)
TTL_SECONDS = 24 * 3600


class JobProgress:
    def __init__(self, task: Any) -> None:
        self.task = task
        request = getattr(task, "request", None)
        self.task_id = None if request is None or request.called_directly or request.is_eager else request.id
        self.counts: dict[str, int] = {}
        self.pages: dict[str, int] = {}
        if self.task_id:
            try:
                raw = self._redis().get(self.key)
                if raw:
                    saved = json.loads(raw)
                    self.counts = {k: int(v) for k, v in saved.get("counts", {}).items()}
                    self.pages = {k: int(v) for k, v in saved.get("pages", {}).items()}
            except Exception as exc:  # noqa: BLE001 - progress is informative: start from zero
                log.warning("progress of %s not read: %s", self.task_id, exc)

    @property
    def key(self) -> str:
        return f"paysync:progress:{self.task_id}"

    @staticmethod
    def _redis() -> Any:
        from paysync.config import settings
        from paysync.redis_client import redis_client

        return redis_client(settings().redis_url)

    def page(self, stage: str, records: int) -> None:
        """One page of ``records`` done in ``stage``: add it and report the totals."""
        self.counts[stage] = self.counts.get(stage, 0) + records
        self.pages[stage] = self.pages.get(stage, 0) + 1
        if not self.task_id:
            return
        try:
            self._redis().set(self.key, json.dumps({"counts": self.counts, "pages": self.pages}), ex=TTL_SECONDS)
            self.task.update_state(state="PROGRESS", meta={"done": sum(self.counts.values()), "stage": stage,
                                                           "counts": dict(self.counts)})
        except Exception as exc:  # noqa: BLE001 - the work goes on without its progress report
            log.warning("progress of %s not stored: %s", self.task_id, exc)
