"""PostgreSQL access: one thread-safe pool per process, transactions as context managers.

The pool is created lazily and re-created after a fork (Celery's prefork pool forks
workers from a parent that may already hold connections).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extras
import psycopg2.pool

from paysync.config import settings
from paysync.errors import PaysyncError

psycopg2.extras.register_uuid()


class DatabaseUnavailable(PaysyncError):
    """PostgreSQL did not answer; the message names where we looked, never a password."""


_lock = threading.Lock()
log = logging.getLogger(__name__)
T = TypeVar("T")
_pool: psycopg2.pool.ThreadedConnectionPool | None = None
_pool_pid: int | None = None
_pool_url: str | None = None


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _get_pool() -> psycopg2.pool.ThreadedConnectionPool:
    global _pool, _pool_pid, _pool_url
    url = settings().database_url
    pid = os.getpid()
    if _pool is not None and _pool_pid == pid and _pool_url == url:
        return _pool
    with _lock:
        if _pool is None or _pool_pid != pid or _pool_url != url:
            if _pool is not None and _pool_pid == pid:
                _pool.closeall()
            try:
                _pool = psycopg2.pool.ThreadedConnectionPool(
                    1, settings().db_pool_max, dsn=url, connect_timeout=5, application_name="paysync")
            except psycopg2.OperationalError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DatabaseUnavailable(f"database unreachable at {safe_url(url)}: {first}") from None
            _pool_pid, _pool_url = pid, url
    return _pool


def close_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None and _pool_pid == os.getpid():
            _pool.closeall()
        _pool = None


@contextmanager
def transaction() -> Iterator[psycopg2.extras.RealDictCursor]:
    """A cursor inside one transaction: committed on success, rolled back on error."""
    pool = _get_pool()
    conn = pool.getconn()
    broken = False
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur
        conn.commit()
    except psycopg2.InterfaceError:
        broken = True
        raise
    except psycopg2.OperationalError:
        broken = True
        raise
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        pool.putconn(conn, close=broken or bool(conn.closed))


def rolled_back_by_conflict(exc: BaseException) -> bool:
    """PostgreSQL rolled the transaction back for a deadlock or a serialization failure: the
    whole transaction is undone, and running it again is safe."""
    return isinstance(exc, psycopg2.extensions.TransactionRollbackError)


CONFLICT_RUNS = 3  # runs in all of work whose transaction PostgreSQL keeps rolling back for a conflict


def rerun_on_conflict(work: Callable[[], T], what: str, runs: int = CONFLICT_RUNS) -> T:
    """``work()``, run again (after a short, growing, jittered pause) while PostgreSQL rolls its
    transaction back for a deadlock or a serialization failure, at most ``runs`` runs in all;
    the last failure, or any other error, raises. Two transactions that lock the same rows in
    opposite orders both finish this way (paysync's own writers take a transfer's initiations
    before its payment, ``storage.wise.lock_initiations_of``; this is the net under that).

    Nested, the innermost re-runs: a failure it has already run ``runs`` times is marked, and
    an enclosing ``rerun_on_conflict`` lets it through instead of running it all again."""
    for run in range(1, runs + 1):
        try:
            return work()
        except Exception as exc:
            if run == runs or not rolled_back_by_conflict(exc) or getattr(exc, "paysync_reruns_spent", False):
                if rolled_back_by_conflict(exc):
                    exc.paysync_reruns_spent = True  # type: ignore[attr-defined]
                raise
            log.info("%s: rolled back by PostgreSQL (%s); running it again", what, type(exc).__name__)
            time.sleep(0.05 * run * (0.5 + random.random()))
    raise AssertionError("unreachable")


def fetch_all(sql: str, params: Any = None, cur: Any = None) -> list[dict[str, Any]]:
    """Every row of ``sql``, in ``cur``'s transaction when given, else in a transaction of its own."""
    if cur is not None:
        cur.execute(sql, params)
        return [dict(r) for r in cur.fetchall()]
    with transaction() as c:
        c.execute(sql, params)
        return [dict(r) for r in c.fetchall()]


def one(cur: Any, what: str) -> dict[str, Any]:
    """The row the statement just run in ``cur`` returned (a ``RETURNING`` or an aggregate);
    LookupError naming ``what`` when it returned none."""
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no {what}")
    return dict(row)


def fetch_one(sql: str, params: Any = None) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return dict(row) if row else None


def execute(sql: str, params: Any = None) -> int:
    with transaction() as cur:
        cur.execute(sql, params)
        return cur.rowcount


Json = psycopg2.extras.Json


def text_column(value: object, limit: int | None = None) -> str:
    """``value`` as a text column holds it: cut to ``limit`` characters, and any U+0000 (which
    PostgreSQL cannot store in text or jsonb) shown as U+FFFD."""
    return str(value)[:limit].replace("\x00", "\ufffd")


def lock_nowait(cur: Any, sql: str, params: Any, what: str) -> dict[str, Any] | None:
    """Run a ``SELECT ... FOR UPDATE NOWAIT`` for one row inside ``cur``'s transaction.

    Returns the row locked, or None when another transaction holds it (the caller backs
    off instead of waiting); the savepoint keeps the caller's transaction usable either way.
    A row that does not exist raises LookupError naming ``what``.
    """
    try:
        cur.execute("savepoint paysync_lock_nowait")
        cur.execute(sql, params)
        row = cur.fetchone()
        cur.execute("release savepoint paysync_lock_nowait")
    except psycopg2.errors.LockNotAvailable:
        cur.execute("rollback to savepoint paysync_lock_nowait")
        return None
    if row is None:
        raise LookupError(f"unknown {what}")
    return dict(row)
