"""``paysync psa`` (the ConnectWise connection) and ``paysync sync`` (Wise-Sync runs and status).

``paysync sync invoices|payments --merchant M`` runs the sync in this process by default,
as interactive company traffic (same buckets, same connection resolution as the task) and
prints progress on stderr; ``--enqueue`` instead sends the ``wisesync.*`` job to the
company queue as interactive and waits for a worker to finish it.
"""

from __future__ import annotations

from typing import Any

import click

from paysync.cli.output import emit, emit_one, json_option, to_json


@click.group("psa")
def psa_group() -> None:
    """The merchant's PSA (ConnectWise Manage) connection."""


@psa_group.command("add")
@click.option("--merchant", required=True, help="Merchant id or name.")
@click.option("--site", required=True, help="ConnectWise site, e.g. api-na.myconnectwise.net (or a sandbox URL).")
@click.option("--company", required=True, help="ConnectWise company id (the login company).")
@click.option("--public-key", prompt=True, help="API member public key (prompted when omitted).")
@click.option("--private-key", prompt=True, hide_input=True, help="API member private key (prompted, hidden).")
@click.option("--client-id", required=True, help="clientId from developer.connectwise.com.")
@click.option("--codebase", default=None, help="Skip discovery (GET /login/companyinfo) and use this codebase.")
@click.option("--tax-account-code", default=None, help="Xero account for the sales-tax line (default: the "
              "tax GL account ConnectWise exports).")
@click.option("--default-account-code", default=None, help="Xero account for lines without a GL account.")
@json_option
def psa_add(merchant: str, site: str, company: str, public_key: str, private_key: str, client_id: str,
            codebase: str | None, tax_account_code: str | None, default_account_code: str | None,
            as_json: bool) -> None:
    """Store the ConnectWise connection of MERCHANT (keys encrypted at rest)."""
    from paysync.clients.connectwise import discover_codebase
    from storage import merchants, psa

    m = merchants.get(merchant)
    codebase = codebase or discover_codebase(site, company)
    settings = {k: v for k, v in (("tax_account_code", tax_account_code),
                                  ("default_account_code", default_account_code)) if v}
    conn = psa.add(m["id"], site=site, company=company, client_id=client_id, public_key=public_key,
                   private_key=private_key, codebase=codebase, settings=settings)
    emit_one({"id": conn.id, "merchant_id": conn.merchant_id, "site": conn.site, "company": conn.company,
              "codebase": conn.codebase, "client_id": conn.client_id, "api_url": conn.api_url,
              "settings": conn.settings}, as_json)


@psa_group.command("list")
@click.option("--merchant", default=None, help="Only this merchant (id or name).")
@json_option
def psa_list(merchant: str | None, as_json: bool) -> None:
    """PSA connections (no keys shown)."""
    from storage import merchants, psa

    merchant_id = merchants.get(merchant)["id"] if merchant else None
    emit(psa.list_all(merchant_id), ("id", "merchant_id", "site", "company", "codebase", "client_id", "status",
                                     "last_error"), as_json, empty="no PSA connections: paysync psa add ...")


@click.group("sync")
def sync_group() -> None:
    """Wise-Sync: ConnectWise invoices to Xero, Xero payments back to ConnectWise."""


def _progress(stage: str, done: int, total: int) -> None:
    click.echo(f"  {stage}: {done}/{total}", err=True)


def _run(direction: str, merchant: str, enqueue: bool, timeout: float, as_json: bool) -> None:
    from storage import merchants

    m = merchants.get(merchant)
    task = {"invoices": "wisesync.sync_invoices", "payments": "wisesync.apply_payments"}[direction]
    if enqueue:
        from paysync.cli import jobs

        click.echo(f"{task} sent to the company queue (interactive); waiting...", err=True)
        result = jobs.run(task, {"merchant_id": m["id"]}, timeout, interactive=True)
    else:
        if direction == "invoices":
            from paysync.wisesync.invoices import sync_invoices as run
        else:
            from paysync.wisesync.payments import apply_payments as run
        click.echo(f"{direction} sync for merchant {m['name']} (company traffic, interactive)", err=True)
        result = run(m["id"], interactive=True, task_id=None, progress=_progress)
    _print_result(result, as_json)


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(to_json(result))
        return
    if result.get("status") == "busy":
        click.echo(result.get("message", "already running"))
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted((result.get("counts") or {}).items())) or "nothing to do"
    click.echo(f"run {result.get('run_id')}: {result.get('status')} over the {result.get('connection_role')} "
               f"connection: {counts}; Xero calls {result.get('xero_calls')}, ConnectWise calls "
               f"{result.get('psa_calls')}")
    for err in result.get("errors") or []:
        click.echo(f"  {err['kind']}: {err['ref']}: {err['message']}")


@sync_group.command("invoices")
@click.option("--merchant", required=True, help="Merchant id or name.")
@click.option("--enqueue", is_flag=True, help="Send the job to the company queue and wait instead of running here.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait with --enqueue.")
@json_option
def sync_invoices(merchant: str, enqueue: bool, timeout: float, as_json: bool) -> None:
    """Sync ConnectWise invoices ready for accounting to Xero."""
    _run("invoices", merchant, enqueue, timeout, as_json)


@sync_group.command("payments")
@click.option("--merchant", required=True, help="Merchant id or name.")
@click.option("--enqueue", is_flag=True, help="Send the job to the company queue and wait instead of running here.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait with --enqueue.")
@json_option
def sync_payments(merchant: str, enqueue: bool, timeout: float, as_json: bool) -> None:
    """Apply payments made in Xero to the ConnectWise invoices."""
    _run("payments", merchant, enqueue, timeout, as_json)


@sync_group.command("status")
@click.option("--merchant", required=True, help="Merchant id or name.")
@click.option("--runs", "limit", default=10, show_default=True, help="How many recent runs to show.")
@json_option
def sync_status(merchant: str, limit: int, as_json: bool) -> None:
    """Last runs (status, counts, errors), links and payments of MERCHANT."""
    from storage import merchants
    from storage import wisesync as wisesync_store

    m = merchants.get(merchant)
    runs = wisesync_store.last_runs(m["id"], limit)
    view = {"merchant_id": m["id"], "links": wisesync_store.link_counts(m["id"]), "payments": wisesync_store.payment_counts(m["id"]),
            "runs": runs}
    if as_json:
        click.echo(to_json(view))
        return
    click.echo(f"links: {view['links'] or 'none'}; payments back: {view['payments'] or 'none'}")
    rows = [{"run": r["id"], "direction": r["direction"], "started": r["started_at"], "status": r["status"],
             "connection": r["connection_role"], "class": "interactive" if r["interactive"] else "batch",
             "counts": ", ".join(f"{k} {v}" for k, v in sorted((r["counts"] or {}).items())),
             "errors": len(r["errors"] or []), "xero_calls": r["xero_calls"], "cw_calls": r["psa_calls"]}
            for r in runs]
    emit(rows, ("run", "direction", "started", "status", "connection", "class", "counts", "errors", "xero_calls",
                "cw_calls"), False, empty="no runs yet: paysync sync invoices --merchant ...")
    if runs and runs[0]["errors"]:
        click.echo("\nerrors of the last run:")
        for err in runs[0]["errors"][:20]:
            click.echo(f"  {err.get('kind')}: {err.get('ref')}: {err.get('message')}")


commands = [psa_group, sync_group]
