"""Each Wise connector's webhook subscriptions: ``connector_subscriptions(connector, profile, event)``,
the subscription Wise created or the error that kept it from being created."""

from __future__ import annotations

from typing import Any

from storage.db import transaction


def record(connector_id: int, profile_id: str, event: str, status: str, *, subscription_id: str | None = None,
           url: str | None = None, error: str | None = None) -> None:
    with transaction() as cur:
        cur.execute("""insert into connector_subscriptions (connector_id, profile_id, event, subscription_id, url,
                                                            status, last_error)
                       values (%s, %s, %s, %s, %s, %s, %s)
                       on conflict (connector_id, profile_id, event) do update set
                           subscription_id = coalesce(excluded.subscription_id,
                                                      connector_subscriptions.subscription_id),
                           url = excluded.url, status = excluded.status, last_error = excluded.last_error,
                           updated_at = now()""",
                    (connector_id, str(profile_id), event, subscription_id, url, status,
                     error[:1000] if error else None))


def for_connector(connector_id: int) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("""select profile_id, event, status, subscription_id, url, last_error, updated_at
                       from connector_subscriptions where connector_id=%s order by profile_id, event""",
                    (connector_id,))
        return [dict(r) for r in cur.fetchall()]


def forget(connector_id: int) -> int:
    with transaction() as cur:
        cur.execute("delete from connector_subscriptions where connector_id=%s", (connector_id,))
        return cur.rowcount
