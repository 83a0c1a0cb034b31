"""Fixtures for the Wise connector's unit tests: real Redis and PostgreSQL, Wise faked with
``responses`` on payloads shaped like Wise's API reference."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

BASE = "https://api.wise.com"
FIXTURES = Path(__file__).resolve().parents[2] / "mappers" / "fixtures"
PERSONAL, BUSINESS = 30000000, 30000001


def _pem(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def ec_pem() -> str:
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def dumps(obj: Any) -> str:
    from mappers import jsonnum

    return jsonnum.dumps(obj)


def profiles_payload() -> list[dict[str, Any]]:
    return fixture("profiles_v2.json")


def balance(id_: int, currency: str, value: str, type_: str = "STANDARD", name: str | None = None,
            reserved: str = "0") -> dict[str, Any]:
    amt = {"value": Decimal(value), "currency": currency}
    return {"id": id_, "currency": currency, "type": type_, "name": name, "icon": None,
            "investmentState": "NOT_INVESTED", "amount": amt,
            "reservedAmount": {"value": Decimal(reserved), "currency": currency}, "cashAmount": amt,
            "totalWorth": amt, "creationTime": "2024-05-20T14:43:16.658Z",
            "modificationTime": "2026-07-01T09:15:00.120Z", "visible": True}


def recipient(id_: int, currency: str = "EUR", profile: int = BUSINESS, name: str = "Acme GmbH",
              owned: bool = False) -> dict[str, Any]:
    return {"id": id_, "creatorId": 41000000, "profileId": profile,
            "name": {"fullName": name, "givenName": None, "familyName": None, "middleName": None},
            "currency": currency, "country": "DE", "type": "IBAN", "legalEntityType": "BUSINESS", "active": True,
            "details": {"iban": "DE89370400440532013000", "BIC": "COBADEFFXXX", "bankName": "Commerzbank"},
            "commonFieldMap": {"accountNumberField": "iban"}, "hash": "abc", "accountSummary": "(3000)",
            "longAccountSummary": "EUR account ending in 3000", "displayFields": [], "isInternal": False,
            "ownedByCustomer": owned}


def transfer(id_: int, status: str = "processing", created: str = "2026-07-02 12:38:02",
             source: str = "EUR", value: str = "100.00", target_currency: str = "EUR", target_account: int = 40000001,
             profile: int = BUSINESS, cti: str | None = None) -> dict[str, Any]:
    return {"id": id_, "user": 4342275, "targetAccount": target_account, "sourceAccount": None, "quote": None,
            "quoteUuid": "8fa9be20-ba43-4b15-abbb-9424e1481050", "status": status, "reference": "",
            "rate": Decimal("1"), "created": created, "business": profile, "transferRequest": None,
            "details": {"reference": f"INV-{id_}"}, "hasActiveIssues": False, "sourceCurrency": source,
            "sourceValue": Decimal(value), "targetCurrency": target_currency, "targetValue": Decimal(value),
            "customerTransactionId": cti or "54a6bc09-cef9-49a8-9041-f1f0c654cd88"}


class FakeWise:
    """A small stateful Wise on ``responses``: transfers per profile (listed in the order held,
    or newest first), ``createdDateStart`` honoured, a ``Date`` header from ``clock`` when set,
    and ``before_list(offset)`` called before each list answer (transfers arriving mid-read)."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.transfers: dict[int, list[dict[str, Any]]] = {PERSONAL: [], BUSINESS: []}
        self.balances: dict[int, list[dict[str, Any]]] = {PERSONAL: [], BUSINESS: []}
        self.recipients: dict[int, list[dict[str, Any]]] = {PERSONAL: [], BUSINESS: []}
        self.die_at_offset: int | None = None  # the list call at this offset raises (a killed sync)
        self.newest_first = False
        self.clock: Any = None  # a datetime: Wise's time, sent as the Date header
        self.before_list: Any = None
        rsps.add(responses.GET, f"{BASE}/v2/profiles", body=dumps(profiles_payload()), content_type="application/json")
        rsps.add_callback(responses.GET, re.compile(rf"{BASE}/v4/profiles/(\d+)/balances.*"), self._balances)
        rsps.add_callback(responses.GET, re.compile(rf"{BASE}/v2/accounts\?.*"), self._recipients)
        rsps.add_callback(responses.GET, re.compile(rf"{BASE}/v1/transfers\?.*"), self._list)
        rsps.add_callback(responses.GET, re.compile(rf"{BASE}/v1/transfers/(\d+)$"), self._get)

    def calls(self, pattern: str) -> int:
        return sum(1 for c in self.rsps.calls if re.search(pattern, c.request.url))

    @staticmethod
    def _args(request: Any) -> dict[str, str]:
        from urllib.parse import parse_qsl, urlparse

        return dict(parse_qsl(urlparse(request.url).query))

    def _balances(self, request: Any) -> tuple[int, dict, str]:
        pid = int(re.search(r"/profiles/(\d+)/", request.url).group(1))
        return 200, {}, dumps(self.balances.get(pid, []))

    def _recipients(self, request: Any) -> tuple[int, dict, str]:
        a = self._args(request)
        size, seek = int(a["size"]), int(a.get("seekPosition") or 0)
        rows = [r for r in self.recipients.get(int(a["profileId"]), []) if r["id"] > seek]
        page = rows[:size]
        more = len(rows) > size
        return 200, {}, dumps({"content": page, "size": len(page), "seekPositionForCurrent": seek or None,
                               "seekPositionForNext": page[-1]["id"] if more else None})

    def _headers(self) -> dict[str, str]:
        from email.utils import format_datetime

        return {"Date": format_datetime(self.clock, usegmt=True)} if self.clock is not None else {}

    def _list(self, request: Any) -> tuple[int, dict, str]:
        from datetime import UTC, datetime

        a = self._args(request)
        limit, offset = int(a["limit"]), int(a["offset"])
        if self.before_list is not None:
            self.before_list(offset)
        if offset == self.die_at_offset:
            raise RuntimeError("worker killed")
        if offset % limit:
            return 400, {}, dumps({"errors": [{"code": "NOT_VALID", "message": "offset must be a multiple of limit",
                                               "path": "offset", "arguments": []}]})
        rows = list(self.transfers.get(int(a["profile"]), []))
        if a.get("createdDateStart"):
            start = datetime.fromisoformat(a["createdDateStart"].replace("Z", "+00:00"))
            rows = [t for t in rows if datetime.fromisoformat(t["created"]).replace(tzinfo=UTC) >= start]
        if self.newest_first:
            rows = rows[::-1]
        return 200, self._headers(), dumps(rows[offset:offset + limit])

    def _get(self, request: Any) -> tuple[int, dict, str]:
        tid = int(request.url.rsplit("/", 1)[1])
        for rows in self.transfers.values():
            for t in rows:
                if t["id"] == tid:
                    return 200, self._headers(), dumps(t)
        return 404, {}, dumps({"errors": [{"code": "transfer.not-found", "message": "not found"}]})


@pytest.fixture
def wise() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeWise(rsps)


@pytest.fixture
def merchant(db: str) -> dict[str, Any]:
    from storage import merchants

    return merchants.create("acme")


@pytest.fixture
def config(rsa_pem: str) -> dict[str, Any]:
    return {"apiKey": "secret-token-123", "webhookPublicKey": rsa_pem, "pageSize": 5, "pollingPeriod": "30m"}


@pytest.fixture
def connector(wise: FakeWise, merchant: dict[str, Any], config: dict[str, Any], redis_client: Any) -> dict[str, Any]:
    from paysync.connectors.wise.install import install

    return install(merchant["id"], config)


@pytest.fixture
def run(connector: dict[str, Any]) -> Any:
    from paysync.connectors.wise.context import open_run

    return open_run(connector["id"])
