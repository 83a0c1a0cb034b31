"""What every chapter of the demo shares, and the runner that plays them in order.

Each chapter is a function that takes the shared :class:`DemoContext` and returns one
report section (or a list of them); its docstring's first line is what the runner prints
when the chapter starts. :func:`run_chapters` starts the sandbox (unless one is given) and
one worker per kind of traffic, the user traffic's interactive pool and the default-queue
forwarder, plays the chapters, prints the sections and stops everything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from paysync.cli.output import emit, to_json
from paysync_dev import devstack
from paysync_dev.sandbox.control import SandboxControl

# Faster follow-ups than production's minutes, for the demo's workers only.
DEMO_WORKER_ENV = {"PAYSYNC_WISE_INITIATION_POLL": "2s", "PAYSYNC_AUTOPAY_RECHECK_SECONDS": "1"}
# The sandbox delivers Wise webhooks to receivers on loopback: connectors may name one as publicUrl
# (paysync refuses this in production; the sandbox is told per chapter with allow_loopback).
LOOPBACK_WEBHOOKS = {"PAYSYNC_WISE_LOOPBACK_WEBHOOKS": "1"}


@dataclass
class DemoContext:
    sandbox_url: str
    logdir: Path
    facts: dict[str, Any] = field(default_factory=dict)
    procs: list[Any] = field(default_factory=list)  # processes a chapter started, stopped with the demo
    sandbox: SandboxControl = field(init=False)  # the sandbox's control client

    def __post_init__(self) -> None:
        self.sandbox = SandboxControl(self.sandbox_url)


@dataclass
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    key: str = ""


Chapter = Callable[[DemoContext], "Section | list[Section]"]


def _title(chapter: Callable[..., Any]) -> str:
    return chapter.__doc__.strip().splitlines()[0] if chapter.__doc__ else chapter.__name__


def run_chapters(chapters: Sequence[Chapter], as_json: bool = False, logdir: Path | None = None,
                 sandbox_url: str | None = None, ctx_out: dict[str, Any] | None = None) -> list[Section]:
    """Play ``chapters`` in order; ``sandbox_url`` uses a running sandbox (tests) instead of starting one.

    ``ctx_out`` (optional) receives the context's facts, the report included.
    """
    from storage import migrate

    logdir = logdir or devstack.ROOT / ".local" / "demo-logs"
    os.environ.update(LOOPBACK_WEBHOOKS)
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
            procs.append(devstack.start_worker(logdir, queue, concurrency=2, name=name, **DEMO_WORKER_ENV,
                                               **LOOPBACK_WEBHOOKS))
            click.echo(f"worker '{name}' consuming queue '{queue}'", err=True)
        # the user traffic's interactive pool; its worker takes interactive jobs too, so nothing waits for it
        procs.append(devstack.start_interactive_worker(logdir, "user", wait=False, **DEMO_WORKER_ENV,
                                                       **LOOPBACK_WEBHOOKS))
        click.echo("worker 'user-interactive' consuming queue 'user.interactive'", err=True)
        ctx = DemoContext(sandbox_url=sandbox_url, logdir=logdir)
        for chapter in chapters:
            click.echo(f"-- {_title(chapter)}", err=True)
            out = chapter(ctx)
            for s in out if isinstance(out, list) else [out]:
                s.key = s.key or chapter.__name__
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
