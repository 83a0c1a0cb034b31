"""A job's step that PostgreSQL rolls back for a deadlock runs again (tasks/outages.py)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from storage.db import transaction
from tasks.outages import outlast
from tests.harness import wait_for_a_lock_waiter


def test_a_step_rolled_back_by_a_deadlock_runs_again_and_finishes(db):
    # given two rows, and another transaction that holds the second and then asks for the first
    with transaction() as cur:
        cur.execute("create table deadlock_probe (id int primary key, n int not null)")
        cur.execute("insert into deadlock_probe values (1, 0), (2, 0)")
    held, runs, errors = threading.Event(), [], []

    def other() -> None:
        try:
            with transaction() as cur:
                cur.execute("update deadlock_probe set n = n + 10 where id = 2")
                held.set()
                wait_for_a_lock_waiter()
                cur.execute("update deadlock_probe set n = n + 10 where id = 1")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def step() -> str:
        runs.append(1)
        with transaction() as cur:
            cur.execute("update deadlock_probe set n = n + 1 where id = 1")
            if len(runs) == 1:  # the opposite order: PostgreSQL rolls one of the two back
                cur.execute("update deadlock_probe set n = n + 1 where id = 2")
        return "done"

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert held.wait(10)
        # when a job's step meets the deadlock
        task = SimpleNamespace(name="probe", request=SimpleNamespace(id="task-1"))
        result = outlast(task, step, "run")
        thread.join(30)
        # then the step ran again and finished, and the other transaction committed
        assert result == "done" and len(runs) == 2 and not errors
        with transaction() as cur:
            cur.execute("select id, n from deadlock_probe order by id")
            assert [tuple(r.values()) for r in cur.fetchall()] == [(1, 11), (2, 10)]
    finally:
        thread.join(30)
        with transaction() as cur:
            cur.execute("drop table if exists deadlock_probe")
