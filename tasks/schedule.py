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
    "release-held-jobs": {
        "task": "paysync.release_held",
        "schedule": _period("PAYSYNC_FAIR_SHARE_SWEEP_SECONDS", 30),
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

# Wise webhooks (additive): stored deliveries not translated in time go to translation again.
beat_schedule["wise.sweep_webhooks"] = {"task": "wise.sweep_webhooks",
                                        "schedule": _period("PAYSYNC_WEBHOOKS_SWEEP_BEAT", 30), "options": BATCH}

# Wise-Sync (additive): both directions for every merchant with a PSA connection, as batch work.
beat_schedule["wisesync.sync_due"] = {"task": "wisesync.sync_due",
                                      "schedule": _period("PAYSYNC_WISESYNC_BEAT_SECONDS", 900), "options": BATCH}

# Auto-payments (additive): the scheduler (service) and the execution with its follow-ups (user).
beat_schedule["autopay.schedule"] = {"task": "autopay.schedule",
                                     "schedule": _period("PAYSYNC_AUTOPAY_SCHEDULE_SECONDS", 900), "options": BATCH}
beat_schedule["autopay.run_due"] = {"task": "autopay.run_due",
                                    "schedule": _period("PAYSYNC_AUTOPAY_RUN_SECONDS", 60), "options": BATCH}
