"""Amounts and sizes validated at every entrance: negative Wise amounts, amounts and ids
beyond a bigint, overlong text; each refused naming the field."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from mappers import MapperError
from mappers.money import MAX_MINOR, MoneyError, to_minor
from mappers.wise.payments import map_transfer
from mappers.wise.webhooks import parse_balance_update, parse_transfer_refund
from paysync import limits
from paysync.cli import cli
from paysync.connectors.wise.config import WiseConfigError, parse_config
from paysync.errors import PayloadError
from tests.connectors.wise.conftest import transfer
from tests.mappers.conftest import load


def payout(**overrides):
    base = {"connector_id": 1, "idempotency_key": "k-1", "source_account": "b-1", "destination_account": "r-1",
            "amount": 2550, "asset": "EUR/2"}
    return {**base, **overrides}


def contract(name):
    import tasks  # noqa: F401  (registers every task)
    from tasks.contract import contract_for

    return contract_for(name)


def test_a_negative_wise_transfer_amount_is_refused_naming_the_value():
    with pytest.raises(MapperError) as err:
        map_transfer(transfer(7, "funds_refunded", value="-25.50"))
    assert err.value.field == "sourceValue" and "-25.50" in str(err.value) and "negative" in str(err.value)


def test_a_negative_refund_amount_is_refused_and_a_balance_update_keeps_its_magnitude():
    event = load("webhook_refund.json")
    event["data"]["resource"]["refund_amount"] = Decimal("-1158.90")
    with pytest.raises(MapperError) as err:
        parse_transfer_refund(event)
    assert err.value.field == "resource.refund_amount" and "-1158.90" in str(err.value)
    # a balance update carries its direction in transaction_type: the sign is redundant
    debit = load("webhook_balance_debit.json")
    debit["data"]["amount"] = -abs(debit["data"]["amount"])
    assert parse_balance_update(debit).amount > 0


def test_amounts_beyond_a_bigint_are_refused():
    with pytest.raises(MoneyError) as err:
        to_minor(Decimal("92233720368547758.08"), "EUR")
    assert "beyond the largest amount" in str(err.value)
    assert to_minor(Decimal("92233720368547758.07"), "EUR") == MAX_MINOR
    with pytest.raises(MoneyError):
        to_minor(Decimal("1E+100000"), "EUR")  # refused before computing a 100,000-digit number
    with pytest.raises(MapperError) as err:
        map_transfer(transfer(8, value="1E+30"))
    assert err.value.field == "sourceValue"


@pytest.mark.parametrize("name,payload,field", [
    ("wise.create_payout", payout(amount=2**63), "amount"),
    ("wise.create_payout", payout(amount=-5), "amount"),
    ("wise.create_payout", payout(connector_id=2**64), "connector_id"),
    ("wise.create_payout", payout(reference="r" * (limits.WISE_REFERENCE + 1)), "reference"),
    ("wise.create_payout", payout(idempotency_key="k" * (limits.IDEMPOTENCY_KEY + 1)), "idempotency_key"),
    ("accounting.download_latest", {"merchant_id": 2**70}, "merchant_id"),
    ("accounting.record_payment", {"merchant_id": 1, "payment_id": "p", "invoice_id": "7e1d6a62-0000-4000-8000-000000000001",
                                   "amount": "92233720368547758.08", "currency": "EUR", "date": "2026-01-02",
                                   "account_code": "090"}, "amount"),
])
def test_task_payloads_out_of_range_or_too_long_are_refused_naming_the_field(name, payload, field):
    with pytest.raises(PayloadError) as err:
        contract(name).validate(payload)
    assert list(err.value.errors) == [field], err.value.errors


def test_an_overlong_merchant_name_is_refused_by_the_command_line(db):
    result = CliRunner().invoke(cli, ["merchants", "create", "m" * 100_000])
    assert result.exit_code != 0
    assert isinstance(result.exception, limits.TooLong)
    assert f"merchant name must be at most {limits.MERCHANT_NAME} characters, got 100000" in str(result.exception)
    assert json.loads(CliRunner().invoke(cli, ["merchants", "list", "--json"]).output) == []


def test_overlong_install_config_fields_are_refused_naming_each():
    from tests.connectors.wise.sandbox_helpers import public_pem

    rsa_pem = public_pem()
    with pytest.raises(WiseConfigError) as err:
        parse_config({"apiKey": "k" * (limits.API_KEY + 1), "webhookPublicKey": rsa_pem,
                      "publicUrl": "https://example.com/" + "p" * limits.URL})
    assert set(err.value.errors) == {"apiKey", "publicUrl"}
    assert f"at most {limits.API_KEY} characters" in err.value.errors["apiKey"]


def test_overlong_connector_and_psa_names_are_refused(db):
    from storage import connectors, merchants, psa

    m = merchants.create("acme")
    with pytest.raises(limits.TooLong, match="connector name"):
        connectors.create(m["id"], "wise", "n" * 65, {}, {}, 1800)
    with pytest.raises(limits.TooLong, match="company"):
        psa.add(m["id"], site="na.example.net", company="c" * 65, client_id="x", public_key="p", private_key="q",
                codebase="v4_6_release/")
