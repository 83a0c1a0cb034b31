"""How far each sync stream got: ``sync_progress(owner, stream)``.

A page stored counts here in the same transaction as its rows (``page``): ``last_page_at``
is the time of the last successful page (the sync lag), ``cycle_*`` count since the stream's
current cycle started (``start_cycle``), ``pages`` and ``records`` in all.
"""

from __future__ import annotations

from typing import Any

from storage.db import transaction


def start_cycle(owner: str, stream: str, cur: Any = None) -> None:
    """A new pass over ``stream`` starts: its cycle counts go back to zero."""

    def run(c: Any) -> None:
        c.execute("""insert into sync_progress (owner, stream, cycle_started_at) values (%s, %s, now())
                     on conflict (owner, stream) do update set cycle_started_at = now(), cycle_pages = 0,
                                                               cycle_records = 0""", (owner, stream))

    if cur is not None:
        run(cur)
        return
    with transaction() as c:
        run(c)


def page(owner: str, stream: str, records: int, cur: Any = None) -> None:
    """One page of ``records`` stored (inside the caller's transaction when ``cur`` is given)."""

    def run(c: Any) -> None:
        c.execute("""insert into sync_progress (owner, stream, cycle_pages, cycle_records, pages, records)
                     values (%s, %s, 1, %s, 1, %s)
                     on conflict (owner, stream) do update set last_page_at = now(),
                         cycle_pages = sync_progress.cycle_pages + 1,
                         cycle_records = sync_progress.cycle_records + excluded.cycle_records,
                         pages = sync_progress.pages + 1, records = sync_progress.records + excluded.records""",
                  (owner, stream, records, records))

    if cur is not None:
        run(cur)
        return
    with transaction() as c:
        run(c)


def for_owner(owner: str) -> list[dict[str, Any]]:
    with transaction() as c:
        c.execute("""select stream, last_page_at, extract(epoch from now() - last_page_at)::float as lag_seconds,
                            cycle_started_at, cycle_pages, cycle_records, pages, records
                     from sync_progress where owner=%s order by stream""", (owner,))
        return [dict(r) for r in c.fetchall()]


def reset(owner: str, cur: Any) -> None:
    cur.execute("delete from sync_progress where owner=%s", (owner,))
