"""Retrying quarantined records after a fix: each stream says how one of its records is
mapped and stored again from its stored payload (``storage/quarantine.py`` holds them).

``paysync quarantine retry ID`` calls :func:`retry`; a record that still does not map
stays quarantined with the new error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappers import MapperError
from paysync.errors import NotFound, PaysyncError
from storage import quarantine
from storage.db import transaction

Retry = Callable[[dict[str, Any]], dict[str, Any]]


def _wise_transfers(record: dict[str, Any]) -> dict[str, Any]:
    from paysync.connectors.wise.payments import retry_quarantined

    return retry_quarantined(record)


def _wise_recipients(record: dict[str, Any]) -> dict[str, Any]:
    from paysync.connectors.wise.external_accounts import retry_quarantined

    return retry_quarantined(record)


def _xero_download(record: dict[str, Any]) -> dict[str, Any]:
    from paysync.accounting.download_latest import retry_quarantined

    return retry_quarantined(record)


RETRIES: dict[tuple[str, str], Retry] = {
    ("wise", "transfers"): _wise_transfers,
    ("wise", "recipients"): _wise_recipients,
    ("xero", "contacts"): _xero_download,
    ("xero", "invoices"): _xero_download,
}


def retry(record_id: int) -> dict[str, Any]:
    """Map and store one quarantined record again; returns the outcome (``stored`` or
    ``still failing`` with the error)."""
    record = quarantine.get(record_id)
    if record is None:
        raise NotFound(f"no quarantined record {record_id}")
    if record["resolved_at"] is not None:
        return {"id": record_id, "outcome": f"already {record['resolution']}", "error": None}
    handler = RETRIES.get((record["provider"], record["stream"]))
    if handler is None:
        raise PaysyncError(f"quarantined {record['provider']} {record['stream']} records are retried by the next "
                           f"sync of {record['owner']}, not by this command")
    try:
        stats = handler(record)
    except MapperError as exc:
        with transaction() as cur:
            quarantine.put(cur, record["owner"], record["provider"], record["stream"], record["scope"],
                           record["reference"], record["payload"], str(exc), exc.field, exc.value)
        return {"id": record_id, "outcome": "still failing", "error": str(exc)}
    return {"id": record_id, "outcome": "stored", "error": None, **{k: v for k, v in stats.items() if k != "id"}}
