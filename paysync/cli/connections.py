"""``paysync connections``: add accounting connections and show the connections view."""

from __future__ import annotations

import click

from paysync.cli import connections_authorize
from paysync.cli.output import emit, emit_one, json_option, to_json

VIEW_COLUMNS = ("id", "role", "provider", "tenant", "app", "status", "left_minute", "left_today",
                "needs_reauth", "carries", "last_error", "quarantined")


@click.group("connections")
def command() -> None:
    """Accounting connections (user, company, service) and their budgets."""


@command.command("add")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--role", required=True, type=click.Choice(["user", "company", "service"]))
@click.option("--client-id", required=True, help="The Xero app's client id (budgets are per app and tenant).")
@click.option("--client-secret", prompt=True, hide_input=True, envvar="PAYSYNC_CLIENT_SECRET",
              help="The app's client secret (prompted; or PAYSYNC_CLIENT_SECRET). Stored encrypted.")
@click.option("--tenant", "tenant_id", default=None, help="Xero tenant id, when already known.")
@click.option("--provider", default="xero", show_default=True)
@click.option("--scopes", default=None,
              help="Scopes this app asks for: 'granular' (apps created from March 2026), 'legacy' (older apps "
                   "still on accounting.transactions) or a list; default PAYSYNC_XERO_SCOPES, else granular.")
@click.option("--redirect-uri", default=None,
              help="The redirect URI registered for the app (exact match); default PAYSYNC_XERO_REDIRECT_URI, "
                   "else http://localhost:8910/callback.")
@json_option
def add(merchant: str, role: str, client_id: str, client_secret: str, tenant_id: str | None, provider: str,
        scopes: str | None, redirect_uri: str | None, as_json: bool) -> None:
    """Add a connection; authorise it next with 'paysync connections authorize'."""
    from paysync.accounting.onboarding import check_redirect_uri
    from paysync.clients.xero import scopes as scope_sets
    from paysync.clients.xero.ids import canonical_id
    from storage import connections, merchants

    m = merchants.get(merchant)
    creds: dict[str, object] = {"client_secret": client_secret}
    if scopes:
        creds["scopes"] = list(scope_sets.parse(scopes))
    if redirect_uri:
        creds["redirect_uri"] = check_redirect_uri(redirect_uri)
    conn = connections.add(m["id"], role, "".join(client_id.split()), creds, provider=provider,
                           tenant_id=canonical_id(tenant_id) if tenant_id else None)
    emit_one({"id": conn.id, "merchant": m["name"], "role": conn.role, "provider": conn.provider,
              "app": conn.client_id, "tenant": conn.tenant_id, "status": conn.status}, as_json)


@command.command("list")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def list_(merchant: str, as_json: bool) -> None:
    """The Accounting Connections view: budgets left, status, routing, warnings."""
    from paysync.connections_view import connection_rows

    rows, notes = connection_rows(merchant)
    if as_json:
        click.echo(to_json({"connections": rows, "notes": notes}))
        return
    emit(rows, VIEW_COLUMNS, False, empty="no connections: paysync connections add --merchant M --role user ...")
    for note in notes:
        click.echo(f"note: {note}")


command.add_command(connections_authorize.authorize)
command.add_command(connections_authorize.verify)
