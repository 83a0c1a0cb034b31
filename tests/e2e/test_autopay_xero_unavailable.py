"""A write-back Xero never takes, with a real worker: ``autopay.execute``'s retry policy runs the
job again a bounded number of times, then the payment becomes the exception ``xero_unavailable``.

Wise is the sandbox; Xero's API is a local stand-in that answers every ``PUT /Payments``
with an answer holding no payment (a retriable failure, like a 5xx after the client's own
retries, without their backoff), and anything else with 404.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from paysync.accounting.onboarding import set_urls
from paysync.autopay import scheduler
from storage import accounting, connections
from tasks.routing import enqueue
from tests.autopay.helpers import make_env

pytestmark = pytest.mark.e2e


class _Stub(http.server.ThreadingHTTPServer):
    daemon_threads = True
    puts: list[dict[str, Any]]


def _handler() -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_PUT(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            server: _Stub = self.server  # type: ignore[assignment]
            if self.path.split("?")[0].endswith("/Payments"):
                server.puts.append({"key": self.headers.get("Idempotency-Key"), "body": body})
                self._answer(200, {"Id": "stub", "Status": "OK", "Payments": []})
            else:
                self._answer(404, {"Message": f"the stand-in knows no {self.path}"})

        def do_GET(self) -> None:  # noqa: N802
            self._answer(404, {"Message": f"the stand-in knows no {self.path}"})

        do_POST = do_GET  # noqa: N815

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@contextmanager
def xero_taking_no_payment() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _handler())
    server.puts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_write_back_xero_never_takes_ends_xero_unavailable_after_the_policys_attempts(
        db, redis_client, sandbox_ctl, worker_factory):
    # given a bill paid by Wise (the payout succeeded), not yet written back to Xero
    env = make_env(sandbox_ctl, days_before=3)
    inv = env.new_bill("Slow Books Ltd", "55.00", due_in_days=1)
    env.allow("Slow Books Ltd")
    scheduler.schedule(env.merchant["id"])
    env.run()
    env.settle_wise()
    sp = env.sp(inv)
    assert sp["state"] == "payout_requested"
    with xero_taking_no_payment() as xero:
        # and Xero's API stops taking payments
        urls = dict(connections.get(env.xero.id).credentials["xero_urls"])
        set_urls(env.xero.id, {**urls, "api": f"http://127.0.0.1:{xero.server_address[1]}/api.xro/2.0"})
        # when the execution job runs on a worker (countdowns capped at 1 s)
        worker_factory.start(queues="user", concurrency=1, PAYSYNC_MAX_COUNTDOWN="1")
        out = enqueue("autopay.execute", {"scheduled_payment_id": sp["id"]}).get(timeout=120)
    # then the write-back was tried six times, each the same request with the same key ...
    assert len(xero.puts) == 6
    assert len({p["key"] for p in xero.puts}) == 1 and all(p["body"] == xero.puts[0]["body"] for p in xero.puts)
    # ... and the payment is an exception for a person: Wise paid, Xero never took it
    sp = env.sp(inv)
    assert sp["state"] == "exception" and sp["exception_kind"] == "xero_unavailable", sp
    assert f"transfer {sp['transfer_id']}" in sp["reason"] and "after 6 attempts" in sp["reason"]
    assert out["state"] == "exception" and out["exception_kind"] == "xero_unavailable"
    row = accounting.get_payment(env.merchant["id"], sp["accounting_payment_id"])
    assert row["status"] == "pending" and row["attempts"] == 6
