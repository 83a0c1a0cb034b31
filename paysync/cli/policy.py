"""``paysync policy``: what a direct payout (``wise.create_payout``) may be, per merchant, and the
payouts it refused. Amounts in major units of the currency (``500.00``)."""

from __future__ import annotations

from typing import Any

import click

from paysync.cli.output import emit, emit_one, json_option, to_json

REFUSAL_COLUMNS = ("id", "created_at", "merchant_id", "connector_id", "idempotency_key", "actor",
                   "destination_account", "amount", "asset", "reason")


@click.group("policy")
def command() -> None:
    """The payout policy: limits per currency, the recipient allow-list, refused payouts."""


def _merchant(ref: str) -> dict[str, Any]:
    from storage import merchants

    return merchants.get(ref)


def _show(m: dict[str, Any], as_json: bool) -> None:
    from paysync import payout_policy

    shown = payout_policy.show(m["id"])
    if as_json:
        click.echo(to_json(shown))
        return
    emit_one({"merchant": m["name"], "recipients": "allow-list only" if shown["recipients_restricted"] else "any"},
             False)
    click.echo("")
    emit(shown["limits"], ("currency", "per_payment", "per_day", "admitted_today"), False,
         empty="no limits: every direct payout is refused (paysync policy limit ...)")
    if shown["recipients"]:
        click.echo("")
        emit(shown["recipients"], ("connector_id", "recipient", "note", "created_at"), False)


@command.command("show")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def show(merchant: str, as_json: bool) -> None:
    """The merchant's payout policy: limits (with today's admitted total) and allow-list."""
    _show(_merchant(merchant), as_json)


@command.command("limit")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--currency", required=True, help="The payout amount's currency, e.g. EUR.")
@click.option("--per-payment", required=True, help="Most one payout may be, in major units.")
@click.option("--per-day", required=True, help="Most admitted in one UTC day, in major units.")
@json_option
def limit(merchant: str, currency: str, per_payment: str, per_day: str, as_json: bool) -> None:
    """Set the limits of one currency (a currency without limits is never paid)."""
    from paysync import payout_policy

    m = _merchant(merchant)
    payout_policy.set_limit(m["id"], currency, per_payment, per_day)
    _show(m, as_json)


@command.command("remove-limit")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--currency", required=True)
@json_option
def remove_limit(merchant: str, currency: str, as_json: bool) -> None:
    """Remove a currency's limits: its payouts are refused from now on."""
    from paysync import payout_policy

    m = _merchant(merchant)
    if not payout_policy.remove_limit(m["id"], currency):
        raise click.ClickException(f"merchant {m['name']} has no {currency.upper()} limit")
    _show(m, as_json)


@command.command("recipients")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--allow-list/--any", "restricted", required=True,
              help="Pay only recipients on the allow-list, or any recipient of the connector.")
@json_option
def recipients(merchant: str, restricted: bool, as_json: bool) -> None:
    """Restrict payouts to the allow-list, or not."""
    from paysync import payout_policy

    m = _merchant(merchant)
    payout_policy.restrict_recipients(m["id"], restricted)
    _show(m, as_json)


@command.command("allow")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--connector", "connector_id", type=int, required=True, help="The Wise connector.")
@click.option("--recipient", required=True, help="Wise recipient id (paysync external-accounts list).")
@click.option("--note", default=None)
@json_option
def allow(merchant: str, connector_id: int, recipient: str, note: str | None, as_json: bool) -> None:
    """Put a recipient on the allow-list."""
    from paysync import payout_policy

    m = _merchant(merchant)
    payout_policy.allow_recipient(m["id"], connector_id, recipient, note)
    _show(m, as_json)


@command.command("disallow")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--connector", "connector_id", type=int, required=True)
@click.option("--recipient", required=True)
@json_option
def disallow(merchant: str, connector_id: int, recipient: str, as_json: bool) -> None:
    """Take a recipient off the allow-list."""
    from paysync import payout_policy

    m = _merchant(merchant)
    if not payout_policy.disallow_recipient(m["id"], connector_id, recipient):
        raise click.ClickException(f"recipient {recipient} of connector {connector_id} is not on the allow-list")
    _show(m, as_json)


@command.command("refusals")
@click.option("--merchant", default=None, help="Only this merchant (name or id).")
@click.option("--limit", "max_rows", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
def refusals(merchant: str | None, max_rows: int, as_json: bool) -> None:
    """Payouts the policy refused (nothing was sent to Wise), newest first, with the reason."""
    from paysync import payout_policy

    merchant_id = _merchant(merchant)["id"] if merchant else None
    emit(payout_policy.refusals(merchant_id, max_rows), REFUSAL_COLUMNS, as_json, empty="no refused payouts")
