"""FETCH_ACCOUNTS (+ balances from the same payload), FETCH_EXTERNAL_ACCOUNTS, FETCH_OTHERS."""

from __future__ import annotations

import responses

from paysync.connectors.wise import accounts, external_accounts, others, profiles
from storage import sync_states
from storage import wise as store
from storage.db import fetch_all, transaction
from tests.connectors.wise.conftest import BASE, BUSINESS, dumps, fixture, recipient

PID = str(BUSINESS)


def test_accounts_and_balances_come_from_one_call_per_profile(connector, run, wise):
    # given STANDARD and SAVINGS balances, JPY and a 17-digit KWD among them
    wise.balances[BUSINESS] = fixture("balances_v4.json")
    stats = accounts.fetch(run, PID)
    # then one call asked for both types
    (call,) = [c for c in wise.rsps.calls if "/balances" in c.request.url]
    assert "types=STANDARD%2CSAVINGS" in call.request.url
    assert stats["accounts"]["inserted"] == 3 and stats["balances"]["inserted"] == 3
    got = {a["reference"]: a for a in store.list_accounts(connector["id"], "INTERNAL")}
    assert got["200002"]["default_asset"] == "JPY/0"
    assert got["200003"]["metadata"]["com.wise.spec/type"] == "SAVINGS"
    assert got["200001"]["metadata"]["com.wise.spec/profile_id"] == PID
    bal = {b["account"]: b for b in store.list_balances(connector["id"])}
    assert (bal["200001"]["amount"], bal["200001"]["reserved"]) == (1025075, 12000)
    assert bal["200003"]["amount"] == 12345678901234567
    # when nothing changed, nothing is rewritten
    again = accounts.fetch(run, PID)
    assert again["accounts"]["unchanged"] == 3 and again["balances"]["unchanged"] == 3
    # when one balance moves, only it is written
    wise.balances[BUSINESS][0]["amount"]["value"] = fixture("balances_v4.json")[0]["amount"]["value"] + 1
    moved = accounts.fetch(run, PID)
    assert moved["accounts"]["updated"] == 1 and moved["balances"]["updated"] == 1


def test_recipients_follow_the_seek_position_page_by_page(connector, run, wise):
    wise.recipients[BUSINESS] = [recipient(40000001 + i, "EUR" if i % 2 else "JPY") for i in range(7)]
    stats = external_accounts.fetch(run, PID)  # pageSize 5: two pages
    assert stats["calls"] == 2 and stats["recipients"]["inserted"] == 7
    urls = [c.request.url for c in wise.rsps.calls if "/v2/accounts" in c.request.url]
    assert "seekPosition" not in urls[0] and "seekPosition=40000005" in urls[1] and "size=5" in urls[0]
    ext = store.list_accounts(connector["id"], "EXTERNAL")
    assert {e["type"] for e in ext} == {"EXTERNAL"} and len(ext) == 7
    assert ext[0]["metadata"]["com.wise.spec/iban"] == "DE89370400440532013000"
    assert sync_states.get(run.owner, "recipients", f"profile:{PID}") == {"seek": None}


def test_profiles_are_others_from_the_same_payload_and_quotes_are_refreshed(connector, run, wise):
    result = profiles.fetch(run)
    assert result["profiles"] == ["30000000", "30000001"] and result["calls"] == 1
    quote = fixture("quote_v3.json")
    with transaction() as cur:
        others.persist_quote(cur, connector["id"], {**quote, "profile": BUSINESS, "status": "PENDING"})
    wise.rsps.add(responses.GET, f"{BASE}/v3/profiles/{BUSINESS}/quotes/{quote['id']}",
                  body=dumps({**quote, "profile": BUSINESS, "status": "EXPIRED"}), content_type="application/json")
    stats = others.fetch(run, PID)
    assert stats["calls"] == 1 and stats["quotes"]["updated"] == 1
    rows = {r["type"]: r for r in fetch_all("select type, raw->>'status' as s from others where type='wise-quotes'")}
    assert rows["wise-quotes"]["s"] == "EXPIRED"
    assert others.fetch(run, PID)["calls"] == 0  # an expired quote is not asked for again
