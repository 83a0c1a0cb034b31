"""``paysync connectors``: install, list, uninstall, reset and poll connectors (Wise).

Install is a command and not a task: the API key is read from the config file and goes
straight to encrypted storage; it is never printed, logged or enqueued.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from paysync.cli.output import emit, emit_one, json_option, to_json
from paysync.cli.resolve import CONNECTOR

COLUMNS = ("id", "merchant_id", "provider", "name", "status", "polling", "next_poll_at", "last_poll_at", "last_error",
           "quarantined", "last_quarantine_error")


def _row(row: dict, held: dict | None = None) -> dict:
    """A connector's status line; ``held``: its quarantine summary (count and latest error)."""
    out = {k: row.get(k) for k in COLUMNS if k in row}
    out["polling"] = (row.get("config") or {}).get("pollingPeriod")
    if held is not None:
        out["quarantined"] = held.get("quarantined", 0)
        out["last_quarantine_error"] = held.get("last_quarantine_error")
    return out


def _held(rows: list[dict]) -> dict[int, dict]:
    from storage import connectors, quarantine

    summary = quarantine.summary([connectors.owner(r["id"]) for r in rows])
    return {r["id"]: summary.get(connectors.owner(r["id"]), {}) for r in rows}


def _status_line(row: dict) -> dict:
    """One connector's status line with its quarantine summary."""
    return _row(row, _held([row])[row["id"]])


@click.group("connectors")
def command() -> None:
    """Connectors to payment providers (Wise): install, list, uninstall, reset."""


@command.command("install")
@click.argument("provider", type=click.Choice(["wise"]))
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON config: apiKey, webhookPublicKey, pageSize, pollingPeriod, baseUrl, publicUrl, limits.")
@click.option("--merchant", required=True, help="Merchant id or name.")
@click.option("--name", default="wise", show_default=True, help="A name for this connector (unique per merchant).")
@click.option("--no-poll", is_flag=True, help="Do not enqueue the first polling cycle now.")
@json_option
def install(provider: str, config_path: Path, merchant: str, name: str, no_poll: bool, as_json: bool) -> None:
    """Install a connector for MERCHANT from a config file; verifies the token with Wise."""
    from paysync.connectors.wise.install import install as do_install
    from paysync.errors import ConfigError

    try:
        raw = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {config_path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {config_path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    click.echo("verifying the token with Wise...", err=True)
    row = do_install(merchant, raw, name=name)
    out = _row(row)
    out["profiles"] = ", ".join(f"{p['id']} ({p['type']})" for p in row["profiles"])
    hooks = row.get("webhooks") or {}
    out["webhooks"] = _webhooks_line(hooks)
    for failure in hooks.get("failed") or []:
        click.echo(f"warning: webhook subscription failed: {failure}", err=True)
    if hooks.get("error"):
        click.echo(f"warning: webhook subscriptions failed: {hooks['error']}", err=True)
    if not no_poll:
        from tasks.wise import start_cycle

        out["first_poll"] = "enqueued" if start_cycle(row["id"]) else "not enqueued"
        out["progress"] = f"paysync connectors status {row['id']}"
    emit_one(out, as_json)


def _webhooks_line(hooks: dict) -> str:
    if hooks.get("error"):
        return f"failed: {hooks['error']} (polling alone keeps data current)"
    if hooks.get("note") and not hooks.get("url"):
        return str(hooks["note"])
    line = f"{hooks.get('subscriptions', 0)} active at {hooks.get('url')}"
    if hooks.get("failed"):
        line += f"; {len(hooks['failed'])} failed (see 'paysync connectors status')"
    return line


@command.command("list")
@click.option("--merchant", default=None, help="Only this merchant's connectors (id or name).")
@json_option
def list_(merchant: str | None, as_json: bool) -> None:
    """List connectors."""
    from storage import connectors, merchants

    merchant_id = merchants.get(merchant)["id"] if merchant else None
    rows = connectors.list_all(merchant_id)
    held = _held(rows)
    emit([_row(r, held[r["id"]]) for r in rows], COLUMNS, as_json,
         empty="no connectors yet: paysync connectors install wise --config FILE --merchant M")


@command.command("show")
@click.argument("connector_id", type=CONNECTOR)
@json_option
def show(connector_id: int, as_json: bool) -> None:
    """One connector's status: polling, last error, quarantined records and watermarks."""
    from storage import connectors, sync_states

    row = connectors.get(connector_id)
    out = _status_line(row)
    for state in sync_states.list_states(connectors.owner(connector_id)):
        out[f"watermark {state['stream']} {state['scope']}".strip()] = state["state"]
    emit_one(out, as_json)


STREAM_COLUMNS = ("stream", "last_page_at", "lag_seconds", "cycle_pages", "cycle_records", "pages", "records")
SUBSCRIPTION_COLUMNS = ("profile_id", "event", "status", "subscription_id", "last_error")


@command.command("status")
@click.argument("connector_id", type=CONNECTOR)
@json_option
def status(connector_id: int, as_json: bool) -> None:
    """A connector's sync progress per stream, last error, quarantine and webhook subscriptions."""
    from storage import connectors, subscriptions, sync_progress

    row = connectors.get(connector_id)
    head = _status_line(row)
    streams = sync_progress.for_owner(connectors.owner(connector_id))
    for s in streams:
        s["lag_seconds"] = round(float(s["lag_seconds"]), 1)
    subs = subscriptions.for_connector(connector_id)
    if as_json:
        click.echo(to_json({**head, "streams": streams, "webhook_subscriptions": subs}))
        return
    emit_one(head, False)
    click.echo("\nstreams (a page is one successful fetch; lag: seconds since the last one):")
    emit(streams, STREAM_COLUMNS, False, empty="  no page stored yet: the first polling cycle has not run "
                                               "(is a worker consuming the 'service' queue?)")
    click.echo("\nwebhook subscriptions:")
    emit(subs, SUBSCRIPTION_COLUMNS, False, empty="  none (no publicUrl: polling alone keeps data current)")


@command.command("uninstall")
@click.argument("connector_id", type=CONNECTOR)
@click.option("--purge", is_flag=True, help="Also delete every synced row and watermark.")
@json_option
def uninstall(connector_id: int, purge: bool, as_json: bool) -> None:
    """Stop polling CONNECTOR_ID and forget its API key (rows kept unless --purge)."""
    from paysync.connectors.wise.install import uninstall as do_uninstall

    row = do_uninstall(connector_id, purge)
    emit_one({**_row(row), "removed": row.get("removed")}, as_json)


@command.command("reset")
@click.argument("connector_id", type=CONNECTOR)
@json_option
def reset(connector_id: int, as_json: bool) -> None:
    """Delete CONNECTOR_ID's synced rows and watermarks and poll again from the start."""
    from paysync.connectors.wise.install import reset as do_reset
    from tasks.wise import start_cycle

    row = do_reset(connector_id)
    out = {**_row(row), "removed": row.get("removed")}
    out["first_poll"] = "enqueued" if start_cycle(connector_id) else "not enqueued"
    emit_one(out, as_json)


@command.command("poll")
@click.argument("connector_id", type=CONNECTOR)
@json_option
def poll(connector_id: int, as_json: bool) -> None:
    """Enqueue a polling cycle of CONNECTOR_ID now."""
    from tasks.wise import start_cycle

    emit_one({"connector_id": connector_id, "enqueued": start_cycle(connector_id)}, as_json)
