"""What the metrics server reads from PostgreSQL on each scrape (``paysync/metrics/collector.py``):
counts by label, never rows. Each query is one statement over an indexed or small table."""

from __future__ import annotations

from typing import Any

from storage.db import transaction


def _rows(sql: str) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute(sql)
        return [dict(r) for r in cur.fetchall()]


def parked_jobs() -> list[dict[str, Any]]:
    """Jobs parked for budget and not dispatched yet, per task and traffic."""
    return _rows("""select task_name as task, traffic, count(*)::bigint as n from parked_jobs
                    where dispatched_at is null group by task_name, traffic""")


def quarantined() -> list[dict[str, Any]]:
    """Open quarantined records per provider and stream."""
    return _rows("""select provider, stream, count(*)::bigint as n from quarantined_records
                    where resolved_at is null group by provider, stream""")


def sync_lag() -> list[dict[str, Any]]:
    """Seconds since each stream's last successful page, per owner (connector or merchant)."""
    return _rows("""select owner, stream, extract(epoch from now() - last_page_at)::float as seconds,
                           pages, records from sync_progress""")


def initiations() -> list[dict[str, Any]]:
    """Payment initiations per kind and status."""
    return _rows("select kind, status, count(*)::bigint as n from payment_initiations group by kind, status")


def webhook_deliveries() -> list[dict[str, Any]]:
    """Stored webhook deliveries per event type and translation status."""
    return _rows("select event_type, status, count(*)::bigint as n from webhooks group by event_type, status")


def budget_owners() -> dict[str, list[dict[str, Any]]]:
    """What has a budget: authorised Xero connections, active Wise connectors, PSA connections."""
    return {
        "xero": _rows("""select id, merchant_id, role, client_id, tenant_id from accounting_connections
                         where provider='xero' and tenant_id is not null order by id"""),
        "wise": _rows("""select id, merchant_id, name, config->'limits' as limits from connectors
                         where provider='wise' and status='active' order by id"""),
        "connectwise": _rows("select id, merchant_id from psa_connections order by id"),
    }
