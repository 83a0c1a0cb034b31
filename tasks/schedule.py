"""The beat schedule: every periodic job, its period from the environment, its class.

Scheduled jobs are batch work (``paysync_class: batch``); the same task started by a
person or another application is interactive.
"""

from __future__ import annotations

import os

BATCH = {"headers": {"paysync_class": "batch"}}


def _period(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


beat_schedule: dict[str, dict] = {
    "redispatch-parked-jobs": {
        "task": "paysync.redispatch_parked",
        "schedule": _period("PAYSYNC_PARKED_SWEEP_SECONDS", 15),
        "options": BATCH,
    },
    "accounting-poll-latest": {
        "task": "accounting.poll_latest",
        "schedule": _period("PAYSYNC_XERO_POLL_SECONDS", 900),
        "options": BATCH,
    },
}

# Wise connector (additive): the polling dispatcher and the initiation sweeper.
beat_schedule["wise.poll_due"] = {"task": "wise.poll_due", "schedule": _period("PAYSYNC_WISE_POLL_BEAT", 30),
                                  "options": BATCH}
beat_schedule["wise.sweep_initiations"] = {"task": "wise.sweep_initiations",
                                           "schedule": _period("PAYSYNC_WISE_SWEEP_BEAT", 60), "options": BATCH}
