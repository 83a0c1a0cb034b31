"""``paysync autopay``: rules, the payee allow-list, a dry run, scheduled payments and exceptions.

Amounts on the command line are in major units of the currency (``5000.00``), stored in
minor units. ``schedule`` and ``run`` send the jobs (``autopay.schedule``,
``autopay.run_due``) to the workers and wait for their answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from paysync.cli.output import emit, emit_one, json_option, money_columns, to_json

SCHEDULED_COLUMNS = ("id", "bill", "contact_external_id", "amount", "currency", "due_on", "pay_on", "state", "attempt",
                     "reason")


@click.group("autopay")
def command() -> None:
    """Auto-payments: bills in Xero paid through Wise and written back to Xero."""


def _merchant(ref: str) -> dict[str, Any]:
    from storage import merchants

    return merchants.get(ref)


# ----------------------------------------------------------------- rules

@command.group("rules")
def rules_group() -> None:
    """Which balance pays, which Xero bank account, when, and the limits."""


def _parse_limit(text: str) -> tuple[str, str, str]:
    try:
        currency, amounts = text.split("=", 1)
        per_payment, per_day = amounts.split("/", 1)
    except ValueError:
        raise click.BadParameter(f"{text!r}: want CURRENCY=PER_PAYMENT/PER_DAY, e.g. EUR=5000.00/20000.00",
                                 param_hint="--limit") from None
    return currency.strip().upper(), per_payment.strip(), per_day.strip()


@rules_group.command("set")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--connector", "connector_id", type=int, default=None, help="The Wise connector that pays.")
@click.option("--balance", default=None, help="The Wise balance id that pays.")
@click.option("--account-code", default=None, help="The Xero bank account mapped to that balance (write-back).")
@click.option("--days-before", type=click.IntRange(0, 365), default=None,
              help="Pay this many days before the due date.")
@click.option("--base-currency", default=None,
              help="The Xero organisation's base currency (read from Xero by the scheduler when unset).")
@click.option("--limit", "limits", multiple=True,
              help="CURRENCY=PER_PAYMENT/PER_DAY in major units, e.g. EUR=5000.00/20000.00 (repeatable).")
@click.option("--remove-limit", "remove_limits", multiple=True, help="A currency whose limit to remove.")
@click.option("--enable/--disable", "enabled", default=None, help="Turn auto-payments on or off.")
@json_option
def rules_set(merchant: str, connector_id: int | None, balance: str | None, account_code: str | None,
              days_before: int | None, base_currency: str | None, limits: tuple[str, ...],
              remove_limits: tuple[str, ...], enabled: bool | None, as_json: bool) -> None:
    """Create or change the merchant's rules (unchanged options keep their value)."""
    from paysync.autopay import rules
    from storage import autopay as autopay_store

    m = _merchant(merchant)
    parsed = [_parse_limit(x) for x in limits]
    rules.set_rules(m["id"], connector_id=connector_id, source_balance=balance, account_code=account_code,
                    days_before_due=days_before, base_currency=base_currency, enabled=enabled)
    for currency, per_payment, per_day in parsed:
        rules.set_limit(m["id"], currency, per_payment, per_day)
    for currency in remove_limits:
        autopay_store.delete_limit(m["id"], currency.upper())
    _show(m, as_json)


def _show(m: dict[str, Any], as_json: bool) -> None:
    from paysync.autopay.rules import fmt
    from storage import autopay as autopay_store

    rule = autopay_store.get_rule(m["id"])
    if rule is None:
        raise click.ClickException(f"merchant {m['name']} has no auto-payment rules (paysync autopay rules set)")
    limits = [{"currency": c, "per_payment": fmt(r["per_payment"], c), "per_day": fmt(r["per_day"], c),
               "per_payment_minor": r["per_payment"], "per_day_minor": r["per_day"]}
              for c, r in autopay_store.limits(m["id"]).items()]
    if as_json:
        click.echo(to_json({"rules": rule, "limits": limits, "payees": len(autopay_store.payees(m["id"]))}))
        return
    emit_one({k: rule[k] for k in ("merchant_id", "enabled", "connector_id", "source_balance", "balance_currency",
                                   "account_code", "base_currency", "days_before_due", "updated_at")}, False)
    click.echo("")
    emit(limits, ("currency", "per_payment", "per_day"), False,
         empty="no limits: no currency is paid automatically (add --limit CUR=PER_PAYMENT/PER_DAY)")


@rules_group.command("show")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def rules_show(merchant: str, as_json: bool) -> None:
    """The merchant's rules and limits."""
    _show(_merchant(merchant), as_json)


# ----------------------------------------------------------------- payees

@command.group("payees")
def payees_group() -> None:
    """The allow-list: Xero contacts that may be paid, each mapped to a Wise recipient."""


@payees_group.command("add")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--contact", required=True, help="Xero ContactID or exact contact name.")
@click.option("--recipient", required=True, help="Wise recipient id (of the rules' connector).")
@click.option("--note", default=None)
@json_option
def payees_add(merchant: str, contact: str, recipient: str, note: str | None, as_json: bool) -> None:
    """Allow a contact to be paid automatically, to this Wise recipient."""
    from paysync.autopay import rules

    emit_one(rules.add_payee(_merchant(merchant)["id"], contact, recipient, note), as_json)


@payees_group.command("remove")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--contact", required=True, help="Xero ContactID or exact contact name.")
def payees_remove(merchant: str, contact: str) -> None:
    """Take a contact off the allow-list (its scheduled payments are cancelled at the next schedule run)."""
    from paysync.autopay import rules

    if not rules.remove_payee(_merchant(merchant)["id"], contact):
        raise click.ClickException(f"{contact} is not on the allow-list")
    click.echo(f"removed {contact}")


@payees_group.command("list")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def payees_list(merchant: str, as_json: bool) -> None:
    """The allow-list."""
    from storage import autopay as autopay_store

    emit(autopay_store.payees(_merchant(merchant)["id"]).values(),
         ("contact_name", "contact_external_id", "recipient", "recipient_currency", "note"), as_json,
         empty="the allow-list is empty: nothing is paid automatically")


# ----------------------------------------------------------------- dry run, scheduled, exceptions

@command.command("dry-run")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The day to simulate (default today, UTC).")
@json_option
def dry_run(merchant: str, day: dt.datetime | None, as_json: bool) -> None:
    """What would be paid and why, and what would not and why. Makes no outside call."""
    from paysync.autopay import rules

    rows = rules.dry_run(_merchant(merchant)["id"], day.date() if day else None)
    emit(rows, ("would", "bill", "contact", "amount", "due_on", "pay_on", "scheduled", "why"), as_json,
         empty="no payable bills in the books (download them first: paysync invoices download)")


@command.command("list")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--state", "states", multiple=True, help="Only these states (repeatable).")
@json_option
def list_(merchant: str, states: tuple[str, ...], as_json: bool) -> None:
    """Scheduled payments, one per bill."""
    from storage import autopay as autopay_store

    rows = autopay_store.list_for_merchant(_merchant(merchant)["id"], states or None)
    for r in rows:
        r["bill"] = r["invoice_number"] or r["invoice_external_id"]
    emit(money_columns(rows, "amount"), SCHEDULED_COLUMNS, as_json,
         empty="no scheduled payments (paysync autopay schedule --merchant M)",
         json_extra=("asset", "amount_minor", "invoice_external_id", "transfer_id", "fee_amount", "fee_asset",
                     "xero_payment_id", "exception_kind"))


@command.command("exceptions")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def exceptions(merchant: str, as_json: bool) -> None:
    """What needs a person: the reason, what was done so far, and what to do next."""
    from paysync.autopay.exceptions import view

    rows = view(_merchant(merchant)["id"])
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo("nothing needs a person")
        return
    for r in rows:
        click.echo(f"#{r['id']} {r['bill']} {r['contact'] or ''} {r['amount']} due {r['due_on']} [{r['kind']}]")
        click.echo(f"  reason: {r['reason']}")
        click.echo(f"  next:   {r['next']}")
        for what in r["done_so_far"]:
            click.echo(f"   - {what}")


@command.command("retry")
@click.option("--id", "scheduled_id", required=True, type=int, help="Scheduled payment id.")
@json_option
def retry(scheduled_id: int, as_json: bool) -> None:
    """Try an exception (or a held / cancelled payment) again as a new attempt."""
    from paysync.autopay.execution import retry as do_retry

    row = do_retry(scheduled_id)
    emit_one({k: row.get(k) for k in ("id", "state", "attempt", "reason")}, as_json)


def _send(name: str, payload: dict[str, Any], wait: bool, timeout: float) -> Any:
    from paysync.cli import jobs

    if not wait:
        return {"task_id": jobs.send(name, payload, interactive=False).id}
    return jobs.run(name, payload, timeout, interactive=False)


@command.command("schedule")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=300.0, show_default=True, type=float)
def schedule(merchant: str, wait: bool, timeout: float) -> None:
    """Run the scheduler now (autopay.schedule, service connection)."""
    click.echo(to_json(_send("autopay.schedule", {"merchant_id": _merchant(merchant)["id"]}, wait, timeout)))


@command.command("run")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=300.0, show_default=True, type=float)
def run(merchant: str, wait: bool, timeout: float) -> None:
    """Execute due payments now (autopay.run_due, user connection, batch)."""
    click.echo(to_json(_send("autopay.run_due", {"merchant_id": _merchant(merchant)["id"]}, wait, timeout)))
