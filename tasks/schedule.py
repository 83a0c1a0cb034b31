"""The beat schedule: every periodic job, its period from the environment, its class.

Scheduled jobs are batch work (``paysync_class: batch``); the same task started by a
person or another application is interactive.
"""

from __future__ import annotations

import os

BATCH = {"headers": {"paysync_class": "batch"}}


def _period(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


beat_schedule: dict[str, dict] = {}
