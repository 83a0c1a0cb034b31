"""Celery tasks: thin entry points (validate the payload, call the domain code, persist).

Every task is declared with :func:`tasks.contract.paysync_task`, which records its kind of
traffic, its class (interactive or batch), its payload schema and its idempotency key.
"""

from tasks import (  # noqa: F401  (registers the tasks)  # noqa: F401  (Wise connector: connectors.*, wise.*)
    accounting,  # noqa: F401  (Xero: accounting.*)
    autopay,  # noqa: F401  (auto-payments: autopay.*)
    connectors,
    sweepers,
    system,
    webhooks,  # noqa: F401  (Wise webhooks: wise.translate_webhook, wise.sweep_webhooks)
    wise,
    wisesync,  # noqa: F401  (Wise-Sync: wisesync.*)
)
from tasks.app import app

__all__ = ["app"]
