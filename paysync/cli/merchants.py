"""``paysync merchants``: create, list, switch multi-connection."""

from __future__ import annotations

import click

from paysync.cli.output import emit, emit_one, json_option

COLUMNS = ("id", "name", "multi_connection", "created_at")


@click.group("merchants")
def command() -> None:
    """Merchants: the owners of connections and connectors."""


@command.command("create")
@click.argument("name")
@json_option
def create(name: str, as_json: bool) -> None:
    """Create a merchant called NAME."""
    from storage import merchants

    emit_one({k: v for k, v in merchants.create(name).items() if k in COLUMNS}, as_json)


@command.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List merchants."""
    from storage import merchants

    emit(merchants.list_all(), COLUMNS, as_json, empty="no merchants yet: paysync merchants create NAME")


@command.command("multi-connection")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.argument("merchant")
@json_option
def multi_connection(state: str, merchant: str, as_json: bool) -> None:
    """Turn multi-connection on or off for MERCHANT (the next job follows it)."""
    from storage import merchants

    row = merchants.set_multi_connection(merchant, state == "on")
    emit_one({k: v for k, v in row.items() if k in COLUMNS}, as_json)
