"""The Wise connector's synced records: ``paysync accounts|balances|external-accounts|payments|initiations``."""

from __future__ import annotations

import click

from paysync.cli.output import emit, emit_one, json_option, money_columns
from paysync.cli.resolve import CONNECTOR, connector_option


@click.group("accounts")
def accounts() -> None:
    """Synced accounts (Wise balances: INTERNAL)."""


@accounts.command("list")
@connector_option
@click.option("--type", "type_", type=click.Choice(["INTERNAL", "EXTERNAL"]), default="INTERNAL", show_default=True)
@json_option
def accounts_list(connector_id: int, type_: str, as_json: bool) -> None:
    """List a connector's accounts."""
    from storage import wise

    emit(wise.list_accounts(connector_id, type_),
         ("id", "reference", "type", "profile_id", "name", "default_asset", "updated_at"), as_json,
         empty="no accounts yet (has a polling cycle run?)")


@click.group("external-accounts")
def external_accounts() -> None:
    """Synced external accounts (Wise recipients)."""


@external_accounts.command("list")
@connector_option
@json_option
def external_list(connector_id: int, as_json: bool) -> None:
    """List a connector's recipients."""
    from storage import wise

    rows = wise.list_accounts(connector_id, "EXTERNAL")
    for r in rows:
        r["country"] = (r.get("metadata") or {}).get("com.wise.spec/country")
    emit(rows, ("id", "reference", "profile_id", "name", "default_asset", "country", "updated_at"), as_json,
         empty="no recipients yet")


@click.group("balances")
def balances() -> None:
    """Synced balances (amounts in major units beside their currency)."""


@balances.command("list")
@connector_option
@json_option
def balances_list(connector_id: int, as_json: bool) -> None:
    """List a connector's balances."""
    from storage import wise

    rows = money_columns(wise.list_balances(connector_id), "amount", "reserved")
    emit(rows, ("account", "profile_id", "name", "amount", "reserved", "currency", "updated_at"), as_json,
         empty="no balances yet", json_extra=("asset", "amount_minor", "reserved_minor"))


@click.group("payments")
def payments() -> None:
    """Synced payments (one per Wise transfer and leg)."""


@payments.command("list")
@connector_option
@click.option("--status", type=click.Choice(["PENDING", "SUCCEEDED", "FAILED", "CANCELLED", "OTHER"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@json_option
def payments_list(connector_id: int, status: str | None, limit: int, as_json: bool) -> None:
    """List a connector's payments, newest first."""
    from storage import wise

    rows = money_columns(wise.list_payments(connector_id, limit=limit, status=status), "amount")
    emit(rows, ("reference", "leg", "type", "status", "raw_status", "amount", "currency", "source",
                "destination", "status_since"), as_json, empty="no payments yet", json_extra=("asset", "amount_minor"))


INITIATION_COLUMNS = ("id", "connector_id", "kind", "status", "step", "attempt", "amount", "currency", "source_account",
                      "destination_account", "transfer_id", "raw_status", "error", "customer_transaction_id")


@click.group("initiations")
def initiations() -> None:
    """Transfers and payouts paysync makes (payment initiations)."""


@initiations.command("list")
@connector_option
@json_option
def initiations_list(connector_id: int, as_json: bool) -> None:
    """List a connector's initiations, newest first."""
    from storage import wise

    emit(money_columns(wise.list_initiations(connector_id), "amount"), INITIATION_COLUMNS, as_json,
         empty="no initiations yet", json_extra=("asset", "amount_minor"))


@initiations.command("needing-action")
@click.option("--connector", "connector_id", type=CONNECTOR, default=None,
              help="Only this connector (id, merchant or MERCHANT/NAME).")
@json_option
def initiations_needing_action(connector_id: int | None, as_json: bool) -> None:
    """Initiations waiting for approval in Wise (SCA) or failed and retryable."""
    from storage import wise

    emit(money_columns(wise.list_initiations(connector_id, needing_action=True), "amount"), INITIATION_COLUMNS,
         as_json, empty="nothing needs action", json_extra=("asset", "amount_minor"))


@initiations.command("retry")
@click.argument("initiation_id", type=int)
@json_option
def initiations_retry(initiation_id: int, as_json: bool) -> None:
    """A new attempt of a FAILED initiation (its stale transfer is cancelled first)."""
    from paysync.connectors.wise import initiations as domain
    from tasks.wise import _follow

    emit_one(_follow(domain.retry(initiation_id)), as_json)


commands = [accounts, balances, external_accounts, payments, initiations]
