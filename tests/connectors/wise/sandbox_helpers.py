"""Helpers for tests and the demo against the sandbox's Wise (install, one cycle, lookups)."""

from __future__ import annotations

from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def token(wise_url: str) -> dict[str, Any]:
    """The first sandbox user: its token and profiles (PERSONAL first, then BUSINESS)."""
    return requests.get(f"{wise_url}/_control/tokens", timeout=10).json()[0]


def install(merchant_name: str, wise_url: str, **config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from paysync.connectors.wise.install import install as do_install
    from storage import merchants

    user = token(wise_url)
    m = merchants.create(merchant_name)
    cfg = {"apiKey": user["token"], "webhookPublicKey": public_pem(), "baseUrl": wise_url, **config}
    return do_install(m["id"], cfg), user


def allow_payouts(merchant_id: int, currency: str = "EUR", per_payment: str = "100000.00",
                  per_day: str = "1000000.00") -> None:
    """A payout policy wide enough for a test about something else (direct payouts need one)."""
    from paysync import payout_policy

    payout_policy.set_limit(merchant_id, currency, per_payment, per_day)


def cycle_inline(connector_id: int) -> dict[str, Any]:
    """One polling cycle in this process, in the workflow tree's order (tests only)."""
    from paysync.connectors.wise import accounts, external_accounts, others, payments, profiles
    from paysync.connectors.wise.context import open_run

    run = open_run(connector_id)
    out: dict[str, Any] = {"profiles": profiles.fetch(run)}
    for pid in out["profiles"]["profiles"]:
        out[pid] = {"accounts": accounts.fetch(run, pid), "recipients": external_accounts.fetch(run, pid),
                    "payments": payments.fetch(run, pid), "others": others.fetch(run, pid)}
    return out


def pick(connector_id: int, profile_id: str, currency: str = "EUR") -> tuple[str, str]:
    """(a STANDARD balance, a recipient) of ``profile_id`` in ``currency``."""
    from storage import wise as store

    balance = next(a["reference"] for a in store.internal_accounts(connector_id, profile_id)
                   if a["default_asset"].startswith(currency + "/")
                   and a["metadata"].get("com.wise.spec/type") == "STANDARD")
    recipient = next(a["reference"] for a in store.list_accounts(connector_id, "EXTERNAL")
                     if a["profile_id"] == profile_id and a["default_asset"].startswith(currency + "/"))
    return balance, recipient


def transfers_with_cti(wise_url: str, api_token: str, profile_id: str, cti: str) -> list[dict[str, Any]]:
    found, offset = [], 0
    while True:
        page = requests.get(f"{wise_url}/v1/transfers", params={"profile": profile_id, "offset": offset,
                                                                "limit": 100},
                            headers={"Authorization": f"Bearer {api_token}"}, timeout=10).json()
        found += [t for t in page if t.get("customerTransactionId") == cti]
        if len(page) < 100:
            return found
        offset += 100
