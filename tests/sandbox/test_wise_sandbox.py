"""The Wise stand-in: shapes, paging, quotes, idempotent transfers, funding, SCA, the state machine."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from paysync_dev.sandbox.server import create_app
from paysync_dev.sandbox.wise import WiseSandbox
from paysync_dev.sandbox.wise_data import STATES, build_world, merge_config


def parse(data: bytes) -> Any:
    return json.loads(data, parse_float=Decimal)


class Wise:
    """A test client for one sandbox app holding only the Wise provider."""

    def __init__(self, seed: int = 11, **wise_size: Any) -> None:
        self.provider = WiseSandbox()
        self.app = create_app(seed=seed, size={"wise": wise_size}, providers=[self.provider])
        self.c = self.app.test_client()
        self.tokens = self.control("GET", "tokens")
        self.token = self.tokens[0]["token"]          # user with PERSONAL + BUSINESS
        self.other = self.tokens[1]["token"]          # user with one PERSONAL profile
        self.personal = self.tokens[0]["profiles"][0]["id"]
        self.business = self.tokens[0]["profiles"][1]["id"]
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.provider.listeners.append(lambda kind, data: self.events.append((kind, data)))

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        h = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        kw: dict[str, Any] = {"headers": h}
        if body is not None:
            kw["data"] = json.dumps(body, default=str)
            kw["content_type"] = "application/json"
        r = self.c.open(f"/wise{path}", method=method, **kw)
        return r.status_code, (parse(r.data) if r.data else None), r.headers

    def get(self, path: str, token: str | None = None) -> Any:
        status, body, _ = self.call("GET", path, token=token)
        assert status == 200, (path, status, body)
        return body

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = self.c.open(f"/wise/_control/{path}", method=method, json=body)
        assert r.status_code in (200, 201), (path, r.status_code, r.data)
        return parse(r.data)

    def advance(self, seconds: float) -> None:
        assert self.c.post("/_sandbox/clock", json={"advance": seconds}).status_code == 200

    def now(self) -> float:
        return self.c.get("/_sandbox/clock").get_json()["now"]

    def recipient(self, profile: int, currency: str) -> int:
        return next(r["id"] for r in self.get(f"/v1/accounts?profile={profile}") if r["currency"] == currency)

    def balance(self, profile: int, currency: str) -> dict[str, Any]:
        return next(b for b in self.get(f"/v4/profiles/{profile}/balances?types=STANDARD")
                    if b["currency"] == currency)

    def quote(self, profile: int, source: str = "EUR", target: str = "GBP", **amounts: Any) -> dict[str, Any]:
        body = {"sourceCurrency": source, "targetCurrency": target, "payIn": "BALANCE",
                **(amounts or {"sourceAmount": 100})}
        status, q, _ = self.call("POST", f"/v3/profiles/{profile}/quotes", body)
        assert status == 200, q
        return q

    def transfer(self, profile: int | None = None, source: str = "EUR", target: str = "GBP",
                 amount: Any = 250, cti: str | None = None) -> dict[str, Any]:
        profile = profile or self.business
        q = self.quote(profile, source, target, sourceAmount=amount)
        status, t, _ = self.call("POST", "/v1/transfers", {
            "targetAccount": self.recipient(profile, target), "quoteUuid": q["id"],
            "customerTransactionId": cti or str(uuid.uuid4()), "details": {"reference": "INV-1"}})
        assert status == 200, t
        return t

    def fund(self, profile: int, transfer_id: int, token: str | None = None) -> tuple[int, Any, Any]:
        return self.call("POST", f"/v3/profiles/{profile}/transfers/{transfer_id}/payments", {"type": "BALANCE"},
                         token=token)

    def status_of(self, transfer_id: int) -> str:
        return self.get(f"/v1/transfers/{transfer_id}")["status"]


@pytest.fixture
def wise() -> Wise:
    return Wise(transfers=300)


# ------------------------------------------------------------------ auth, profiles, balances, recipients

def test_tokens_see_only_their_profiles_and_bad_tokens_get_401(wise: Wise) -> None:
    mine = wise.get("/v2/profiles")
    assert [(p["id"], p["type"]) for p in mine] == [(wise.personal, "PERSONAL"), (wise.business, "BUSINESS")]
    assert {"id", "publicId", "userId", "type", "address", "email", "createdAt", "currentState"} <= set(mine[0])
    assert mine[1]["businessName"] and mine[0]["firstName"]
    theirs = wise.get("/v2/profiles", token=wise.other)
    assert [p["type"] for p in theirs] == ["PERSONAL"]
    status, body, _ = wise.call("GET", f"/v4/profiles/{wise.business}/balances?types=STANDARD", token=wise.other)
    assert status == 403 and body["errors"][0]["code"]
    status, _, _ = wise.call("GET", f"/v1/transfers?profile={wise.business}", token=wise.other)
    assert status == 403
    status, body, headers = wise.call("GET", "/v2/profiles", token="not-a-token")
    assert status == 401 and body["error"] == "invalid_token"
    assert wise.c.get("/wise/v2/profiles").status_code == 401
    # a token added through the control API for an existing user sees the same profiles
    added = wise.control("POST", "tokens", {"userId": wise.tokens[1]["userId"]})
    assert [p["id"] for p in wise.get("/v2/profiles", token=added["token"])] == [theirs[0]["id"]]
    fresh = wise.control("POST", "tokens", {"profiles": 2})
    assert [p["type"] for p in wise.get("/v2/profiles", token=fresh["token"])] == ["PERSONAL", "BUSINESS"]


def test_balances_v4_shape_types_and_json_numbers(wise: Wise) -> None:
    r = wise.c.get(f"/wise/v4/profiles/{wise.business}/balances?types=STANDARD,SAVINGS",
                   headers={"Authorization": f"Bearer {wise.token}"})
    raw = r.data.decode()
    balances = parse(r.data)
    keys = {"id", "currency", "type", "name", "amount", "reservedAmount", "cashAmount", "totalWorth",
            "creationTime", "modificationTime", "visible"}
    assert all(keys <= set(b) for b in balances)
    assert {b["type"] for b in balances} == {"STANDARD", "SAVINGS"}
    assert all(b["name"] for b in balances if b["type"] == "SAVINGS")
    by_cur = {b["currency"]: b for b in balances if b["type"] == "STANDARD"}
    assert {"EUR", "GBP", "USD", "JPY", "KWD"} <= set(by_cur)
    for b in balances:  # numbers, never strings, and parsed straight to Decimal
        assert isinstance(b["amount"]["value"], (Decimal, int)) and b["amount"]["currency"] == b["currency"]
        assert f'"value":"{b["amount"]["value"]}"' not in raw
    assert isinstance(by_cur["JPY"]["amount"]["value"], int)  # JPY/0: a whole number
    assert -by_cur["KWD"]["amount"]["value"].as_tuple().exponent == 3
    assert len(str(by_cur["USD"]["amount"]["value"]).replace(".", "")) >= 11  # many digits
    assert {b["type"] for b in wise.get(f"/v4/profiles/{wise.business}/balances?types=SAVINGS")} == {"SAVINGS"}
    assert wise.call("GET", f"/v4/profiles/{wise.business}/balances")[0] == 400
    assert wise.call("GET", f"/v4/profiles/{wise.business}/balances?types=CHECKING")[0] == 400


def test_recipients_v1_unpaged_and_v2_seek_paging(wise: Wise) -> None:
    v1 = wise.get(f"/v1/accounts?profile={wise.business}")
    assert v1 and {"id", "profile", "accountHolderName", "currency", "country", "type", "details"} <= set(v1[0])
    assert all(r["profile"] == wise.business for r in v1)
    seen: list[int] = []
    seek: int | None = None
    pages = 0
    while True:
        page = wise.get(f"/v2/accounts?profileId={wise.business}&size=3"
                        + (f"&seekPosition={seek}" if seek is not None else ""))
        assert {"content", "size", "seekPositionForNext"} <= set(page)
        assert page["size"] == len(page["content"]) <= 3
        for r in page["content"]:
            assert r["name"]["fullName"] and r["profileId"] == wise.business
        seen += [r["id"] for r in page["content"]]
        pages += 1
        seek = page["seekPositionForNext"]
        if seek is None:
            break
    assert seen == [r["id"] for r in v1] and pages == -(-len(v1) // 3)
    eur = wise.get(f"/v2/accounts?profileId={wise.business}&currency=EUR&size=100")["content"]
    assert eur and all(r["currency"] == "EUR" for r in eur)
    assert wise.call("GET", "/v2/accounts?size=101")[0] == 400


# ------------------------------------------------------------------ transfers: listing

def test_transfer_paging_offset_rules_stable_order_and_short_last_page() -> None:
    w = Wise(transfers=1000)
    first = w.get(f"/v1/transfers?profile={w.business}&limit=100&offset=0")
    # newest first by default (Wise promises no order); oldest first when asked
    assert [t["id"] for t in first] == sorted((t["id"] for t in first), reverse=True)
    w.control("POST", "config", {"transfer_order": "oldest_first"})
    assert w.c.post("/wise/_control/config", json={"transfer_order": "random"}).status_code == 400
    summary = w.control("GET", "summary")
    assert summary["transfers"] == 1000
    ids: list[int] = []
    for profile in (w.personal, w.business):
        offset, pages = 0, []
        while True:
            page = w.get(f"/v1/transfers?profile={profile}&limit=100&offset={offset}")
            pages.append(len(page))
            ids_page = [t["id"] for t in page]
            assert ids_page == sorted(ids_page)
            assert w.get(f"/v1/transfers?profile={profile}&limit=100&offset={offset}") == page  # stable
            ids += ids_page
            if len(page) < 100:
                break
            offset += 100
        assert pages[-1] < 100 and all(n == 100 for n in pages[:-1])
    other = w.tokens[1]["profiles"][0]["id"]
    n_other = 0
    offset = 0
    while page := w.get(f"/v1/transfers?profile={other}&limit=100&offset={offset}", token=w.other):
        n_other += len(page)
        offset += 100
    assert len(ids) + n_other == 1000 and len(set(ids)) == len(ids)

    status, body, _ = w.call("GET", f"/v1/transfers?profile={w.business}&limit=100&offset=50")
    assert status == 400 and body["errors"][0]["path"] == "offset" and body["errors"][0]["code"]
    status, body, _ = w.call("GET", f"/v1/transfers?profile={w.business}&limit=101&offset=0")
    assert status == 400 and body["errors"][0]["path"] == "limit"
    assert w.call("GET", f"/v1/transfers?profile={w.business}&limit=0")[0] == 400

    some = w.get(f"/v1/transfers?profile={w.business}&status=processing,bounced_back&limit=100")
    assert some and {t["status"] for t in some} <= {"processing", "bounced_back"}
    t = some[0]
    shape = {"id", "user", "targetAccount", "sourceAccount", "quote", "quoteUuid", "status", "reference",
             "details", "rate", "created", "business", "hasActiveIssues", "sourceCurrency", "sourceValue",
             "targetCurrency", "targetValue", "customerTransactionId"}
    assert shape <= set(t) and t["business"] == w.business
    assert time.strptime(t["created"], "%Y-%m-%d %H:%M:%S")
    assert isinstance(t["sourceValue"], (Decimal, int)) and isinstance(t["rate"], (Decimal, int))
    day = t["created"][:10]
    dated = w.get(f"/v1/transfers?profile={w.business}&createdDateStart={day}&createdDateEnd={day}&limit=100")
    assert t["id"] in [x["id"] for x in dated] and all(x["created"].startswith(day) for x in dated)
    # default profile is the personal one
    assert {x["business"] for x in w.get("/v1/transfers?limit=100")} == {None}


# ------------------------------------------------------------------ quotes and creating transfers

def test_quotes_amounts_rates_and_validation(wise: Wise) -> None:
    q = wise.quote(wise.business, "EUR", "JPY", sourceAmount="1000.50")
    assert uuid.UUID(q["id"]) and q["sourceAmount"] == Decimal("1000.50") and q["rate"] > 0
    assert isinstance(q["targetAmount"], int)  # JPY: no decimals
    option = q["paymentOptions"][0]
    assert option["payIn"] == "BALANCE" and option["fee"]["total"] > 0
    assert option["sourceAmount"] - option["fee"]["total"] > 0
    created = time.mktime(time.strptime(q["createdTime"], "%Y-%m-%dT%H:%M:%SZ"))
    expires = time.mktime(time.strptime(q["expirationTime"], "%Y-%m-%dT%H:%M:%SZ"))
    assert expires - created == 1800
    again = wise.quote(wise.business, "EUR", "JPY", sourceAmount="1000.50")
    assert again["rate"] == q["rate"] and again["id"] != q["id"]  # rates are fixed per pair and seed

    by_target = wise.quote(wise.business, "GBP", "KWD", targetAmount="250.125")
    assert by_target["targetAmount"] == Decimal("250.125") and by_target["providedAmountType"] == "TARGET"
    fee = by_target["paymentOptions"][0]["fee"]["total"]
    assert (by_target["sourceAmount"] - fee) * by_target["rate"] >= Decimal("250.125") - Decimal("0.001")

    def bad(body: dict[str, Any]) -> dict[str, Any]:
        status, err, _ = wise.call("POST", f"/v3/profiles/{wise.business}/quotes", body)
        assert status == 422, err
        return err["errors"][0]

    assert bad({"sourceCurrency": "EUR", "targetCurrency": "GBP", "sourceAmount": 1, "targetAmount": 1})
    assert bad({"sourceCurrency": "EUR", "targetCurrency": "GBP"})
    assert bad({"sourceCurrency": "XXX", "targetCurrency": "GBP", "sourceAmount": 1})["path"] == "sourceCurrency"
    assert bad({"sourceCurrency": "JPY", "targetCurrency": "GBP", "sourceAmount": "10.5"})["path"] == "sourceAmount"
    status, _, _ = wise.call("POST", f"/v3/profiles/{wise.business}/quotes", token=wise.other,
                             body={"sourceCurrency": "EUR", "targetCurrency": "GBP", "sourceAmount": 1})
    assert status == 403


def test_create_transfer_is_idempotent_on_customer_transaction_id(wise: Wise) -> None:
    events_before = len(wise.events)
    cti = str(uuid.uuid4())
    q = wise.quote(wise.business, "EUR", "GBP", sourceAmount=125)
    body = {"targetAccount": wise.recipient(wise.business, "GBP"), "quoteUuid": q["id"],
            "customerTransactionId": cti, "details": {"reference": "INV-42"}}
    count = wise.control("GET", "summary")["transfers"]
    s1, t1, _ = wise.call("POST", "/v1/transfers", body)
    s2, t2, _ = wise.call("POST", "/v1/transfers", body)
    assert s1 == s2 == 200 and t1 == t2 and t1["id"] == t2["id"]
    assert wise.control("GET", "summary")["transfers"] == count + 1
    assert t1["status"] == "incoming_payment_waiting" and t1["customerTransactionId"] == cti
    assert t1["sourceValue"] == Decimal("125") and t1["targetValue"] == q["targetAmount"]
    assert t1["details"]["reference"] == "INV-42" and t1["quoteUuid"] == q["id"]
    assert wise.get(f"/v1/transfers/{t1['id']}") == t1
    created = [e for e in wise.events[events_before:] if e[0] == "transfers#state-change"]
    assert len(created) == 1 and created[0][1]["previous_state"] is None

    status, err, _ = wise.call("POST", "/v1/transfers", dict(body, customerTransactionId="retry-1"))
    assert status == 422 and err["errors"][0]["path"] == "customerTransactionId"
    status, err, _ = wise.call("POST", "/v1/transfers", dict(body, customerTransactionId=str(uuid.uuid4())))
    assert status == 422  # the quote was used by the first transfer
    q2 = wise.quote(wise.business, "EUR", "GBP", sourceAmount=10)
    status, err, _ = wise.call("POST", "/v1/transfers", dict(
        body, quoteUuid=q2["id"], customerTransactionId=str(uuid.uuid4()),
        targetAccount=wise.recipient(wise.business, "EUR")))
    assert status == 422 and err["errors"][0]["path"] == "targetAccount"  # currency mismatch


def test_expired_quote_gives_quote_expired(wise: Wise) -> None:
    q = wise.quote(wise.business, "EUR", "GBP", sourceAmount=50)
    wise.advance(1801)
    status, err, _ = wise.call("POST", "/v1/transfers", {
        "targetAccount": wise.recipient(wise.business, "GBP"), "quoteUuid": q["id"],
        "customerTransactionId": str(uuid.uuid4()), "details": {"reference": "late"}})
    assert status == 422 and err["errors"][0]["code"] == "quote_expired"
    assert wise.get(f"/v3/profiles/{wise.business}/quotes/{q['id']}")["status"] == "EXPIRED"


# ------------------------------------------------------------------ funding, SCA

def test_funding_debits_once_and_refuses_a_second_time(wise: Wise) -> None:
    before = wise.balance(wise.business, "EUR")["amount"]["value"]
    t = wise.transfer(amount="333.33")
    status, result, _ = wise.fund(wise.business, t["id"])
    assert status == 201 and result["status"] == "COMPLETED" and result["errorCode"] is None
    assert result["type"] == "BALANCE" and result["balanceTransactionId"]
    assert wise.balance(wise.business, "EUR")["amount"]["value"] == before - Decimal("333.33")
    status, err, _ = wise.fund(wise.business, t["id"])
    assert status == 422 and err["errors"][0]["code"] == "transfer.invalid-state"
    assert wise.balance(wise.business, "EUR")["amount"]["value"] == before - Decimal("333.33")
    debit = [d for k, d in wise.events if k == "balances#update"]
    assert len(debit) == 1 and debit[0]["transaction_type"] == "debit" and debit[0]["amount"] == Decimal("333.33")
    assert debit[0]["post_transaction_balance_amount"] == before - Decimal("333.33")

    # not enough money: 2xx, status REJECTED, nothing moves
    eur = wise.balance(wise.business, "EUR")
    wise.control("POST", f"balances/{eur['id']}", {"amount": "1.00"})
    poor = wise.transfer(amount=50)
    status, result, _ = wise.fund(wise.business, poor["id"])
    assert status == 201 and result["status"] == "REJECTED" and result["errorCode"] == "transfer.insufficient_funds"
    assert wise.status_of(poor["id"]) == "incoming_payment_waiting"
    assert wise.balance(wise.business, "EUR")["amount"]["value"] == Decimal("1.00")
    # wrong profile or wrong user
    assert wise.fund(wise.personal, poor["id"])[0] == 404
    assert wise.fund(wise.business, poor["id"], token=wise.other)[0] == 403


def test_sca_refusal_then_approval_in_wise(wise: Wise) -> None:
    wise.control("POST", "sca", {"profileId": wise.business, "enabled": True})
    t = wise.transfer(amount=20)
    status, _, headers = wise.fund(wise.business, t["id"])
    assert status == 403
    assert headers["x-2fa-approval-result"] == "REJECTED" and uuid.UUID(headers["x-2fa-approval"])
    assert wise.status_of(t["id"]) == "incoming_payment_waiting"
    assert wise.control("GET", f"transfers/{t['id']}")["scaPending"] is True
    approved = wise.control("POST", f"transfers/{t['id']}/approve")
    assert approved["status"] == "COMPLETED"
    detail = wise.control("GET", f"transfers/{t['id']}")
    assert detail["funded"] and not detail["scaPending"]
    assert wise.fund(wise.business, t["id"])[0] == 422
    # the switch is per profile
    personal = wise.transfer(profile=wise.personal, amount=5)
    assert wise.fund(wise.personal, personal["id"])[1]["status"] == "COMPLETED"


# ------------------------------------------------------------------ state machine

def test_funded_transfer_walks_the_happy_path_on_the_clock(wise: Wise) -> None:
    wise.control("POST", "config", {"bounce_share": 0, "delays": {
        "processing": 60, "funds_converted": 120, "outgoing_payment_sent": 300, "outgoing_payment_received": 600}})
    t = wise.transfer(amount=40)
    wise.fund(wise.business, t["id"])
    seen = [wise.status_of(t["id"])]
    for step in (61, 120, 300):
        wise.advance(step)
        seen.append(wise.status_of(t["id"]))
    # Wise's final state of a normal transfer is outgoing_payment_sent: no receipt follows
    assert seen == ["incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent"]
    wise.advance(30 * 86400)
    assert wise.status_of(t["id"]) == "outgoing_payment_sent"
    # unless a test asks for the optional receipt
    wise.control("POST", "config", {"receipt": True})
    t = wise.transfer(amount=40)
    wise.fund(wise.business, t["id"])
    seen = [wise.status_of(t["id"])]
    for step in (61, 120, 300, 600):
        wise.advance(step)
        seen.append(wise.status_of(t["id"]))
    assert seen == ["incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent",
                    "outgoing_payment_received"]
    history = wise.control("GET", f"transfers/{t['id']}")["history"]
    assert [h["state"] for h in history] == seen
    gaps = [round(b["occurredAtEpoch"] - a["occurredAtEpoch"]) for a, b in zip(history[1:], history[2:], strict=False)]
    assert gaps == [120, 300, 600]
    changes = [d for k, d in wise.events if k == "transfers#state-change" and d["resource"]["id"] == t["id"]]
    assert [(c["previous_state"], c["current_state"]) for c in changes] == list(zip([None, *seen[:-1]], seen, strict=True))
    assert changes[0]["resource"] == {"type": "transfer", "id": t["id"], "profile_id": wise.business,
                                      "account_id": t["targetAccount"]}
    assert changes[-1]["occurred_at"].endswith("Z")
    wise.advance(30 * 86400)
    assert wise.status_of(t["id"]) == "outgoing_payment_received"


def test_scripted_rollback_path_and_refund_credit(wise: Wise) -> None:
    t = wise.transfer(amount="77.70")
    before = wise.balance(wise.business, "EUR")["amount"]["value"]
    wise.fund(wise.business, t["id"])
    steps = [["processing", 60], ["outgoing_payment_sent", 120], ["bounced_back", 300], ["processing", 360],
             ["funds_refunded", 600]]
    detail = wise.control("POST", f"transfers/{t['id']}/script", {"steps": steps})
    assert [s["state"] for s in detail["scheduled"]] == [s for s, _ in steps]
    wise.advance(310)
    assert wise.status_of(t["id"]) == "bounced_back"
    wise.advance(60)
    assert wise.status_of(t["id"]) == "processing"  # rolled back to an earlier state
    wise.advance(300)
    assert wise.status_of(t["id"]) == "funds_refunded"
    history = wise.control("GET", f"transfers/{t['id']}")["history"]
    assert [h["state"] for h in history] == ["incoming_payment_waiting", *(s for s, _ in steps)]
    times = [h["occurredAtEpoch"] for h in history]
    assert times == sorted(times)
    assert wise.balance(wise.business, "EUR")["amount"]["value"] == before  # debited, then refunded
    kinds = [d["transaction_type"] for k, d in wise.events if k == "balances#update"]
    assert kinds == ["debit", "credit"]
    status, body, _ = wise.call("POST", "/v1/transfers", {})
    assert status == 422
    bad = wise.c.post(f"/wise/_control/transfers/{t['id']}/script", json={"steps": [["flying", 1]]})
    assert bad.status_code == 400



def test_each_profile_has_recipients_that_stand_for_its_own_balances(wise: Wise) -> None:
    for profile in (wise.personal, wise.business):
        standard = {b["currency"]: b for b in wise.get(f"/v4/profiles/{profile}/balances?types=STANDARD")}
        v1 = [r for r in wise.get(f"/v1/accounts?profile={profile}") if r["ownedByCustomer"]]
        v2 = [r for r in wise.get(f"/v2/accounts?profileId={profile}&size=100")["content"] if r["ownedByCustomer"]]
        # one per balance with account details (EUR, GBP, USD), in both shapes, same ids
        assert sorted(r["currency"] for r in v1) == ["EUR", "GBP", "USD"] and set(standard) >= {"EUR", "GBP", "USD"}
        assert [r["id"] for r in v1] == [r["id"] for r in v2]
        name = next(p for p in wise.get("/v2/profiles") if p["id"] == profile)["fullName"]
        for r1, r2 in zip(v1, v2, strict=True):
            assert r1["profile"] == profile and r1["accountHolderName"] == name and r1["active"]
            assert r2["profileId"] == profile and r2["name"]["fullName"] == name
            assert r2["currency"] == r1["currency"] and r2["type"] == r1["type"].upper()
        gbp = next(r for r in v1 if r["currency"] == "GBP")
        assert gbp["type"] == "sort_code" and gbp["details"]["sortCode"] and gbp["details"]["accountNumber"]
        # the third parties are still there, and are not the customer's
        assert any(not r["ownedByCustomer"] for r in wise.get(f"/v1/accounts?profile={profile}"))
    # seeded history only pays third parties
    owned = {r["id"] for r in wise.get(f"/v1/accounts?profile={wise.business}") if r["ownedByCustomer"]}
    listed = wise.get(f"/v1/transfers?profile={wise.business}&limit=100")
    assert listed and not {t["targetAccount"] for t in listed} & owned


def test_a_transfer_to_an_own_balance_recipient_credits_that_balance_when_it_is_sent(wise: Wise) -> None:
    wise.control("POST", "config", {"bounce_share": 0})
    own_gbp = next(r["id"] for r in wise.get(f"/v1/accounts?profile={wise.business}")
                   if r["ownedByCustomer"] and r["currency"] == "GBP")
    eur0 = wise.balance(wise.business, "EUR")["amount"]["value"]
    gbp0 = wise.balance(wise.business, "GBP")["amount"]["value"]
    q = wise.quote(wise.business, "EUR", "GBP", sourceAmount=100)
    status, t, _ = wise.call("POST", "/v1/transfers", {"targetAccount": own_gbp, "quoteUuid": q["id"],
                                                      "customerTransactionId": str(uuid.uuid4())})
    assert status == 200, t
    assert wise.fund(wise.business, t["id"])[1]["status"] == "COMPLETED"
    wise.advance(160)  # processing after 30 s, funds_converted after 120 more, sent 300 s later
    assert wise.status_of(t["id"]) == "funds_converted"
    assert wise.balance(wise.business, "GBP")["amount"]["value"] == gbp0  # nothing arrives before it is sent
    wise.advance(3000)
    assert wise.status_of(t["id"]) == "outgoing_payment_sent"
    assert wise.balance(wise.business, "EUR")["amount"]["value"] == eur0 - Decimal(100)
    assert wise.balance(wise.business, "GBP")["amount"]["value"] == gbp0 + t["targetValue"]
    moves = [(d["currency"], d["transaction_type"], d["amount"]) for k, d in wise.events if k == "balances#update"]
    assert moves == [("EUR", "debit", Decimal(100)), ("GBP", "credit", t["targetValue"])]
    # a later step to the same state is no change: no second credit, no history entry
    wise.control("POST", f"transfers/{t['id']}/script", {"steps": [["outgoing_payment_sent", 1]]})
    wise.advance(2)
    assert wise.balance(wise.business, "GBP")["amount"]["value"] == gbp0 + t["targetValue"]
    history = [h["state"] for h in wise.control("GET", f"transfers/{t['id']}")["history"]]
    assert history.count("outgoing_payment_sent") == 1
    # nor does a receipt a test asks for afterwards
    wise.control("POST", f"transfers/{t['id']}/script", {"steps": [["outgoing_payment_received", 1]]})
    wise.advance(2)
    assert wise.balance(wise.business, "GBP")["amount"]["value"] == gbp0 + t["targetValue"]
    # a payout to a third party credits none of our balances
    usd0 = wise.balance(wise.business, "USD")["amount"]["value"]
    p = wise.transfer(target="USD", amount=50)
    wise.fund(wise.business, p["id"])
    wise.advance(3000)
    assert wise.status_of(p["id"]) == "outgoing_payment_sent"
    assert wise.balance(wise.business, "USD")["amount"]["value"] == usd0

def test_bounce_share_sends_funded_transfers_down_the_bounce_path() -> None:
    w = Wise(transfers=20, bounce_share=1)
    t = w.transfer(amount=10)
    w.fund(w.business, t["id"])
    w.advance(10 * 86400)
    history = [h["state"] for h in w.control("GET", f"transfers/{t['id']}")["history"]]
    assert history == ["incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent",
                       "bounced_back", "processing", "cancelled", "funds_refunded"]


def test_unfunded_transfer_is_cancelled_after_14_days(wise: Wise) -> None:
    t = wise.transfer(amount=15)
    wise.advance(14 * 86400 - 5)
    assert wise.status_of(t["id"]) == "incoming_payment_waiting"
    wise.advance(10)
    assert wise.status_of(t["id"]) == "cancelled"
    assert wise.fund(wise.business, t["id"])[0] == 422


def test_cancel_before_conversion_only(wise: Wise) -> None:
    t = wise.transfer(amount=15)
    status, body, _ = wise.call("PUT", f"/v1/transfers/{t['id']}/cancel")
    assert status == 200 and body["status"] == "cancelled"
    funded = wise.transfer(amount=15)
    wise.fund(wise.business, funded["id"])
    wise.control("POST", f"transfers/{funded['id']}/script", {"steps": [["outgoing_payment_sent", 1]]})
    wise.advance(2)
    status, body, _ = wise.call("PUT", f"/v1/transfers/{funded['id']}/cancel")
    assert status == 409 and body["errors"][0]["code"] == "transfer.cancellation.not.allowed"
    # cancelled while processing: the money comes back
    before = wise.balance(wise.business, "EUR")["amount"]["value"]
    early = wise.transfer(amount=15)
    wise.fund(wise.business, early["id"])
    assert wise.call("PUT", f"/v1/transfers/{early['id']}/cancel")[0] == 200
    wise.advance(61)
    assert wise.status_of(early["id"]) == "funds_refunded"
    assert wise.balance(wise.business, "EUR")["amount"]["value"] == before


def test_seeded_in_flight_transfers_keep_moving(wise: Wise) -> None:
    waiting = wise.get(f"/v1/transfers?profile={wise.business}&status=processing,outgoing_payment_sent&limit=100")
    assert waiting
    wise.advance(60 * 86400)
    statuses = {wise.status_of(t["id"]) for t in waiting}
    assert statuses <= {"outgoing_payment_sent", "funds_refunded"}


# ------------------------------------------------------------------ seed data

def test_seed_is_deterministic() -> None:
    a, b, c = Wise(seed=5), Wise(seed=5), Wise(seed=6)
    assert a.tokens == b.tokens and a.tokens != c.tokens
    for path in ("/v2/profiles", f"/v1/transfers?profile={a.business}&limit=100&offset=100",
                 f"/v4/profiles/{a.business}/balances?types=STANDARD,SAVINGS", f"/v1/accounts?profile={a.business}"):
        assert a.c.get(f"/wise{path}", headers={"Authorization": f"Bearer {a.token}"}).data == \
            b.c.get(f"/wise{path}", headers={"Authorization": f"Bearer {b.token}"}).data
    assert a.get(f"/v1/transfers?profile={a.business}&limit=100") != \
        c.get(f"/v1/transfers?profile={c.business}&limit=100", token=c.token)


def test_ten_thousand_transfers_in_every_state() -> None:
    # (how fast they build is a benchmark's business, not a test's)
    cfg = merge_config({"profiles": 3, "transfers": 10_000})
    world, _ = build_world(3, cfg, time.time())
    assert len(world.transfers) == 10_000
    # every state but the receipt Wise never reports; every state when a test asks for it
    assert {t.status for t in world.transfers.values()} == set(STATES) - {"outgoing_payment_received"}
    assert not any(s == "outgoing_payment_received" for t in world.transfers.values() for s, _ in t.history)
    receipts, _ = build_world(3, merge_config({"profiles": 3, "transfers": 10_000, "receipt": True}), time.time())
    assert {t.status for t in receipts.transfers.values()} == set(STATES)
    assert {t.source_currency for t in world.transfers.values()} >= {"JPY", "KWD", "EUR"}
    assert max(t.source_value for t in world.transfers.values()) > Decimal(10_000_000)
    w = Wise(transfers=10)
    assert set(w.control("GET", "summary")["byStatus"]) == set(STATES) - {"outgoing_payment_received"}
    assert w.c.post("/_sandbox/reset", json={"seed": 9, "size": {"wise": {"transfers": 10_000}}}).status_code == 200
    assert w.control("GET", "summary")["transfers"] == 10_000


# ------------------------------------------------------------------ counters, faults, content type

def test_counters_per_endpoint_token_and_profile(wise: Wise) -> None:
    wise.c.post("/_sandbox/counters/reset")
    wise.get("/v2/profiles")
    wise.get(f"/v1/transfers?profile={wise.business}&limit=10")
    wise.get(f"/v1/transfers?profile={wise.business}&limit=10&offset=10")
    wise.call("GET", "/v2/profiles", token="nope")
    counters = wise.c.get("/_sandbox/counters?prefix=wise").get_json()
    assert counters["wise:calls"] == 4
    assert counters["wise:GET /v1/transfers"] == 2 and counters["wise:GET /v2/profiles"] == 2
    assert counters[f"wise:{wise.token}:calls"] == 3
    assert counters[f"wise:{wise.business}:calls"] == 2


def test_injected_429_and_500_then_recovery(wise: Wise) -> None:
    wise.control("POST", "faults", {"endpoint": "GET /v1/transfers", "status": 429, "count": 2, "retryAfter": 7})
    for _ in range(2):
        status, body, headers = wise.call("GET", f"/v1/transfers?profile={wise.business}")
        assert status == 429 and headers["Retry-After"] == "7"
    assert wise.call("GET", f"/v1/transfers?profile={wise.business}")[0] == 200
    wise.control("POST", "faults", {"endpoint": "*", "status": 500, "count": 1})
    assert wise.call("GET", "/v2/profiles")[0] == 500
    assert wise.call("GET", "/v2/profiles")[0] == 200
    assert wise.c.post("/wise/_control/faults", json={"endpoint": "GET /nope"}).status_code == 400


def test_post_without_json_content_type_fails_like_wise(wise: Wise) -> None:
    r = wise.c.post(f"/wise/v3/profiles/{wise.business}/quotes", headers={"Authorization": f"Bearer {wise.token}"},
                    data=json.dumps({"sourceCurrency": "EUR", "targetCurrency": "GBP", "sourceAmount": 1}),
                    content_type="text/plain")
    assert r.status_code == 500
