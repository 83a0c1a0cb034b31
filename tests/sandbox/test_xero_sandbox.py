"""The Xero stand-in through the Flask test client: OAuth, data, filters, writes, payments."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from paysync_dev.sandbox.server import create_app
from paysync_dev.sandbox.xero import XeroSandbox

API = "/xero/api.xro/2.0"
ANCHOR = "2025-06-15"
MSDATE = re.compile(r"^/Date\(\d+\+0000\)/$")


def make_client(seed: int = 42, **xero: Any) -> FlaskClient:
    size = {"tenants": 2, "contacts": 30, "invoices": 300, "anchor_date": ANCHOR}
    size.update(xero)
    app = create_app(seed=seed, scale=0.0, size={"xero": size}, providers=[XeroSandbox()])
    return app.test_client()


def dec(resp: Any) -> Any:
    return json.loads(resp.get_data(as_text=True), parse_float=Decimal)


def grant(client: FlaskClient, client_id: str = "app-a", tenants: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"client_id": client_id, "client_secret": "secret"}
    if tenants is not None:
        body["tenants"] = tenants
    resp = client.post("/xero/_control/grant", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def headers(tok: dict[str, Any], tenant: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {tok['access_token']}"}
    if tenant is not None:
        out["xero-tenant-id"] = tenant
    return out


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def advance(client: FlaskClient, seconds: float) -> None:
    assert client.post("/_sandbox/clock", json={"advance": seconds}).status_code == 200


@pytest.fixture()
def client() -> FlaskClient:
    return make_client()


@pytest.fixture()
def ctx(client: FlaskClient) -> tuple[FlaskClient, dict[str, str], str]:
    tok = grant(client)
    tenant = tok["tenants"][0]
    return client, headers(tok, tenant), tenant


def all_invoices(client: FlaskClient, h: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    resp = client.get(f"{API}/Invoices", headers=h, query_string=params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dec(resp)["Invoices"]


# ----------------------------------------------------------------------------- OAuth


def register(client: FlaskClient, client_id: str, kind: str = "granular", uris: tuple[str, ...] = ("http://localhost/cb",),
             secret: str | None = None) -> None:
    resp = client.post("/xero/_control/apps", json={"client_id": client_id, "redirect_uris": list(uris),
                                                    "kind": kind, "client_secret": secret})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def authorize(client: FlaskClient, client_id: str = "web-app", state: str = "xyz") -> str:
    register(client, client_id)
    resp = client.get("/xero/login/identity/connect/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": "http://localhost/cb",
        "scope": "openid offline_access accounting.invoices accounting.settings.read", "state": state})
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["Location"])
    query = parse_qs(loc.query)
    assert loc.netloc == "localhost" and loc.path == "/cb" and query["state"] == [state]
    return query["code"][0]


def exchange(client: FlaskClient, code: str, client_id: str = "web-app", secret: str = "s3cret") -> Any:
    return client.post("/xero/identity/connect/token", headers=basic(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/cb"})


def refresh(client: FlaskClient, rt: str, client_id: str = "web-app", secret: str = "s3cret") -> Any:
    return client.post("/xero/identity/connect/token", data={
        "grant_type": "refresh_token", "refresh_token": rt, "client_id": client_id, "client_secret": secret})


def test_authorize_code_exchange_and_connections(client: FlaskClient) -> None:
    code = authorize(client)
    resp = exchange(client, code)
    assert resp.status_code == 200
    tok = resp.get_json()
    assert tok["expires_in"] == 1800 and tok["token_type"] == "Bearer" and tok["refresh_token"]
    assert exchange(client, code).get_json() == {"error": "invalid_grant"}  # codes are single use
    conns = client.get("/xero/connections", headers=headers(tok))
    assert conns.status_code == 200
    assert "X-AppMinLimit-Remaining" in conns.headers and "X-MinLimit-Remaining" not in conns.headers
    listing = conns.get_json()
    assert len(listing) == 2
    for c in listing:
        assert set(c) >= {"id", "tenantId", "tenantType", "tenantName", "createdDateUtc", "updatedDateUtc"}
        assert c["tenantType"] == "ORGANISATION"
    # a wrong secret for a now-known client is refused
    bad = client.post("/xero/identity/connect/token", headers=basic("web-app", "nope"),
                      data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_client"


def test_authorize_can_narrow_tenants_and_pkce(client: FlaskClient) -> None:
    import hashlib
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    register(client, "pkce-app")
    resp = client.get("/xero/login/identity/connect/authorize", query_string={
        "response_type": "code", "client_id": "pkce-app", "redirect_uri": "http://localhost/cb",
        "scope": "offline_access", "sandbox_tenants": "1", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    resp = client.post("/xero/identity/connect/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/cb",
        "client_id": "pkce-app", "code_verifier": verifier})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    listing = client.get("/xero/connections", headers=headers(resp.get_json())).get_json()
    tenants = client.get("/xero/_control/tenants").get_json()
    assert [c["tenantId"] for c in listing] == [tenants[1]["tenantId"]]


def test_strict_redirect_uris_match_exactly(client: FlaskClient) -> None:
    register(client, "exact-app", uris=("http://localhost:8911/callback",))
    args = {"response_type": "code", "client_id": "exact-app", "scope": "offline_access", "state": "s"}
    # the registered URI, character for character, is honoured
    ok = client.get("/xero/login/identity/connect/authorize",
                    query_string=dict(args, redirect_uri="http://localhost:8911/callback"))
    assert ok.status_code == 302 and ok.headers["Location"].startswith("http://localhost:8911/callback?")
    # 127.0.0.1 for localhost, another port, a trailing slash: each is another URI, refused
    for other in ("http://127.0.0.1:8911/callback", "http://localhost:8912/callback", "http://localhost:8911/callback/"):
        resp = client.get("/xero/login/identity/connect/authorize", query_string=dict(args, redirect_uri=other))
        assert resp.status_code == 400, other
        assert resp.get_json()["error"] == "invalid_request" and "not registered" in resp.get_json()["error_description"]
    # an app first seen at the authorize page gets paysync's default URI only
    seen = client.get("/xero/login/identity/connect/authorize",
                      query_string=dict(args, client_id="new-app", redirect_uri="http://localhost:8910/callback"))
    assert seen.status_code == 302
    assert client.get("/xero/login/identity/connect/authorize", query_string=dict(
        args, client_id="new-app", redirect_uri="http://localhost:9999/callback")).status_code == 400


def test_strict_scopes_by_app_kind_and_per_endpoint(client: FlaskClient) -> None:
    register(client, "new-style")
    register(client, "old-style", kind="legacy")
    args = {"response_type": "code", "redirect_uri": "http://localhost/cb", "state": "s"}
    # a granular app may not ask for the broad scopes; an old one may
    broad = client.get("/xero/login/identity/connect/authorize", query_string=dict(
        args, client_id="new-style", scope="offline_access accounting.transactions"))
    assert broad.status_code == 400 and broad.get_json()["error"] == "unauthorized_client"
    assert "accounting.transactions" in broad.get_json()["error_description"]
    assert client.get("/xero/login/identity/connect/authorize", query_string=dict(
        args, client_id="old-style", scope="offline_access accounting.transactions")).status_code == 302
    unknown = client.get("/xero/login/identity/connect/authorize", query_string=dict(
        args, client_id="new-style", scope="offline_access accounting.everything"))
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_scope"
    # a token with invoices read only: invoices read, no payments, no invoice writes
    tok = client.post("/xero/_control/grant", json={"client_id": "new-style", "scope": "accounting.invoices.read"})
    tok = tok.get_json()
    h = headers(tok, tok["tenants"][0])
    assert client.get(f"{API}/Invoices", headers=h, query_string={"page": 1}).status_code == 200
    for method, path in (("GET", "Payments"), ("PUT", "Invoices"), ("GET", "Organisation"), ("GET", "Contacts")):
        resp = client.open(f"{API}/{path}", method=method, headers=h, json={})
        assert resp.status_code == 401, (method, path)
        assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
        assert resp.get_json()["Detail"] == "AuthorizationUnsuccessful"
    # the broad scope of an old app grants invoices and payments
    old = client.post("/xero/_control/grant", json={"client_id": "old-style",
                                                     "scope": "accounting.transactions"}).get_json()
    assert client.get(f"{API}/Payments", headers=headers(old, old["tenants"][0])).status_code == 200
    # a narrowed grant narrows its live tokens
    assert client.post("/xero/_control/apps/old-style/narrow",
                       json={"remove": ["accounting.transactions"]}).get_json()["grants"] == 1
    assert client.get(f"{API}/Payments", headers=headers(old, old["tenants"][0])).status_code == 401


def test_lenient_accepts_any_redirect_uri_and_scope() -> None:
    app = create_app(seed=1, scale=0.0, size={"xero": {"tenants": 1, "contacts": 5, "invoices": 5}},
                     providers=[XeroSandbox()], lenient=True)
    client = app.test_client()
    resp = client.get("/xero/login/identity/connect/authorize", query_string={
        "response_type": "code", "client_id": "any", "redirect_uri": "http://127.0.0.1:1/x",
        "scope": "offline_access accounting.transactions", "state": "s"})
    assert resp.status_code == 302
    tok = client.post("/xero/_control/grant", json={"client_id": "any", "scope": "offline_access"}).get_json()
    assert client.get(f"{API}/Payments", headers=headers(tok, tok["tenants"][0])).status_code == 200
    # and the switch survives a reset
    assert client.post("/_sandbox/reset", json={"seed": 1}).get_json()["lenient"] is True


def test_answers_carry_the_virtual_clock_in_the_date_header(client: FlaskClient) -> None:
    from email.utils import parsedate_to_datetime

    advance(client, 86400)
    now = client.get("/_sandbox/clock").get_json()["now"]
    resp = client.get("/xero/connections")
    assert abs(parsedate_to_datetime(resp.headers["Date"]).timestamp() - now) < 2


def test_refresh_rotation_grace_and_expiry(client: FlaskClient) -> None:
    tok = exchange(client, authorize(client)).get_json()
    tenant = client.get("/xero/connections", headers=headers(tok)).get_json()[0]["tenantId"]
    rt1 = tok["refresh_token"]
    first = refresh(client, rt1)
    assert first.status_code == 200
    pair2 = first.get_json()
    assert pair2["refresh_token"] != rt1 and pair2["access_token"] != tok["access_token"]
    # the superseded token, again at once: the same new pair (Xero style), not invalid_grant
    again = refresh(client, rt1).get_json()
    assert again["refresh_token"] == pair2["refresh_token"] and again["access_token"] == pair2["access_token"]

    advance(client, 29 * 60)
    within = refresh(client, rt1)
    assert within.status_code == 200 and within.get_json()["refresh_token"] == pair2["refresh_token"]
    assert within.get_json()["expires_in"] == 60
    assert client.get(f"{API}/Organisation", headers=headers(pair2, tenant)).status_code == 200

    advance(client, 2 * 60)  # 31 minutes after the rotation
    late = refresh(client, rt1)
    assert late.status_code == 400 and late.get_json() == {"error": "invalid_grant"}
    expired = client.get(f"{API}/Organisation", headers=headers(pair2, tenant))
    assert expired.status_code == 401 and expired.get_json()["Detail"].startswith("TokenExpired")
    assert "WWW-Authenticate" in expired.headers
    pair3 = refresh(client, pair2["refresh_token"])
    assert pair3.status_code == 200
    assert client.get(f"{API}/Organisation", headers=headers(pair3.get_json(), tenant)).status_code == 200

    counters = client.get("/_sandbox/counters", query_string={"prefix": "xero:web-app:"}).get_json()
    assert counters["xero:web-app:refresh"] == 4  # every successful refresh call, replays included
    assert counters["xero:web-app:refresh_replay"] == 2
    assert counters["xero:web-app:refresh_failed"] == 1


def test_access_token_expires_after_30_minutes(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    advance(client, 1799)
    assert client.get(f"{API}/Organisation", headers=h).status_code == 200
    advance(client, 2)
    resp = client.get(f"{API}/Organisation", headers=h)
    assert resp.status_code == 401 and resp.get_json()["Title"] == "Unauthorized"


def test_revocation_kills_the_token_family(client: FlaskClient) -> None:
    tok = exchange(client, authorize(client)).get_json()
    resp = client.post("/xero/identity/connect/revocation", headers=basic("web-app", "s3cret"),
                       data={"token": tok["refresh_token"]})
    assert resp.status_code == 200
    assert refresh(client, tok["refresh_token"]).get_json() == {"error": "invalid_grant"}
    assert client.get("/xero/connections", headers=headers(tok)).status_code == 401


def test_disconnect_forbids_the_tenant(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, tenant = ctx
    conns = client.get("/xero/connections", headers={"Authorization": h["Authorization"]}).get_json()
    conn = next(c for c in conns if c["tenantId"] == tenant)
    resp = client.delete(f"/xero/connections/{conn['id']}", headers={"Authorization": h["Authorization"]})
    assert resp.status_code == 204
    assert client.get(f"{API}/Invoices", headers=h).status_code == 403
    left = client.get("/xero/connections", headers={"Authorization": h["Authorization"]}).get_json()
    assert tenant not in [c["tenantId"] for c in left]
    # another tenant of the same grant still works; missing tenant header is refused
    other = left[0]["tenantId"]
    assert client.get(f"{API}/Organisation", headers=dict(h, **{"xero-tenant-id": other})).status_code == 200
    assert client.get(f"{API}/Organisation", headers={"Authorization": h["Authorization"]}).status_code == 403
    assert client.get(f"{API}/Organisation").status_code == 401


# ------------------------------------------------------------------------------- data


def snapshot(seed: int) -> tuple[str, list[Any], list[Any], list[Any]]:
    client = make_client(seed=seed)
    tok = grant(client)
    tenant = tok["tenants"][0]
    h = headers(tok, tenant)
    inv = dec(client.get(f"{API}/Invoices", headers=h, query_string={"page": 1, "pageSize": 1000}))["Invoices"]
    con = dec(client.get(f"{API}/Contacts", headers=h))["Contacts"]
    pay = dec(client.get(f"{API}/Payments", headers=h))["Payments"]
    return tenant, inv, con, pay


def test_same_seed_same_data_different_seed_different() -> None:
    a, b, c = snapshot(7), snapshot(7), snapshot(8)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]


def test_seed_data_is_consistent_and_varied(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    raw = client.get(f"{API}/Invoices", headers=h, query_string={"page": 1, "pageSize": 1000})
    text = raw.get_data(as_text=True)
    assert re.search(r'"AmountDue":\d', text) and '"AmountDue":"' not in text  # numbers, not strings
    invoices = dec(raw)["Invoices"]
    assert len(invoices) == 300
    payments = {p["PaymentID"]: p for p in dec(client.get(f"{API}/Payments", headers=h))["Payments"]}
    assert {i["Status"] for i in invoices} >= {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED"}
    assert {i["CurrencyCode"] for i in invoices} >= {"USD", "EUR", "GBP", "JPY"}
    assert {i["Type"] for i in invoices} == {"ACCREC", "ACCPAY"}
    anchor_ms = 1749945600000  # 2025-06-15
    due = lambda i: int(i["DueDate"][6:-7])  # noqa: E731
    auth = [i for i in invoices if i["Status"] == "AUTHORISED"]
    assert any(due(i) < anchor_ms for i in auth) and any(due(i) >= anchor_ms for i in auth)
    assert any(i["AmountPaid"] > 0 for i in auth)  # part-paid
    for inv in invoices:
        assert inv["LineItems"]
        assert sum(li["LineAmount"] for li in inv["LineItems"]) == inv["SubTotal"]
        assert sum(li["TaxAmount"] for li in inv["LineItems"]) == inv["TotalTax"]
        assert inv["Total"] == inv["SubTotal"] + inv["TotalTax"]
        assert inv["AmountDue"] == inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"]
        assert sum(payments[p["PaymentID"]]["Amount"] for p in inv["Payments"]) == inv["AmountPaid"]
        if inv["Status"] == "PAID":
            assert inv["AmountDue"] == 0 and "FullyPaidOnDate" in inv
        if inv["CurrencyCode"] == "JPY":
            assert all(li["LineAmount"] == li["LineAmount"].to_integral_value() for li in inv["LineItems"])
        for key in ("Date", "DueDate", "UpdatedDateUTC"):
            assert MSDATE.match(inv[key]), inv[key]
        assert re.match(r"^\d{4}-\d\d-\d\dT00:00:00$", inv["DateString"])
        assert int(inv["Date"][6:-7]) // 1000 % 86400 == 0
    contacts = dec(client.get(f"{API}/Contacts", headers=h))["Contacts"]
    names = [c["Name"] for c in contacts]
    assert len(set(names)) < len(names)  # deliberate duplicates
    accounts = dec(client.get(f"{API}/Accounts", headers=h, query_string={"where": 'Type=="BANK"'}))["Accounts"]
    assert {a["CurrencyCode"] for a in accounts} >= {"USD", "EUR", "GBP", "JPY"}
    assert all(a["Type"] == "BANK" and a["Code"] for a in accounts)


def test_large_seed_builds() -> None:
    client = make_client(tenants=1, contacts=100, invoices=5000)
    assert client.get("/xero/_control/tenants").get_json()[0]["invoices"] == 5000


# ---------------------------------------------------------------------- reads, filters


def test_paging(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    body = dec(client.get(f"{API}/Invoices", headers=h, query_string={"page": 2}))
    assert body["pagination"] == {"page": 2, "pageSize": 100, "pageCount": 3, "itemCount": 300}
    assert len(body["Invoices"]) == 100 and body["Status"] == "OK" and body["Id"]
    assert re.match(r"^/Date\(\d+\)/$", body["DateTimeUTC"])
    capped = dec(client.get(f"{API}/Invoices", headers=h, query_string={"page": 1, "pageSize": 5000}))
    assert capped["pagination"]["pageSize"] == 1000 and len(capped["Invoices"]) == 300
    pages = [dec(client.get(f"{API}/Invoices", headers=h, query_string={"page": p, "pageSize": 40}))
             for p in range(1, 10)]
    ids = [i["InvoiceID"] for p in pages for i in p["Invoices"]]
    assert len(ids) == 300 == len(set(ids)) and pages[-1]["Invoices"] == []
    unpaged = dec(client.get(f"{API}/Invoices", headers=h))
    assert "pagination" not in unpaged and len(unpaged["Invoices"]) == 300
    assert all(i["LineItems"] == [] for i in unpaged["Invoices"])  # as Xero, without paging


def test_where_statuses_ids_and_order(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    everything = all_invoices(client, h)
    where = 'Type=="ACCPAY" AND Status=="AUTHORISED" AND AmountDue>0'
    got = all_invoices(client, h, where=where)
    expect = [i for i in everything if i["Type"] == "ACCPAY" and i["Status"] == "AUTHORISED" and i["AmountDue"] > 0]
    assert got and [i["InvoiceID"] for i in got] == [i["InvoiceID"] for i in expect]
    contact = everything[0]["Contact"]["ContactID"]
    mine = all_invoices(client, h, where=f'Contact.ContactID==guid("{contact.upper()}") AND Type=="ACCPAY"')
    assert mine and all(i["Contact"]["ContactID"] == contact and i["Type"] == "ACCPAY" for i in mine)
    statuses = all_invoices(client, h, Statuses="DRAFT,PAID")
    assert statuses and {i["Status"] for i in statuses} == {"DRAFT", "PAID"}
    assert len(statuses) == sum(1 for i in everything if i["Status"] in ("DRAFT", "PAID"))
    picked = [everything[3]["InvoiceID"], everything[9]["InvoiceID"]]
    assert {i["InvoiceID"] for i in all_invoices(client, h, IDs=",".join(picked))} == set(picked)
    ordered = all_invoices(client, h, order="UpdatedDateUTC ASC")
    stamps = [int(i["UpdatedDateUTC"][6:-7]) for i in ordered]
    assert stamps == sorted(stamps)
    desc = all_invoices(client, h, order="Total DESC")
    assert [i["Total"] for i in desc] == sorted((i["Total"] for i in desc), reverse=True)
    dated = all_invoices(client, h, where="Date>=DateTime(2025,06,01)")
    assert dated and all(int(i["Date"][6:-7]) >= 1748736000000 for i in dated)
    bad = client.get(f"{API}/Invoices", headers=h, query_string={"where": 'Type=="ACCPAY" AND ('})
    assert bad.status_code == 400 and bad.get_json()["Type"] == "QueryParseException"


def test_if_modified_since(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    everything = all_invoices(client, h)
    newest = max(int(i["UpdatedDateUTC"][6:-7]) for i in everything)
    advance(client, 600)
    now = client.get("/_sandbox/clock").get_json()["now"]
    target = next(i for i in everything if i["Status"] == "AUTHORISED" and i["AmountPaid"] == 0)
    assert client.post(f"/xero/_control/invoices/{target['InvoiceID']}/edit",
                       json={"due_date": "2025-12-31"}).status_code == 200
    from datetime import UTC, datetime
    iso = datetime.fromtimestamp(now - 1, tz=UTC).isoformat()
    got = all_invoices(client, dict(h, **{"If-Modified-Since": iso}))
    assert [i["InvoiceID"] for i in got] == [target["InvoiceID"]]
    assert got[0]["DueDateString"] == "2025-12-31T00:00:00"
    rfc = datetime.fromtimestamp(now - 1, tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert len(all_invoices(client, dict(h, **{"If-Modified-Since": rfc}))) == 1
    boundary = datetime.fromtimestamp(newest / 1000, tz=UTC).isoformat(timespec="milliseconds")
    inclusive = all_invoices(client, dict(h, **{"If-Modified-Since": boundary}))
    assert len(inclusive) == 1 + sum(1 for i in everything if int(i["UpdatedDateUTC"][6:-7]) >= newest)
    paged = dec(client.get(f"{API}/Invoices", headers=dict(h, **{"If-Modified-Since": iso}),
                           query_string={"page": 1}))
    assert paged["pagination"]["itemCount"] == 1


def test_contacts_paging_where_and_create(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    body = dec(client.get(f"{API}/Contacts", headers=h, query_string={"page": 1, "pageSize": 10}))
    assert body["pagination"] == {"page": 1, "pageSize": 10, "pageCount": 3, "itemCount": 30}
    contacts = dec(client.get(f"{API}/Contacts", headers=h))["Contacts"]
    dup = next(n for n in (c["Name"] for c in contacts) if sum(c["Name"] == n for c in contacts) > 1)
    same = dec(client.get(f"{API}/Contacts", headers=h, query_string={"where": f'Name=="{dup}"'}))["Contacts"]
    assert len(same) >= 2 and all(c["Name"] == dup for c in same)
    made = client.put(f"{API}/Contacts", headers=h, json={"Contacts": [{"Name": "Brand New Supplier Ltd"}]})
    assert made.status_code == 200
    cid = made.get_json()["Contacts"][0]["ContactID"]
    twice = client.put(f"{API}/Contacts", headers=h, json={"Contacts": [{"Name": "Brand New Supplier Ltd"}]})
    assert twice.status_code == 400 and "must be unique" in json.dumps(twice.get_json())
    upd = client.post(f"{API}/Contacts/{cid}", headers=h, json={"Contacts": [{"EmailAddress": "ap@new.example"}]})
    assert upd.status_code == 200 and upd.get_json()["Contacts"][0]["EmailAddress"] == "ap@new.example"


# ------------------------------------------------------------------------------ writes


def open_bill(client: FlaskClient, h: dict[str, str], currency: str = "USD") -> dict[str, Any]:
    return next(i for i in all_invoices(client, h, where='Type=="ACCPAY" AND Status=="AUTHORISED"')
                if i["CurrencyCode"] == currency and i["AmountPaid"] == 0 and i["AmountDue"] > 10)


def pay(client: FlaskClient, h: dict[str, str], invoice_id: str, amount: Any, method: str = "put",
        day: str = "2025-06-20", code: str = "090", key: str | None = None) -> Any:
    hh = dict(h, **({"Idempotency-Key": key} if key else {}))
    payment = {"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": code}, "Date": day, "Amount": amount}
    body = json.dumps({"Payments": [payment]} if method == "put" else payment, default=str)
    body = body.replace(f'"Amount": "{amount}"', f'"Amount": {amount}')
    call = client.put if method == "put" else client.post
    return call(f"{API}/Payments", headers=dict(hh, **{"Content-Type": "application/json"}), data=body)


def test_create_update_and_locked_invoices(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    contact = dec(client.get(f"{API}/Contacts", headers=h))["Contacts"][0]["ContactID"]
    body = {"Invoices": [{"Type": "ACCPAY", "Contact": {"ContactID": contact}, "Date": "2025-06-10",
                          "DueDate": "2025-07-10", "CurrencyCode": "EUR", "Status": "AUTHORISED",
                          "InvoiceNumber": "SUP-1",
                          "LineItems": [{"Description": "Paper", "Quantity": 3, "UnitAmount": 10.05,
                                         "AccountCode": "400", "TaxType": "INPUT"}]}]}
    resp = client.put(f"{API}/Invoices", headers=dict(h, **{"Content-Type": "application/json"}),
                      data=json.dumps(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    inv = dec(resp)["Invoices"][0]
    assert (inv["SubTotal"], inv["TotalTax"], inv["Total"], inv["AmountDue"]) == (
        Decimal("30.15"), Decimal("3.02"), Decimal("33.17"), Decimal("33.17"))
    iid = inv["InvoiceID"]
    upd = client.post(f"{API}/Invoices/{iid}", headers=h, json={"Invoices": [{"Reference": "edited",
                                                                             "DueDate": "2025-08-01"}]})
    assert upd.status_code == 200 and dec(upd)["Invoices"][0]["DueDateString"] == "2025-08-01T00:00:00"
    assert pay(client, h, iid, "33.17", code="091").status_code == 200
    locked = client.post(f"{API}/Invoices", headers=h, json={"Invoices": [{"InvoiceID": iid, "Reference": "x"}]})
    assert locked.status_code == 400
    err = locked.get_json()
    assert (err["ErrorNumber"], err["Type"], err["Message"]) == (10, "ValidationException",
                                                                "A validation exception occurred")
    assert err["Elements"][0]["ValidationErrors"][0]["Message"]
    voided = next(i for i in all_invoices(client, h, Statuses="VOIDED"))
    again = client.post(f"{API}/Invoices/{voided['InvoiceID']}", headers=h, json={"Reference": "x"})
    assert again.status_code == 400 and again.get_json()["Type"] == "ValidationException"
    missing = client.put(f"{API}/Invoices", headers=h, json={"Invoices": [{"Type": "ACCREC"}]})
    assert missing.status_code == 400
    assert "Contact" in missing.get_json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_payment_validation_errors(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, tenant = ctx
    bill = open_bill(client, h)
    over = pay(client, h, bill["InvoiceID"], str(bill["AmountDue"] + Decimal("0.01")))
    assert over.status_code == 400
    body = over.get_json()
    assert body["Type"] == "ValidationException" and body["ErrorNumber"] == 10
    assert body["Elements"][0]["ValidationErrors"] == [
        {"Message": "Payment amount exceeds the amount outstanding on this document"}]
    missing = pay(client, h, "00000000-0000-0000-0000-000000000000", "1.00")
    assert missing.status_code == 400 and missing.get_json()["Elements"][0]["ValidationErrors"]
    lock = client.post(f"/xero/_control/tenants/{tenant}/period-lock", json={"date": "2025-06-30"})
    assert lock.status_code == 200
    locked = pay(client, h, bill["InvoiceID"], "1.00", day="2025-06-20")
    assert [e["Message"] for e in locked.get_json()["Elements"][0]["ValidationErrors"]] == [
        "The payment date cannot be before the period lock date"]
    org = dec(client.get(f"{API}/Organisation", headers=h))["Organisations"][0]
    assert org["PeriodLockDate"] == "/Date(1751241600000+0000)/"
    assert pay(client, h, bill["InvoiceID"], "1.00", day="2025-07-01").status_code == 200
    draft = next(i for i in all_invoices(client, h, Statuses="DRAFT"))
    assert "Authorised" in json.dumps(pay(client, h, draft["InvoiceID"], "1.00", day="2025-07-01").get_json())
    # summarizeErrors=false: 200 with a mix; the good one is saved
    mixed = client.put(f"{API}/Payments", headers=h, query_string={"summarizeErrors": "false"}, json={"Payments": [
        {"Invoice": {"InvoiceID": bill["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2025-07-02",
         "Amount": 1},
        {"Invoice": {"InvoiceID": bill["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2025-07-02",
         "Amount": 10 ** 9}]})
    assert mixed.status_code == 200
    results = mixed.get_json()["Payments"]
    assert results[0]["Status"] == "AUTHORISED" and results[1]["ValidationErrors"]


def test_payment_updates_invoice_and_deletion_reverses(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    bill = open_bill(client, h, "GBP")
    due = bill["AmountDue"]
    advance(client, 10)
    part = pay(client, h, bill["InvoiceID"], "5.00", code="092")
    assert part.status_code == 200
    p1 = dec(part)["Payments"][0]
    assert p1["Invoice"]["AmountDue"] == due - Decimal("5.00") and p1["PaymentType"] == "ACCPAYPAYMENT"
    rest = dec(pay(client, h, bill["InvoiceID"], str(due - Decimal("5.00")), code="092"))["Payments"][0]
    inv = dec(client.get(f"{API}/Invoices/{bill['InvoiceID']}", headers=h))["Invoices"][0]
    assert inv["Status"] == "PAID" and inv["AmountDue"] == 0 and inv["AmountPaid"] == due
    assert inv["UpdatedDateUTC"] != bill["UpdatedDateUTC"] and "FullyPaidOnDate" in inv
    advance(client, 10)
    deleted = client.post(f"{API}/Payments/{rest['PaymentID']}", headers=h, json={"Status": "DELETED"})
    assert deleted.status_code == 200 and deleted.get_json()["Payments"][0]["Status"] == "DELETED"
    after = dec(client.get(f"{API}/Invoices/{bill['InvoiceID']}", headers=h))["Invoices"][0]
    assert after["Status"] == "AUTHORISED" and after["AmountDue"] == due - Decimal("5.00")
    assert [p["PaymentID"] for p in after["Payments"]] == [p1["PaymentID"]]
    assert after["UpdatedDateUTC"] > inv["UpdatedDateUTC"] and "FullyPaidOnDate" not in after
    twice = client.post(f"{API}/Payments/{rest['PaymentID']}", headers=h, json={"Status": "DELETED"})
    assert twice.status_code == 400
    listed = dec(client.get(f"{API}/Payments", headers=h, query_string={"where": 'Status=="DELETED"'}))
    assert [p["PaymentID"] for p in listed["Payments"]] == [rest["PaymentID"]]


def test_idempotency_key_replays(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, tenant = ctx
    bill = open_bill(client, h)
    before = len(dec(client.get(f"{API}/Payments", headers=h))["Payments"])
    first = pay(client, h, bill["InvoiceID"], "7.25", method="post", key="pay-1")
    second = pay(client, h, bill["InvoiceID"], "7.25", method="post", key="pay-1")
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data() and second.headers["Idempotent-Replayed"] == "true"
    inv = dec(client.get(f"{API}/Invoices/{bill['InvoiceID']}", headers=h))["Invoices"][0]
    assert inv["AmountDue"] == bill["AmountDue"] - Decimal("7.25") and len(inv["Payments"]) == 1
    assert len(dec(client.get(f"{API}/Payments", headers=h))["Payments"]) == before + 1
    other = pay(client, h, bill["InvoiceID"], "7.26", method="post", key="pay-1")
    assert other.status_code == 400
    assert pay(client, h, bill["InvoiceID"], "1.00", method="post", key="k" * 128).status_code == 200
    assert pay(client, h, bill["InvoiceID"], "1.00", method="post", key="k" * 129).status_code == 400
    # a stored validation error replays too, without re-validating
    bad1 = pay(client, h, bill["InvoiceID"], "999999999", key="bad")
    bad2 = pay(client, h, bill["InvoiceID"], "999999999", key="bad")
    assert bad1.status_code == bad2.status_code == 400 and bad1.get_data() == bad2.get_data()


def test_control_pay_void_edit(ctx: tuple[FlaskClient, dict[str, str], str]) -> None:
    client, h, _ = ctx
    bill = open_bill(client, h, "JPY")
    edited = client.post(f"/xero/_control/invoices/{bill['InvoiceID']}/edit", json={"total": 5000})
    assert edited.status_code == 200 and dec(edited)["Total"] == Decimal("5000.00")
    paid = client.post(f"/xero/_control/invoices/{bill['InvoiceID']}/pay", json={})
    assert paid.status_code == 200
    inv = dec(client.get(f"{API}/Invoices/{bill['InvoiceID']}", headers=h))["Invoices"][0]
    assert inv["Status"] == "PAID" and inv["AmountPaid"] == Decimal("5000.00")
    assert client.post(f"/xero/_control/invoices/{bill['InvoiceID']}/void", json={}).status_code == 400
    voided = client.post(f"/xero/_control/invoices/{bill['InvoiceID']}/void", json={"force": True})
    assert voided.status_code == 200 and voided.get_json()["Status"] == "VOIDED"
    assert voided.get_json()["AmountPaid"] == 0


def test_counters_headers_and_rolling_day() -> None:
    client = make_client(day_mode="rolling", day_limit=3, minute_limit=100)
    tok = grant(client, "app-r")
    tenant = tok["tenants"][0]
    h = headers(tok, tenant)
    seen = [client.get(f"{API}/Organisation", headers=h) for _ in range(3)]
    assert [r.headers["X-DayLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    assert [r.headers["X-MinLimit-Remaining"] for r in seen] == ["99", "98", "97"]
    refused = client.get(f"{API}/Organisation", headers=h)
    assert refused.status_code == 429 and refused.headers["X-Rate-Limit-Problem"] == "day"
    assert refused.headers["Retry-After"] == "86400"
    advance(client, 1000)
    assert client.get(f"{API}/Organisation", headers=h).headers["Retry-After"] == "85400"
    advance(client, 85400)
    h = headers(grant(client, "app-r"), tenant)  # the old access token has expired meanwhile
    assert client.get(f"{API}/Organisation", headers=h).status_code == 200
    stats = client.get("/xero/_control/stats").get_json()
    assert stats["calls"]["app-r"][tenant] == {"calls": 6, "429": 2, "429:day": 2}
    assert stats["limits"]["app-r"]["tenants"][tenant]["in_flight"] == 0
    counters = client.get("/_sandbox/counters", query_string={"prefix": "xero:app-r"}).get_json()
    assert counters[f"xero:app-r:{tenant}:calls"] == 6
    assert client.post("/xero/_control/config", json={"day_limit": 10}).status_code == 200
    assert client.post("/xero/_control/config", json={"nonsense": 1}).status_code == 400
    assert client.get(f"{API}/Organisation", headers=h).headers["X-DayLimit-Remaining"] == "8"  # 3 aged out
