"""The main job end to end against the local sandbox (``make demo`` / ``paysync demo``).

Starts the sandbox and one worker per queue (plus the default-queue forwarder), runs
each step in :data:`STEPS` in order, prints a report and stops everything. Each step
takes the shared :class:`DemoContext` and returns a report section (title + rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from paysync import devstack
from paysync.cli.output import emit, to_json


@dataclass
class DemoContext:
    sandbox_url: str
    logdir: Path
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


def smoke_through_every_queue(ctx: DemoContext) -> Section:
    """A job per traffic queue, sent by name from a bare Celery app (as another application would)."""
    from celery import Celery

    from paysync.config import settings

    url = settings().redis_url
    bare = Celery("another-application", broker=url, backend=url)
    rows = []
    for task in ("paysync.smoke_user", "paysync.smoke_company", "paysync.smoke_service"):
        where = bare.send_task(task, kwargs={"token": uuid.uuid4().hex}).get(timeout=60)
        rows.append({"task": task, "queue": where["queue"], "worker": where["worker"], "pid": where["pid"]})
    return Section("smoke jobs sent by name from a bare Celery app", ("task", "queue", "worker", "pid"), rows)


STEPS: list[Callable[[DemoContext], Section]] = [smoke_through_every_queue]


def run_demo(as_json: bool = False, logdir: Path | None = None) -> list[Section]:
    from storage import migrate

    logdir = logdir or devstack.ROOT / ".local" / "demo-logs"
    migrate.upgrade()
    procs: list[devstack.Proc] = []
    sections: list[Section] = []
    try:
        sandbox, url = devstack.start_sandbox(logdir)
        procs.append(sandbox)
        click.echo(f"sandbox on {url}", err=True)
        for queue in ("celery", "user", "company", "service"):
            name = "default" if queue == "celery" else queue
            procs.append(devstack.start_worker(logdir, queue, concurrency=2, name=name))
            click.echo(f"worker '{name}' consuming queue '{queue}'", err=True)
        ctx = DemoContext(sandbox_url=url, logdir=logdir)
        for step in STEPS:
            click.echo(f"-- {step.__doc__.strip().splitlines()[0] if step.__doc__ else step.__name__}", err=True)
            sections.append(step(ctx))
    finally:
        for proc in reversed(procs):
            proc.stop()
    if as_json:
        click.echo(to_json([{"title": s.title, "rows": s.rows} for s in sections]))
    else:
        for s in sections:
            click.echo(f"\n== {s.title}")
            emit(s.rows, s.columns, as_json=False)
        click.echo(f"\nlogs in {logdir}")
    return sections
