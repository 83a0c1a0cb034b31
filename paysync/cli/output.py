"""Output for the command line: human tables by default, JSON for scripts."""

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
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, memoryview | bytes):
        return "<binary>"
    return value


def to_json(value: Any) -> str:
    return json.dumps(value, default=_plain, indent=2, sort_keys=True)


def emit(rows: Iterable[dict[str, Any]], columns: Sequence[str], as_json: bool, empty: str = "nothing to show") -> None:
    rows = list(rows)
    if as_json:
        click.echo(to_json([{k: r.get(k) for k in columns} for r in rows]))
        return
    if not rows:
        click.echo(empty)
        return
    table = [[_cell(r.get(c)) for c in columns] for r in rows]
    click.echo(tabulate(table, headers=list(columns), tablefmt="simple"))


def emit_one(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(to_json(row))
    else:
        click.echo(tabulate([[k, _cell(v)] for k, v in row.items()], tablefmt="plain"))


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_plain)[:60]
    return str(value)
