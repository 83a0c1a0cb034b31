"""Names for what the command line points at: a connector or a connection by its id or by name.

``--connector 7``, ``--connector acme`` (the merchant's only connector, or the one named
``wise``) and ``--connector acme/wise`` name the same connector; ``--connection 3`` and
``--connection acme/user`` (merchant and role) the same connection. A name or id that
matches nothing is an error naming it, before any work.
"""

from __future__ import annotations

from typing import Any

import click


class ConnectorRef(click.ParamType):
    name = "connector"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from paysync.errors import NotFound, PaysyncError
        from storage import connectors, merchants

        text = str(value).strip()
        if text.isdigit():
            try:
                return int(connectors.get(int(text))["id"])
            except NotFound:
                self.fail(f"no connector has the id {text} (paysync connectors list)", param, ctx)
        merchant, _, name = text.partition("/")
        try:
            owner = merchants.get(merchant)
        except PaysyncError as exc:
            self.fail(f"{text!r}: {exc}", param, ctx)
        found = connectors.list_all(owner["id"])
        if name:
            found = [c for c in found if c["name"] == name]
        elif len(found) > 1:
            found = [c for c in found if c["name"] == "wise"] or found
        if len(found) == 1:
            return int(found[0]["id"])
        if not found:
            self.fail(f"merchant {owner['name']!r} has no connector{' named ' + repr(name) if name else ''} "
                      "(paysync connectors list)", param, ctx)
        names = ", ".join(f"{owner['name']}/{c['name']}" for c in found)
        self.fail(f"merchant {owner['name']!r} has several connectors: name one of {names}", param, ctx)


class ConnectionRef(click.ParamType):
    name = "connection"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from paysync.errors import NotFound, PaysyncError
        from storage import connections, merchants

        text = str(value).strip()
        if text.isdigit():
            try:
                return int(connections.get(int(text)).id)
            except NotFound:
                self.fail(f"no connection has the id {text} (paysync connections list --merchant M)", param, ctx)
        merchant, _, role = text.partition("/")
        try:
            owner = merchants.get(merchant)
        except PaysyncError as exc:
            self.fail(f"{text!r}: {exc}", param, ctx)
        found = [c for c in connections.for_merchant(owner["id"]) if not role or c.role == role]
        if len(found) == 1:
            return int(found[0].id)
        if not found:
            self.fail(f"merchant {owner['name']!r} has no {role + ' ' if role else ''}connection", param, ctx)
        roles = ", ".join(f"{owner['name']}/{c.role}" for c in found)
        self.fail(f"merchant {owner['name']!r} has several connections: name one of {roles}", param, ctx)


CONNECTOR = ConnectorRef()
CONNECTION = ConnectionRef()

connector_option = click.option(
    "--connector", "connector_id", type=CONNECTOR, required=True,
    help="The connector: its id, its merchant (when it has one connector) or MERCHANT/NAME.")
connection_option = click.option(
    "--connection", "connection_id", type=CONNECTION, required=True,
    help="The connection: its id or MERCHANT/ROLE (e.g. acme/user).")
