"""``paysync db``: migrations."""

from __future__ import annotations

import click

from paysync.cli.output import emit_one, json_option


@click.group("db")
def command() -> None:
    """The database schema."""


@command.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from storage import migrate

    migrate.upgrade(revision)
    click.echo(f"database at {migrate.current()}")


@command.command("status")
@json_option
def status(as_json: bool) -> None:
    """The current revision and the head."""
    from storage import migrate

    emit_one({"current": migrate.current(), "heads": ",".join(migrate.heads())}, as_json)
