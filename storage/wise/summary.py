"""Row counts of one connector's tables (the demo's report, the end-to-end checks)."""

from __future__ import annotations

from storage import db


def counts(connector_id: int) -> dict[str, int]:
    """Rows of each of the connector's tables."""
    rows = db.fetch_all("""select 'accounts' as t, count(*) as n from accounts where connector_id=%(c)s
                     union all select 'balances', count(*) from balances b join accounts a on a.id=b.account_id
                                                 where a.connector_id=%(c)s
                     union all select 'payments', count(*) from payments where connector_id=%(c)s
                     union all select 'payment_adjustments', count(*) from payment_adjustments j
                               join payments p on p.id=j.payment_id where p.connector_id=%(c)s
                     union all select 'payment_initiations', count(*) from payment_initiations where connector_id=%(c)s
                     union all select 'others', count(*) from others where connector_id=%(c)s""", {"c": connector_id})
    return {r["t"]: r["n"] for r in rows}
