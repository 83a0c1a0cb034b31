"""The main job end to end against the local sandbox (``make demo`` / ``paysync demo``).

Starts the sandbox (unless one is given), one worker per queue plus the default-queue
forwarder, runs each step in :data:`STEPS` in order, prints a report and stops everything.
Each step takes the shared :class:`DemoContext` and returns one report section (or a list).

The story, in order:

1. jobs sent by name from a bare Celery app reach every queue;
2. the Wise connector on its own (install, a polling cycle, a payout: Formance parity);
3. **the story's merchant**: three Xero connections (three apps, one tenant),
   multi-connection on, outstanding invoices downloaded (user) and polled (service), a
   payment written back (``ctx.facts["xero_merchant"]``);
4. auto-payments on that merchant: its Wise connector with webhooks, bills entered in
   Xero, scheduled by ``autopay.schedule`` (service), paid by Wise payouts and written back
   to Xero by ``autopay.run_due`` (user), the payouts' webhooks translated into its payments;
5. Wise-Sync on that merchant, both directions, over its company connection;
6. Wise webhooks in depth: a payout that bounces and is refunded, delivered and translated;
7. the report: calls and 429s per connection (the sandbox's counters), rows in PostgreSQL.
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

# Faster follow-ups than production's minutes, for the demo's workers only.
DEMO_WORKER_ENV = {"PAYSYNC_WISE_INITIATION_POLL": "2s", "PAYSYNC_AUTOPAY_RECHECK_SECONDS": "1"}


@dataclass
class DemoContext:
    sandbox_url: str
    logdir: Path
    facts: dict[str, Any] = field(default_factory=dict)
    procs: list[Any] = field(default_factory=list)  # processes a step started, stopped with the demo


@dataclass
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    key: str = ""


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


def wisesync_both_directions(ctx: DemoContext) -> Section:
    """Wise-Sync: ConnectWise invoices to Xero, then a payment made in Xero back to ConnectWise."""
    from paysync.wisesync.demo import run_demo_step

    merchant_id = ctx.facts.get("merchant_id")
    return Section("Wise-Sync: a sync event in both directions (company connection)", ("step", "what", "result"),
                   run_demo_step(ctx.sandbox_url, merchant_id))


from paysync.accounting.demo_step import xero_multi_connection  # noqa: E402  (issue 4: Xero)
from paysync.connectors.wise.demo import wise_connector  # noqa: E402  (issue 5: the Wise connector)
from paysync.demo_report import calls_per_connection  # noqa: E402  (issue 8: the report)
from paysync.demo_story import autopay_story  # noqa: E402  (issue 8: auto-payments)
from paysync.webhooks.demo import wise_webhooks  # noqa: E402  (issue 6: Wise webhooks)

# wise_connector resets the sandbox's counters, so it runs before the story's merchant exists.
STEPS: list[Callable[[DemoContext], Any]] = [
    smoke_through_every_queue,
    wise_connector,
    xero_multi_connection,
    autopay_story,
    wisesync_both_directions,
    wise_webhooks,
    calls_per_connection,
]


def _title(step: Callable[..., Any]) -> str:
    return step.__doc__.strip().splitlines()[0] if step.__doc__ else step.__name__


def run_demo(as_json: bool = False, logdir: Path | None = None, sandbox_url: str | None = None,
             ctx_out: dict[str, Any] | None = None) -> list[Section]:
    """Run every step; ``sandbox_url`` uses a running sandbox (tests) instead of starting one.

    ``ctx_out`` (optional) receives the context's facts, the report included.
    """
    from storage import migrate

    logdir = logdir or devstack.ROOT / ".local" / "demo-logs"
    migrate.upgrade()
    procs: list[devstack.Proc] = []
    sections: list[Section] = []
    ctx: DemoContext | None = None
    try:
        if sandbox_url is None:
            sandbox, sandbox_url = devstack.start_sandbox(logdir)
            procs.append(sandbox)
        click.echo(f"sandbox on {sandbox_url}", err=True)
        for queue in ("celery", "user", "company", "service"):
            name = "default" if queue == "celery" else queue
            procs.append(devstack.start_worker(logdir, queue, concurrency=2, name=name, **DEMO_WORKER_ENV))
            click.echo(f"worker '{name}' consuming queue '{queue}'", err=True)
        ctx = DemoContext(sandbox_url=sandbox_url, logdir=logdir)
        for step in STEPS:
            click.echo(f"-- {_title(step)}", err=True)
            out = step(ctx)
            for s in out if isinstance(out, list) else [out]:
                s.key = s.key or step.__name__
                sections.append(s)
    finally:
        for proc in reversed((ctx.procs if ctx else []) + procs):
            proc.stop()
        if ctx is not None and ctx_out is not None:
            ctx_out.update(ctx.facts)
    if as_json:
        click.echo(to_json({"sections": [{"key": s.key, "title": s.title, "rows": s.rows} for s in sections],
                            "report": ctx.facts.get("report") if ctx else None}))
    else:
        for s in sections:
            click.echo(f"\n== {s.title}")
            emit(s.rows, s.columns, as_json=False)
        click.echo(f"\nlogs in {logdir}")
    return sections
