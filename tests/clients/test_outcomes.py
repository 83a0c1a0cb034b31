"""What the HTTP layer sends again after an unknown outcome, and bookkeeping that never masks an answer."""

from __future__ import annotations

import pytest
import redis
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from paysync.budgets import BucketSpec, Limiter, Window
from paysync.clients.http import BudgetedHTTP, OutcomeUnknown, ProviderError

BASE = "https://provider.test"


def bucket(name: str = "outcomes") -> BucketSpec:
    key = f"paysync:budget:{{test:{name}}}"
    return BucketSpec(name=f"test:{name}", key=key, windows=(Window("minute", f"{key}:minute", 1000, 60),),
                      concurrency=5)


def client(limiter: Limiter | None = None) -> BudgetedHTTP:
    return BudgetedHTTP(provider="test", base_url=BASE, bucket=bucket(), limiter=limiter or Limiter.from_url(),
                        backoff=0.01, max_inline_wait=1.0)


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left."""
    cause = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/x", cause))


LOST = {
    "read timeout": lambda: requests.ReadTimeout("Read timed out."),
    "broken connection": lambda: requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
    "reset after sending": lambda: requests.ConnectionError("Connection aborted.", ConnectionResetError(104)),
}


@pytest.mark.parametrize("lost", sorted(LOST))
@responses.activate
def test_a_write_without_idempotency_key_is_not_resent_after_a_lost_answer(redis_client, lost):
    responses.add(responses.POST, f"{BASE}/payments", body=LOST[lost]())
    responses.add(responses.POST, f"{BASE}/payments", json={"id": 1}, status=201)
    with pytest.raises(OutcomeUnknown) as err:
        client().request("POST", "/payments", json={"amount": 1})
    assert len(responses.calls) == 1
    assert err.value.retriable and err.value.code == "outcome_unknown"
    assert "not re-sent" in str(err.value)


@pytest.mark.parametrize("lost", sorted(LOST))
@responses.activate
def test_a_keyed_write_is_resent_after_a_lost_answer(redis_client, lost):
    responses.add(responses.PUT, f"{BASE}/payments", body=LOST[lost]())
    responses.add(responses.PUT, f"{BASE}/payments", json={"id": 1}, status=201)
    resp = client().request("PUT", "/payments", json={"amount": 1}, headers={"Idempotency-Key": "k"},
                            idempotent=True)
    assert resp.status_code == 201 and len(responses.calls) == 2


@responses.activate
def test_a_5xx_on_a_write_without_key_is_an_unknown_outcome_and_on_a_read_is_retried(redis_client):
    responses.add(responses.POST, f"{BASE}/payments", json={"message": "busy"}, status=503)
    with pytest.raises(OutcomeUnknown) as err:
        client().request("POST", "/payments", json={"amount": 1})
    assert err.value.status == 503 and len(responses.calls) == 1
    responses.add(responses.GET, f"{BASE}/payments", json={"message": "busy"}, status=503)
    responses.add(responses.GET, f"{BASE}/payments", json=[], status=200)
    assert client().request("GET", "/payments").status_code == 200


@responses.activate
def test_a_failure_before_sending_is_retried_even_for_a_write_without_key(redis_client):
    responses.add(responses.POST, f"{BASE}/payments", body=refused())
    responses.add(responses.POST, f"{BASE}/payments", json={"id": 1}, status=201)
    assert client().request("POST", "/payments", json={"amount": 1}).status_code == 201
    assert len(responses.calls) == 2


@responses.activate
def test_a_write_that_never_reaches_the_provider_fails_as_retriable_not_unknown(redis_client):
    for _ in range(6):
        responses.add(responses.POST, f"{BASE}/payments", body=refused())
    with pytest.raises(ProviderError) as err:
        client().request("POST", "/payments", json={"amount": 1})
    assert not isinstance(err.value, OutcomeUnknown) and err.value.retriable


@pytest.fixture
def doomed_redis():
    """A Redis of its own, to be killed in the middle of a call."""
    from paysync_dev.redis_server import RedisServer

    with RedisServer(prefix="paysync-doomed-redis-") as server:
        yield server.proc, redis.Redis(port=server.port, socket_timeout=2, socket_connect_timeout=2)


@responses.activate
def test_a_redis_failure_while_releasing_the_slot_still_returns_the_providers_201(doomed_redis):
    proc, redis_conn = doomed_redis
    limiter = Limiter(redis_conn)

    def provider_answers_while_redis_dies(request):
        proc.kill()  # after the grant was taken, before it is given back
        proc.wait(5)
        return 201, {}, '{"PaymentID": "p-1"}'

    responses.add_callback(responses.PUT, f"{BASE}/payments", callback=provider_answers_while_redis_dies)
    http = client(limiter)
    http.on_response = lambda resp: limiter.observe_remaining(bucket(), "minute", 10)  # Redis again: fails too
    resp = http.request("PUT", "/payments", json={"amount": 1}, headers={"Idempotency-Key": "k"}, idempotent=True)
    assert resp.status_code == 201 and resp.json() == {"PaymentID": "p-1"}
    assert len(responses.calls) == 1
