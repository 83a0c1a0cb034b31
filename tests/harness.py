"""Test harness: an isolated database, the sandbox on a free port, real Celery workers.

- ``database`` (session): a fresh PostgreSQL database migrated to head, exported through
  DATABASE_URL so worker subprocesses use it too; ``db`` empties every table per test.
- ``sandbox`` (session): ``paysync sandbox`` in a subprocess on a free port; ``sandbox_ctl``
  resets it for each test.
- ``worker_factory``: real ``celery worker`` subprocesses (and beat), stopped at the end of
  the test; ``Proc.kill()`` sends SIGKILL. Not supervised unless asked (``supervised=True``):
  a test that kills a worker wants it to stay dead.
- ``time_scale``: one setting (PAYSYNC_TIME_SCALE) for time-scaled runs.
Crash points (paysync/crashpoints.py) are enabled for every process started here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paysync.config import settings
from paysync_dev import devstack


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """A fresh database for this test session, migrated to head, dropped at the end."""
    with devstack.scratch_database("paysync_test") as url:
        yield url


APPEND_ONLY = ("audit_log",)  # their triggers refuse TRUNCATE: the owner lifts them for the emptying


def empty_tables() -> None:
    """Every table of the current database emptied (schema kept), append-only ones included."""
    from storage.db import transaction

    with transaction() as cur:
        cur.execute("select tablename from pg_tables where schemaname='public' and tablename <> 'alembic_version'")
        tables = [r["tablename"] for r in cur.fetchall()]
        if not tables:
            return
        guarded = [t for t in APPEND_ONLY if t in tables]
        for table in guarded:
            cur.execute(f'alter table "{table}" disable trigger user')
        cur.execute("truncate " + ", ".join(f'"{t}"' for t in tables) + " restart identity cascade")
        for table in guarded:
            cur.execute(f'alter table "{table}" enable trigger user')


def wait_for_a_lock_waiter(timeout: float = 20.0) -> bool:
    """Until another session of this database waits on a lock (the first half of a deadlock a
    test builds); False after ``timeout`` seconds."""
    import time

    from storage.db import fetch_one

    deadline = time.time() + timeout
    while time.time() < deadline:
        if fetch_one("select 1 as waiting from pg_stat_activity where datname = current_database() "
                     "and wait_event_type = 'Lock' and pid <> pg_backend_pid()"):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def db(database: str) -> str:
    """The session database with every table emptied (schema kept)."""
    empty_tables()
    return database


@pytest.fixture(scope="session")
def time_scale() -> float:
    """Virtual seconds per real second for time-scaled runs (PAYSYNC_TIME_SCALE)."""
    return settings().time_scale


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from paysync_dev.sandbox.control import SandboxControl

    proc, url = devstack.start_sandbox(tmp_path_factory.mktemp("sandbox"))
    ctl = SandboxControl(url)
    ctl.proc = proc  # type: ignore[attr-defined]
    yield ctl
    proc.stop()


@pytest.fixture
def sandbox_ctl(sandbox: Any) -> Any:
    """The sandbox, reset to seed 0 for this test."""
    sandbox.reset(seed=0)
    return sandbox


class WorkerFactory:
    """Starts real workers (and beats) for one test; all are stopped when it ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[devstack.Proc] = []

    def start(self, queues: str = "user,company,service,celery", concurrency: int = 2, name: str | None = None,
              wait: bool = True, extra_args: list[str] | None = None, supervised: bool = False,
              **env: str) -> devstack.Proc:
        proc = devstack.start_worker(self.tmp, queues, concurrency, name=name, wait=wait, extra_args=extra_args,
                                     supervised=supervised, PAYSYNC_CRASH_POINTS="1", **env)
        self.procs.append(proc)
        return proc

    def beat(self, name: str | None = None, supervised: bool = False, **env: str) -> devstack.Proc:
        proc = devstack.start_beat(self.tmp, name=name or f"beat{len(self.procs)}", supervised=supervised,
                                   PAYSYNC_CRASH_POINTS="1", **env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture
def worker_factory(tmp_path: Path, redis_client: Any) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(tmp_path)
    yield factory
    factory.stop_all()
