"""Xero's OAuth rules on paysync's side: redirect URIs served exactly, the pasted redirect,
scope sets and what each call needs, ids in one canonical form (no network beyond loopback)."""

from __future__ import annotations

import socket

import pytest
import requests

from paysync.accounting.onboarding import OnboardingError, _listen, check_redirect_uri, parse_redirect
from paysync.clients.xero import scopes
from paysync.clients.xero.ids import canonical_id, same_id
from paysync.clients.xero.oauth import DEFAULT_REDIRECT_URI, redirect_uri_for


def test_redirect_uris_xero_takes_and_the_default():
    assert check_redirect_uri("http://localhost:8910/callback") == "http://localhost:8910/callback"
    assert check_redirect_uri("https://paysync.example.com/xero/callback")
    for bad, why in (("http://paysync.example.com/cb", "use https"), ("ftp://localhost/cb", "absolute http"),
                     ("http://localhost:8910/cb#x", "fragment")):
        with pytest.raises(OnboardingError, match=why):
            check_redirect_uri(bad)
    assert redirect_uri_for({}) == DEFAULT_REDIRECT_URI == "http://localhost:8910/callback"
    assert redirect_uri_for({"redirect_uri": "http://127.0.0.1:9000/cb"}) == "http://127.0.0.1:9000/cb"


def test_the_listener_answers_on_exactly_the_redirect_uris_port_and_path():
    from paysync_dev.devstack import free_port

    port = free_port()
    servers = _listen(f"http://localhost:{port}/xero/callback")
    import threading

    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        # every address localhost names is served, so a browser that picks ::1 or 127.0.0.1 lands here
        served = {s.server_address[0] for s in servers}
        assert "127.0.0.1" in served
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
        ok = requests.get(f"http://localhost:{port}/xero/callback?code=c&state=s", timeout=5)
        assert ok.status_code == 200 and servers[0].sink == [{"code": "c", "state": "s"}]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def test_a_port_in_use_or_a_uri_not_on_this_machine_is_refused_saying_what_to_do():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(OnboardingError, match="cannot listen"):
            _listen(f"http://127.0.0.1:{taken.getsockname()[1]}/callback")
    finally:
        taken.close()
    with pytest.raises(OnboardingError, match="--paste"):
        _listen("https://paysync.example.com/xero/callback")


def test_the_pasted_address_must_be_the_redirect_uri():
    uri = "http://localhost:8910/callback"
    assert parse_redirect(f" {uri}?code=abc&state=xyz \n", uri) == {"code": "abc", "state": "xyz"}
    for other in ("http://127.0.0.1:8910/callback?code=a", "http://localhost:8911/callback?code=a",
                  "http://localhost:8910/callbac?code=a", "code=a&state=b"):
        with pytest.raises(OnboardingError, match="not the redirect URI"):
            parse_redirect(other, uri)


def test_scope_sets_and_what_each_call_needs():
    assert scopes.parse("granular") == scopes.GRANULAR and scopes.parse("LEGACY") == scopes.LEGACY
    assert "accounting.transactions" not in scopes.GRANULAR
    assert scopes.parse("accounting.invoices, accounting.payments") == (
        "offline_access", "accounting.invoices", "accounting.payments")
    assert scopes.missing(scopes.GRANULAR) == [] and scopes.missing(scopes.LEGACY) == []
    lacking = [n.call for n in scopes.missing({"offline_access", "accounting.invoices.read", "accounting.contacts",
                                               "accounting.settings.read"})]
    assert lacking == ["PUT|POST /Invoices", "GET /Payments", "PUT|POST /Payments"]
    assert scopes.need_for("PUT", "Payments").call == "PUT|POST /Payments"
    assert scopes.need_for("GET", "Invoices/123?x=1").call == "GET /Invoices"
    assert scopes.for_credentials({"scopes": ["offline_access", "accounting.invoices"]}) == (
        "offline_access", "accounting.invoices")


def test_ids_in_one_canonical_form():
    guid = "7d5b2a1c-0e8f-4a3b-9c6d-1e2f3a4b5c6d"
    for typed in ("7D5B2A1C0E8F4A3B9C6D1E2F3A4B5C6D", " 7d5b2a1c-0e8f-4a3b-9c6d-1e2f3a4b5c6d\n",
                  "{7D5B2A1C-0E8F-4A3B-9C6D-1E2F3A4B5C6D}", "urn:uuid:7d5b2a1c-0e8f-4a3b-9c6d-1e2f3a4b5c6d"):
        assert canonical_id(typed) == guid
    assert canonical_id("App-One ") == "app-one" and same_id("APP-ONE", "app-one")
    assert not same_id("app-one", "app-two")
