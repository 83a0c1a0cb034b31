"""Output for the command line: human tables by default, JSON for scripts.

A table shows every value exactly as ``--json`` gives it: cells are strings, never re-parsed
as numbers (tabulate would turn ``127641.87`` into ``127642``), and money is shown in major
units beside its currency (:func:`money_columns`), the same strings in both.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import click
from tabulate import tabulate

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # never exponent notation
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview | bytes):
        return "<binary>"
    return value


def to_json(value: Any) -> str:
    return json.dumps(value, default=_plain, indent=2, sort_keys=True)


def emit(rows: Iterable[dict[str, Any]], columns: Sequence[str], as_json: bool, empty: str = "nothing to show",
         json_extra: Sequence[str] = ()) -> None:
    """Rows as a table of ``columns``, or as JSON with the same columns plus ``json_extra``."""
    rows = list(rows)
    if as_json:
        click.echo(to_json([{k: r.get(k) for k in (*columns, *json_extra)} for r in rows]))
        return
    if not rows:
        click.echo(empty)
        return
    table = [[_cell(r.get(c)) for c in columns] for r in rows]
    click.echo(tabulate(table, headers=list(columns), tablefmt="simple", disable_numparse=True))


def emit_one(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(to_json(row))
    else:
        click.echo(tabulate([[k, _cell(v)] for k, v in row.items()], tablefmt="plain", disable_numparse=True))


def major(minor: Any, asset: Any) -> str | None:
    """Minor units of an asset (``CODE/precision``) as an exact decimal string in major units:
    ``(12764187, "USD/2")`` -> ``"127641.87"``, ``(5, "KWD/3")`` -> ``"0.005"``. None when either is
    missing; the precision comes from the asset itself."""
    if minor is None or not asset or isinstance(minor, bool):
        return None
    code, _, places = str(asset).partition("/")
    digits = int(places) if places.isdigit() else 0
    sign, figures, _ = decimal.Decimal(int(minor)).as_tuple()
    return format(decimal.Decimal((sign, figures, -digits)), "f")


def currency_of(asset: Any) -> str | None:
    return str(asset).split("/", 1)[0] if asset else None


def money_columns(rows: list[dict[str, Any]], *fields: str, asset_field: str = "asset") -> list[dict[str, Any]]:
    """Turn each minor-unit field into its major-unit string (the integer kept as ``<field>_minor``)
    and add ``currency``: the values both the table and ``--json`` show."""
    for r in rows:
        asset = r.get(asset_field)
        r["currency"] = currency_of(asset)
        for f in fields:
            minor = r.get(f)
            r[f"{f}_minor"] = minor
            r[f] = major(minor, asset)
    return rows


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_plain)[:60]
    return str(value)
