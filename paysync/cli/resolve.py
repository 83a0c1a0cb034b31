"""Names for what the command line points at: a connector or a connection by its id or by name.

``--connector 7``, ``--connector acme`` (the merchant's only connector, or the one named
``wise``) and ``--connector acme/wise`` name the same connector; ``--connection 3`` and
``--connection acme/user`` (merchant and role) the same connection. A name or id that
matches nothing is an error naming it, before any work.
"""

from __future__ import annotations

from typing import Any

import click


class _MerchantRef(click.ParamType):
    """An id, or MERCHANT[/PART]: the shared half of both references."""

    plural = ""

    def owner(self, text: str, param: click.Parameter | None, ctx: click.Context | None) -> tuple[dict, str]:
        """The merchant the text names, and what follows its ``/``."""
        from paysync.errors import PaysyncError
        from storage import merchants

        merchant, _, part = text.partition("/")
        try:
            return merchants.get(merchant), part
        except PaysyncError as exc:
            self.fail(f"{text!r}: {exc}", param, ctx)

    def only(self, owner: dict, found: list[tuple[int, str]], none: str, param: click.Parameter | None,
             ctx: click.Context | None) -> int:
        """The one (id, part) found; else an error saying ``none`` or naming the candidates."""
        if len(found) == 1:
            return found[0][0]
        if not found:
            self.fail(none, param, ctx)
        names = ", ".join(f"{owner['name']}/{part}" for _, part in found)
        self.fail(f"merchant {owner['name']!r} has several {self.plural}: name one of {names}", param, ctx)


class ConnectorRef(_MerchantRef):
    name = "connector"
    plural = "connectors"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from paysync.errors import NotFound
        from storage import connectors

        text = str(value).strip()
        if text.isdigit():
            try:
                return int(connectors.get(int(text))["id"])
            except NotFound:
                self.fail(f"no connector has the id {text} (paysync connectors list)", param, ctx)
        owner, name = self.owner(text, param, ctx)
        found = connectors.list_all(owner["id"])
        if name:
            found = [c for c in found if c["name"] == name]
        elif len(found) > 1:
            found = [c for c in found if c["name"] == "wise"] or found
        return self.only(owner, [(int(c["id"]), c["name"]) for c in found],
                         f"merchant {owner['name']!r} has no connector{' named ' + repr(name) if name else ''} "
                         "(paysync connectors list)", param, ctx)


class ConnectionRef(_MerchantRef):
    name = "connection"
    plural = "connections"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from paysync.errors import NotFound
        from storage import connections

        text = str(value).strip()
        if text.isdigit():
            try:
                return int(connections.get(int(text)).id)
            except NotFound:
                self.fail(f"no connection has the id {text} (paysync connections list --merchant M)", param, ctx)
        owner, role = self.owner(text, param, ctx)
        found = [c for c in connections.for_merchant(owner["id"]) if not role or c.role == role]
        return self.only(owner, [(int(c.id), c.role) for c in found],
                         f"merchant {owner['name']!r} has no {role + ' ' if role else ''}connection", param, ctx)


CONNECTOR = ConnectorRef()
CONNECTION = ConnectionRef()

connector_option = click.option(
    "--connector", "connector_id", type=CONNECTOR, required=True,
    help="The connector: its id, its merchant (when it has one connector) or MERCHANT/NAME.")
connection_option = click.option(
    "--connection", "connection_id", type=CONNECTION, required=True,
    help="The connection: its id or MERCHANT/ROLE (e.g. acme/user).")
