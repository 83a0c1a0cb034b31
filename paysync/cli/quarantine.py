"""``paysync quarantine``: records a sync could not map, and retrying them after a fix."""

from __future__ import annotations

import click

from paysync.cli.output import emit, json_option
from paysync.cli.resolve import CONNECTOR

COLUMNS = ("id", "owner", "provider", "stream", "scope", "reference", "error", "sightings", "last_seen_at",
           "resolution")


def _owner(connector: int | None, owner: str | None) -> str | None:
    if connector is not None:
        from storage import connectors

        return connectors.owner(connector)
    return owner


@click.group("quarantine")
def command() -> None:
    """Provider records that could not be mapped: list them, retry them after a fix."""


@command.command("list")
@click.option("--connector", type=CONNECTOR, default=None, help="Only this connector's records.")
@click.option("--owner", default=None, help="Only this owner's records (connector:7, psa:3, merchant:2).")
@click.option("--all", "include_resolved", is_flag=True, help="Include records already stored.")
@click.option("--payload", is_flag=True, help="Show each record's raw payload too.")
@json_option
def list_(connector: int | None, owner: str | None, include_resolved: bool, payload: bool, as_json: bool) -> None:
    """List quarantined records, each with the error naming the field and value."""
    from storage import quarantine

    rows = quarantine.list_records(_owner(connector, owner), include_resolved)
    columns = COLUMNS + ("payload",) if payload or as_json else COLUMNS
    emit([{k: r.get(k) for k in columns} for r in rows], columns, as_json, empty="no quarantined records")


@command.command("retry")
@click.argument("record_ids", type=int, nargs=-1)
@click.option("--connector", type=CONNECTOR, default=None, help="Every open record of this connector.")
@click.option("--owner", default=None, help="Every open record of this owner.")
@json_option
def retry(record_ids: tuple[int, ...], connector: int | None, owner: str | None, as_json: bool) -> None:
    """Map and store quarantined records again (after a fix); those still failing stay, with the new error."""
    from paysync import quarantine as retrying
    from paysync.errors import PaysyncError
    from storage import quarantine

    ids = list(record_ids)
    scope = _owner(connector, owner)
    if scope is not None:
        ids += [r["id"] for r in quarantine.list_records(scope)]
    if not ids:
        raise PaysyncError("name the records to retry (IDs, --connector or --owner)")
    out = [retrying.retry(i) for i in ids]
    emit(out, ("id", "outcome", "error"), as_json)
