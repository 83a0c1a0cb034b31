"""The Wise connector's synced records: ``paysync accounts|balances|external-accounts|payments|initiations``."""

from __future__ import annotations

import click

from paysync.cli.output import emit, emit_one, json_option

connector_option = click.option("--connector", "connector_id", type=int, required=True, help="Connector id.")


def _money(rows: list[dict], *fields: str) -> list[dict]:
    """Add human amounts (major units) beside the minor-unit integers."""
    from mappers.money import from_minor

    for r in rows:
        code = (r.get("asset") or "").split("/", 1)[0]
        for f in fields:
            if r.get(f) is not None and code:
                try:
                    r[f"{f}_major"] = str(from_minor(int(r[f]), code))
                except Exception:
                    r[f"{f}_major"] = None
    return rows


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
    """Synced balances (minor units and major)."""


@balances.command("list")
@connector_option
@json_option
def balances_list(connector_id: int, as_json: bool) -> None:
    """List a connector's balances."""
    from storage import wise

    rows = _money(wise.list_balances(connector_id), "amount", "reserved")
    emit(rows, ("account", "profile_id", "name", "asset", "amount", "amount_major", "reserved", "updated_at"), as_json,
         empty="no balances yet")


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

    rows = _money(wise.list_payments(connector_id, limit=limit, status=status), "amount")
    emit(rows, ("reference", "leg", "type", "status", "raw_status", "amount", "amount_major", "asset", "source",
                "destination", "status_since"), as_json, empty="no payments yet")


INITIATION_COLUMNS = ("id", "connector_id", "kind", "status", "step", "attempt", "amount", "asset", "source_account",
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

    emit(wise.list_initiations(connector_id), INITIATION_COLUMNS, as_json, empty="no initiations yet")


@initiations.command("needing-action")
@click.option("--connector", "connector_id", type=int, default=None, help="Only this connector.")
@json_option
def initiations_needing_action(connector_id: int | None, as_json: bool) -> None:
    """Initiations waiting for approval in Wise (SCA) or failed and retryable."""
    from storage import wise

    emit(wise.list_initiations(connector_id, needing_action=True), INITIATION_COLUMNS, as_json,
         empty="nothing needs action")


@initiations.command("retry")
@click.argument("initiation_id", type=int)
@json_option
def initiations_retry(initiation_id: int, as_json: bool) -> None:
    """A new attempt of a FAILED initiation (its stale transfer is cancelled first)."""
    from paysync.connectors.wise import initiations as domain
    from tasks.wise import _follow

    emit_one(_follow(domain.retry(initiation_id)), as_json)


commands = [accounts, balances, external_accounts, payments, initiations]
