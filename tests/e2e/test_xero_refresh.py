"""Token refresh across processes against the sandbox: once under a lock, saved before use, crash-safe."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time

import pytest
import requests

from paysync import crashpoints
from paysync.clients.http import ProviderError
from paysync.clients.xero import XeroClient
from paysync.clients.xero.oauth import TokenSource
from storage import connections
from tests.accounting.xero_helpers import sandbox_merchant

pytestmark = pytest.mark.e2e
WORKERS = 8


def _call_organisation(conn_id: int, barrier, out) -> None:
    """One worker process: build the client from the stored connection, wait for the others, call."""
    try:
        client = XeroClient.for_connection(connections.get(conn_id), interactive=True)
        barrier.wait(30)
        org = client.get("Organisation")
        out.put({"pid": os.getpid(), "token": client._token, "org": org["Organisations"][0]["OrganisationID"],
                 "refreshes": client.tokens.refreshes})
    except Exception as exc:  # pragma: no cover - reported to the test
        out.put({"pid": os.getpid(), "error": repr(exc)})


def counter(sandbox_ctl, key: str) -> int:
    return int(sandbox_ctl.counters(key).get(key, 0))


def refresh_directly(base: str, client_id: str, secret: str, token: str) -> requests.Response:
    return requests.post(f"{base}/identity/connect/token", data={"grant_type": "refresh_token", "refresh_token": token},
                         auth=(client_id, secret), timeout=10)


def test_eight_workers_on_an_expired_token_make_exactly_one_refresh(db, redis_client, sandbox_ctl):
    m, conns = sandbox_merchant(sandbox_ctl, {"user": "app-refresh"})
    conn = conns["user"]
    original = conn.credentials["refresh_token"]
    # given the access token expired at Xero (the sandbox's clock moved 31 minutes; ours did not)
    sandbox_ctl.advance(31 * 60)
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_call_organisation, args=(conn.id, barrier, out)) for _ in range(WORKERS)]
    # when 8 worker processes call at the same moment
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    # then every worker proceeded ...
    assert all("error" not in r for r in results), results
    assert {r["org"] for r in results} == {conn.tenant_id}
    # ... with the same new token, after exactly one refresh call to Xero
    stored = connections.get(conn.id).credentials
    assert {r["token"] for r in results} == {stored["access_token"]}
    assert stored["access_token"] != conn.credentials["access_token"]
    assert sum(r["refreshes"] for r in results) == 1
    assert counter(sandbox_ctl, "xero:app-refresh:refresh") == 1
    assert counter(sandbox_ctl, "xero:app-refresh:refresh_replay") == 0
    # and the stored refresh token is the rotated one: the original is superseded (Xero
    # replays its successor during the grace period), the stored one rotates afresh
    assert stored["refresh_token"] != original
    replay = refresh_directly(sandbox_ctl.url("xero"), "app-refresh", "secret-app-refresh", original)
    assert replay.json()["refresh_token"] == stored["refresh_token"]
    assert counter(sandbox_ctl, "xero:app-refresh:refresh_replay") == 1
    fresh = refresh_directly(sandbox_ctl.url("xero"), "app-refresh", "secret-app-refresh", stored["refresh_token"])
    assert fresh.status_code == 200 and counter(sandbox_ctl, "xero:app-refresh:refresh_replay") == 1


def _refresh_and_die(conn_id: int) -> None:
    client = XeroClient.for_connection(connections.get(conn_id), interactive=True)
    client.get("Organisation")


def test_refresher_killed_after_xero_rotated_but_before_saving_is_recovered_within_grace(
        db, redis_client, sandbox_ctl, monkeypatch):
    monkeypatch.setenv("PAYSYNC_XERO_REFRESH_LOCK_SECONDS", "3")
    m, conns = sandbox_merchant(sandbox_ctl, {"user": "app-crash"})
    conn = conns["user"]
    original = conn.credentials["refresh_token"]
    sandbox_ctl.advance(31 * 60)
    # given the refresher will be killed (SIGKILL) right after Xero rotated the token
    crashpoints.arm("xero.refresh.after_rotate")
    proc = mp.get_context("fork").Process(target=_refresh_and_die, args=(conn.id,))
    proc.start()
    proc.join(30)
    # then it died holding the lock, Xero rotated, and nothing was saved
    assert proc.exitcode == -9
    assert counter(sandbox_ctl, "xero:app-crash:refresh") == 1
    assert connections.get(conn.id).credentials["refresh_token"] == original
    # when the next worker needs a token (within the 30-minute grace period)
    sandbox_ctl.advance(10 * 60)
    client = XeroClient.for_connection(connections.get(conn.id), interactive=True)
    assert client.get("Organisation")["Organisations"][0]["OrganisationID"] == conn.tenant_id
    # then its refresh with the old token succeeded: Xero replayed the pair it had issued
    assert counter(sandbox_ctl, "xero:app-crash:refresh_replay") == 1
    saved = connections.get(conn.id).credentials
    assert saved["refresh_token"] != original and connections.get(conn.id).status == "active"
    # and the chain goes on after the grace period: the saved token is the live one
    sandbox_ctl.advance(31 * 60)
    again = XeroClient.for_connection(connections.get(conn.id), interactive=True)
    again.get("Organisation")
    assert again.tokens.refreshes == 1
    assert counter(sandbox_ctl, "xero:app-crash:refresh_failed") == 0


def test_refresh_after_the_grace_period_is_invalid_grant(db, redis_client, sandbox_ctl):
    _, conns = sandbox_merchant(sandbox_ctl, {"user": "app-late"}, name="late-merchant")
    conn = conns["user"]
    base = sandbox_ctl.url("xero")
    # given someone else rotated the token and we kept the old one past the grace period
    refresh_directly(base, "app-late", "secret-app-late", conn.credentials["refresh_token"]).raise_for_status()
    sandbox_ctl.advance(61 * 60)
    from paysync.clients.xero import ReauthRequired

    with pytest.raises(ReauthRequired):
        XeroClient.for_connection(connections.get(conn.id), interactive=True).get("Organisation")
    assert connections.get(conn.id).status == "needs_reauth"


def _call_with_one_retry(conn_id: int, delay: float, out) -> None:
    """A worker process: call the API (its token expired at Xero); a retriable failure is retried once."""
    import time as _time

    from paysync.clients.http import ProviderError

    _time.sleep(delay)
    client = XeroClient.for_connection(connections.get(conn_id), interactive=True)
    for attempt in range(2):
        try:
            org = client.get("Organisation")
            out.put({"pid": os.getpid(), "org": org["Organisations"][0]["OrganisationID"], "attempts": attempt + 1})
            return
        except ProviderError as exc:
            if not exc.retriable or attempt:
                out.put({"pid": os.getpid(), "error": repr(exc)})
                return
        except Exception as exc:  # pragma: no cover - reported to the test
            out.put({"pid": os.getpid(), "error": repr(exc)})
            return


def _processes_calling(conn_id: int, delays: tuple[float, ...]) -> list[dict]:
    """One worker process per delay, each calling the API after its delay; their results."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_call_with_one_retry, args=(conn_id, delay, out)) for delay in delays]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    return results


def rotations(sandbox_ctl, app: str) -> int:
    """Refresh tokens Xero has rotated for ``app`` so far."""
    key = f"xero:{app}:rotations"
    return int(sandbox_ctl.effects(key).get(key, 0))


def assert_active_without_errors(conn_id: int, results: list[dict]):
    """The connection stays active and every worker got its call through; the stored connection."""
    stored = connections.get(conn_id)
    assert stored.status == "active", stored.last_error
    assert all("error" not in r for r in results), results
    return stored


def _expired_without_grace(sandbox_ctl, monkeypatch, app: str):
    """A connection whose access token expired at Xero, Xero keeping no grace period for a
    rotated refresh token, and a refresh lock of 1 s."""
    m, conns = sandbox_merchant(sandbox_ctl, {"user": app})
    requests.post(f"{sandbox_ctl.url('xero')}/_control/config", json={"refresh_grace_seconds": 0},
                  timeout=10).raise_for_status()
    monkeypatch.setenv("PAYSYNC_XERO_REFRESH_LOCK_SECONDS", "1")
    sandbox_ctl.advance(31 * 60)
    return conns["user"]


def test_lost_refresh_answers_without_grace_keep_the_connection_active(db, redis_client, sandbox_ctl, monkeypatch):
    # given Xero keeps no grace period for a rotated refresh token, and the refresh lock is short
    conn = _expired_without_grace(sandbox_ctl, monkeypatch, "app-lost")
    # and the token endpoint loses its next three answers (503: the caller cannot know what happened)
    sandbox_ctl.fault("xero", "error", "POST", "/identity/connect/token", times=3)
    before = rotations(sandbox_ctl, "app-lost")
    # when two worker processes need the token, the second just after the first took the lock
    results = _processes_calling(conn.id, (0.0, 0.3))
    # then nobody presented a refresh token that was already used: the connection stays active
    stored = assert_active_without_errors(conn.id, results)
    # with one rotation at Xero, whose tokens were saved and used by both
    assert rotations(sandbox_ctl, "app-lost") - before == 1
    assert stored.credentials["refresh_token"] != conn.credentials["refresh_token"]


def test_a_refresh_answer_slower_than_the_lock_is_waited_for_not_raced(db, redis_client, sandbox_ctl, monkeypatch):
    # given Xero keeps no grace period, the refresh lock is 1 s, and Xero rotates at once but its
    # answer takes 2 s to arrive (longer than the lock)
    conn = _expired_without_grace(sandbox_ctl, monkeypatch, "app-slow")
    sandbox_ctl.fault("xero", "apply_then_timeout", "POST", "/identity/connect/token", times=1, delay=2.0)
    before = rotations(sandbox_ctl, "app-slow")
    # when a second worker process needs the token while the first waits for that answer
    results = _processes_calling(conn.id, (0.0, 1.3))
    # then the second waited for the first's answer instead of presenting the used refresh token
    assert_active_without_errors(conn.id, results)
    assert rotations(sandbox_ctl, "app-slow") - before == 1


def test_a_refresher_that_lost_its_lock_does_not_send_again(db, redis_client, sandbox_ctl, monkeypatch):
    # given an expired token, Xero keeping no grace period, a 1 s refresh lock, and the token
    # endpoint failing its next answer with a 503 (the refresher would send again after a pause)
    conn = _expired_without_grace(sandbox_ctl, monkeypatch, "app-lostlock")
    rule = sandbox_ctl.fault("xero", "error", "POST", "/identity/connect/token", times=1)
    lock_key = f"paysync:xero:refresh:{conn.id}"

    def take_the_lock_once_it_is_held() -> None:  # as a process would after the lock expired
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not redis_client.exists(lock_key):
            time.sleep(0.005)
        redis_client.set(lock_key, "another-process", px=5000)

    thief = threading.Thread(target=take_the_lock_once_it_is_held)
    thief.start()
    # when the refresh runs and its lock is taken from it before it would send again
    with pytest.raises(ProviderError) as exc:
        TokenSource(connections.get(conn.id), redis_client=redis_client).refresh(seen=conn.credentials["access_token"])
    thief.join()
    # then it did not send again: one call reached the token endpoint, and the failure is retriable
    assert [r["seen"] for r in sandbox_ctl.faults() if r["id"] == rule["id"]] == [1]
    assert exc.value.retriable
    assert redis_client.get(lock_key) == b"another-process"  # and it did not free the other's lock
