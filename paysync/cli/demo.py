"""``paysync demo``: the main job end to end against the local sandbox (needs the dev tools)."""

from __future__ import annotations

import os

import click

from paysync.cli import devtools
from paysync.config import settings


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(as_json: bool) -> None:
    """Start sandbox and workers, run the main job through every queue, print the report.

    The demo runs in a database and a Redis database of its own, both emptied afterwards: the
    user's data, broker and workers are never touched, and nothing it installed keeps polling."""
    if not os.environ.get("PAYSYNC_ENV"):  # local services and the sandbox: the development key is fine
        os.environ["PAYSYNC_ENV"] = "development"
        settings.cache_clear()
    story = devtools.load("paysync_dev.demo.story")
    devstack = devtools.load("paysync_dev.devstack")
    with devstack.demo_environment() as (database, redis_url):
        click.echo(f"demo database {database.rsplit('/', 1)[-1]} and Redis database {redis_url.rsplit('/', 1)[-1]}"
                   " (both emptied afterwards)", err=True)
        story.run_demo(as_json=as_json)
