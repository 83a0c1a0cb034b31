"""storage.db.rerun_on_conflict: how often work rolled back by PostgreSQL runs again."""

import psycopg2.errors
import pytest

from storage.db import CONFLICT_RUNS, rerun_on_conflict


def deadlocked(runs: list[str], name: str):
    def work() -> None:
        runs.append(name)
        raise psycopg2.errors.DeadlockDetected("deadlock detected")
    return work


def test_work_that_keeps_deadlocking_runs_the_stated_number_of_times_then_raises() -> None:
    # given work PostgreSQL always rolls back for a deadlock
    runs: list[str] = []
    # when it is run with re-runs, then it runs CONFLICT_RUNS times and the deadlock raises
    with pytest.raises(psycopg2.errors.DeadlockDetected):
        rerun_on_conflict(deadlocked(runs, "inner"), "test")
    assert runs == ["inner"] * CONFLICT_RUNS


def test_nested_re_runs_run_the_innermost_work_the_stated_number_of_times_not_their_product() -> None:
    # given the same work, re-run by an inner rerun_on_conflict inside an outer one (a job step
    # around a webhook's translation)
    runs: list[str] = []

    def step() -> None:
        runs.append("outer")
        rerun_on_conflict(deadlocked(runs, "inner"), "inner")

    # when it keeps deadlocking, then the inner work runs CONFLICT_RUNS times in all, once per
    # outer run (not CONFLICT_RUNS squared), and the deadlock raises
    with pytest.raises(psycopg2.errors.DeadlockDetected):
        rerun_on_conflict(step, "outer")
    assert runs == ["outer"] + ["inner"] * CONFLICT_RUNS


def test_an_outer_re_run_still_covers_a_conflict_raised_outside_the_inner_one() -> None:
    # given a step whose own statement deadlocks once, after inner work that succeeded
    runs: list[str] = []

    def step() -> str:
        runs.append("outer")
        rerun_on_conflict(lambda: runs.append("inner"), "inner")
        if runs.count("outer") == 1:
            raise psycopg2.errors.DeadlockDetected("deadlock detected")
        return "done"

    # when it is run, then the outer re-run runs the step again and it finishes
    assert rerun_on_conflict(step, "outer") == "done"
    assert runs == ["outer", "inner", "outer", "inner"]
