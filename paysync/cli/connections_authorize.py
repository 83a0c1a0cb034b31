"""``paysync connections authorize`` and ``verify``: Xero onboarding for a connection
(added to the ``connections`` group by :mod:`paysync.cli.connections`)."""

from __future__ import annotations

from typing import Any

import click

from paysync.cli.output import emit_one, json_option
from paysync.cli.resolve import connection_option


def _row(conn: Any) -> dict[str, Any]:
    return {"id": conn.id, "role": conn.role, "app": conn.client_id, "tenant_id": conn.tenant_id,
            "tenant": conn.tenant_name, "status": conn.status, "last_error": conn.last_error}


def _choose(tenants: list[dict[str, Any]]) -> dict[str, Any]:
    for i, t in enumerate(tenants, 1):
        click.echo(f"  {i}. {t.get('tenantName')} ({t.get('tenantId')})", err=True)
    n = click.prompt("Which organisation", type=click.IntRange(1, len(tenants)), err=True)
    return tenants[n - 1]


@click.command("authorize")
@connection_option
@click.option("--redirect-uri", default=None,
              help="The redirect URI registered for the app, exactly (stored for the connection); default the "
                   "connection's, else PAYSYNC_XERO_REDIRECT_URI, else http://localhost:8910/callback.")
@click.option("--scopes", default=None,
              help="'granular', 'legacy' or a list of scopes (stored for the connection); default the "
                   "connection's, else PAYSYNC_XERO_SCOPES, else granular.")
@click.option("--paste", is_flag=True,
              help="No browser on this machine: open the printed URL anywhere, consent, then paste back the "
                   "address the browser was sent to.")
@click.option("--tenant", default=None, help="Tenant id or name to use when several are authorised.")
@click.option("--open", "open_url", is_flag=True,
              help="Fetch the authorize URL here (for the sandbox, which consents at once).")
@click.option("--base-url", default=None,
              help="Point this connection at the sandbox's Xero (http://127.0.0.1:PORT/xero).")
@click.option("--api-url", default=None, help="Override the Accounting API base URL for this connection.")
@click.option("--connections-url", default=None, help="Override the base URL of GET /connections.")
@click.option("--identity-url", default=None, help="Override the identity (token) base URL.")
@click.option("--login-url", default=None, help="Override the login (authorize) base URL.")
@click.option("--timeout", default=300.0, show_default=True, type=float, help="Seconds to wait for the redirect.")
@json_option
def authorize(connection_id: int, redirect_uri: str | None, scopes: str | None, paste: bool, tenant: str | None,
              open_url: bool, base_url: str | None, api_url: str | None, connections_url: str | None,
              identity_url: str | None, login_url: str | None, timeout: float, as_json: bool) -> None:
    """Authorise a connection with Xero (OAuth2 code flow); tokens are stored encrypted."""
    from paysync.accounting.onboarding import authorize as run
    from paysync.clients.xero import XeroUrls

    urls: dict[str, str] = XeroUrls.sandbox(base_url) if base_url else {}
    urls.update({k: v for k, v in {"api": api_url, "connections": connections_url, "identity": identity_url,
                                   "login": login_url}.items() if v})

    def pasted(_url: str) -> str:
        return str(click.prompt("Address the browser was sent to", err=True))

    conn = run(connection_id, redirect_uri=redirect_uri, scopes=scopes, tenant=tenant, open_url=open_url,
               urls=urls or None, echo=lambda line: click.echo(line, err=True), choose=_choose,
               paste=pasted if paste else None, timeout=timeout)
    emit_one(_row(conn), as_json)


@click.command("verify")
@connection_option
@json_option
def verify(connection_id: int, as_json: bool) -> None:
    """Check that the connection's tenant is still connected (else: needs re-authorisation)."""
    from paysync.accounting.onboarding import verify as run

    emit_one(_row(run(connection_id)), as_json)
