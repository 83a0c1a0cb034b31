"""The one place every watermark and bookmark lives: ``sync_states(owner, stream, scope)``.

An owner is what the state belongs to (``connector:7``), a stream what is read
(``transfers``), a scope the slice (``profile:123``; ``''`` for none). ``advance`` can be
used inside a caller's transaction so a page of rows and its watermark commit together.
"""

from __future__ import annotations

from typing import Any

from storage.db import Json, transaction


def get(owner: str, stream: str, scope: str = "", cur: Any = None) -> dict[str, Any] | None:
    def run(c: Any) -> dict[str, Any] | None:
        c.execute("select state from sync_states where owner=%s and stream=%s and scope=%s", (owner, stream, scope))
        row = c.fetchone()
        return dict(row["state"]) if row else None

    if cur is not None:
        return run(cur)
    with transaction() as c:
        return run(c)


def advance(owner: str, stream: str, scope: str, state: dict[str, Any], cur: Any = None) -> None:
    """Store ``state`` for (owner, stream, scope), replacing what was there."""

    def run(c: Any) -> None:
        c.execute(
            """insert into sync_states (owner, stream, scope, state) values (%s, %s, %s, %s)
               on conflict (owner, stream, scope) do update set state = excluded.state, updated_at = now()""",
            (owner, stream, scope, Json(state)))

    if cur is not None:
        run(cur)
        return
    with transaction() as c:
        run(c)


def reset(owner: str, stream: str | None = None, cur: Any = None) -> int:
    """Forget an owner's states (all, or one stream's); returns how many were removed."""

    def run(c: Any) -> int:
        if stream is None:
            c.execute("delete from sync_states where owner=%s", (owner,))
        else:
            c.execute("delete from sync_states where owner=%s and stream=%s", (owner, stream))
        return c.rowcount

    if cur is not None:
        return run(cur)
    with transaction() as c:
        return run(c)


def list_states(owner: str) -> list[dict[str, Any]]:
    with transaction() as c:
        c.execute("select stream, scope, state, updated_at from sync_states where owner=%s order by stream, scope",
                  (owner,))
        return [dict(r) for r in c.fetchall()]
