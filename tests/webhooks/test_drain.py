"""The drain: deliveries acknowledged while no translator runs are translated once when one
comes back; drains racing on the same deliveries translate each once; the sweeper hands
deliveries a drain never read to a drain."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from paysync.webhooks import handoff
from storage.db import fetch_all, fetch_one
from tests.harness import wait_for_a_lock_waiter
from tests.webhooks.conftest import Receiver, WiseSandboxAPI, event, later


def _balance_update(balance_id: int, profile: int, step: int) -> dict[str, Any]:
    at = later(step)
    return {"data": {"resource": {"type": "balance-account", "id": balance_id, "profile_id": profile},
                     "amount": Decimal("1.00"), "balance_id": balance_id, "channel_name": "TRANSFER",
                     "currency": "EUR", "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "step_id": step,
                     "transaction_type": "credit", "transfer_reference": str(60000000 + step)},
            "subscription_id": str(uuid.uuid4()), "event_type": "balances#update", "schema_version": "4.0.0",
            "sent_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _queued(redis_client: Any, task: bytes) -> int:
    return sum(1 for key in redis_client.keys("service*") if redis_client.type(key) == b"list"
               for m in redis_client.lrange(key, 0, -1) if task in m)


def _webhooks() -> list[dict[str, Any]]:
    return fetch_all("select id, delivery_id, status, attempts, error from webhooks order by id")


@pytest.mark.e2e
def test_deliveries_acknowledged_while_the_translator_is_down_are_translated_once_when_it_comes_back(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI, redis_client: Any,
        worker_factory: Any) -> None:
    cid, profile = connector["id"], wise_api.business
    t = wise_api.transfer()
    processing = event(t["id"], profile, "processing", later(30), "incoming_payment_waiting")
    # given no worker runs: deliveries are acknowledged (one twice under its id, one again under a new id)
    answers = [receiver.deliver(cid, processing, "state-1"), receiver.deliver(cid, processing, "state-1"),
               receiver.deliver(cid, processing, "state-2"),
               receiver.deliver(cid, _balance_update(900001, profile, 1), "balance-1")]
    assert [a.get_json()["status"] for a in answers] == ["ok", "duplicate", "ok", "ok"]
    assert receiver.app.config["PUBLISH"].wait_idle()
    time.sleep(0.5)
    # then they are stored, untranslated, and one drain waits in the queue for them all
    assert [w["status"] for w in _webhooks()] == ["received"] * 3
    assert _queued(redis_client, b"wise.drain_webhooks") == 1
    # when a translator comes back
    worker_factory.start(queues="service", concurrency=1)
    deadline = time.time() + 30
    while time.time() < deadline and any(w["status"] == "received" for w in _webhooks()):
        time.sleep(0.2)
    # then every delivery is translated, each by one translation run
    assert [(w["delivery_id"], w["status"], w["attempts"], w["error"]) for w in _webhooks()] == [
        ("state-1", "translated", 1, None), ("state-2", "translated", 1, None), ("balance-1", "translated", 1, None)]
    # and the transition is in the payment's history once, the balance movement recorded once
    pay = fetch_one("select id, raw_status from payments where connector_id=%s and reference=%s and leg='payout'",
                    (cid, str(t["id"])))
    assert pay is not None and pay["raw_status"] == "processing"
    sources = fetch_all("select raw_status, source from payment_adjustments where payment_id=%s order by id",
                        (pay["id"],))
    assert [(s["raw_status"], s["source"]) for s in sources if s["source"] == "webhook"] == [("processing", "webhook")]
    assert fetch_one("select count(*) as n from balance_movements where connector_id=%s", (cid,))["n"] == 1
    # and the drain ends and gives its flag back: the next delivery publishes a new drain
    deadline = time.time() + 10
    while time.time() < deadline and redis_client.exists(handoff.DRAIN_FLAG):
        time.sleep(0.1)
    assert redis_client.exists(handoff.DRAIN_FLAG) == 0


def test_drains_racing_on_the_same_deliveries_translate_each_once(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI, redis_client: Any) -> None:
    from paysync.connectors.wise.webhooks import drain

    cid, profile = connector["id"], wise_api.business
    for step in range(1, 41):
        assert receiver.deliver(cid, _balance_update(900001, profile, step)).status_code == 200
    published: list[int] = []
    outcomes: list[dict[str, int]] = []

    def run() -> None:
        outcomes.append(drain(seconds=30, send_alone=published.append, publish_drain=lambda: None,
                              sweep_after=60, batch=7))

    # when two drains run at once over the same 40 deliveries, in small batches
    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    # then each delivery is translated by exactly one of them, once
    assert sum(o.get("translated", 0) for o in outcomes) == 40, outcomes
    assert {(w["status"], w["attempts"]) for w in _webhooks()} == {("translated", 1)}
    assert fetch_one("select count(*) as n from balance_movements where connector_id=%s", (cid,))["n"] == 40
    assert published == [] and redis_client.exists(handoff.DRAIN_FLAG) == 0


def test_the_sweeper_sends_untried_deliveries_to_a_drain_and_tried_ones_to_their_own_job(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI, redis_client: Any) -> None:
    from storage import webhooks as webhook_store
    from tasks.webhooks import sweep_webhooks

    cid, profile = connector["id"], wise_api.business
    ids = [receiver.deliver(cid, _balance_update(900001, profile, step)).get_json()["id"] for step in (1, 2, 3)]
    assert receiver.app.config["PUBLISH"].wait_idle()
    redis_client.flushdb()  # the hand-off is lost: the flag and the drain job with it
    webhook_store.record_failure(ids[0], "RuntimeError: once", 20)
    fetch_all("update webhooks set next_sweep_at = now() - interval '1 second' returning id")
    # when the sweeper runs
    out = sweep_webhooks()
    # then the tried delivery gets its own job and the two never tried one drain
    assert out == {"dispatched": 1, "drains": 1}
    assert _queued(redis_client, b"wise.translate_webhook") == 1
    assert _queued(redis_client, b"wise.drain_webhooks") == 1


def test_a_translation_rolled_back_by_a_deadlock_runs_again_and_translates_once(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    from paysync.connectors.wise.webhooks import translate
    from storage.db import transaction

    cid, profile = connector["id"], wise_api.business
    t = wise_api.transfer()
    first = receiver.deliver(cid, event(t["id"], profile, "processing", later(30), "incoming_payment_waiting"))
    assert translate(first.get_json()["id"])["applied"] == "current"  # the payment is stored
    webhook_id = receiver.deliver(cid, event(t["id"], profile, "funds_converted", later(60), "processing")).get_json()["id"]
    pay = fetch_one("select id from payments where connector_id=%s and reference=%s and leg='payout'",
                    (cid, str(t["id"])))
    assert pay is not None
    held, other_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_transaction() -> None:
        # takes the payment, then (once the translation holds the delivery and waits for the
        # payment) the delivery: the opposite order, a deadlock PostgreSQL breaks by rolling
        # the translation back
        try:
            with transaction() as cur:
                cur.execute("select id from payments where id=%s for update", (pay["id"],))
                held.set()
                wait_for_a_lock_waiter()
                cur.execute("select id from webhooks where id=%s for update", (webhook_id,))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            other_done.set()

    thread = threading.Thread(target=other_transaction)
    thread.start()
    assert held.wait(10)
    # when the translation loses the deadlock
    result = translate(webhook_id)
    thread.join(30)
    # then it ran again once the other transaction was done, and translated the delivery once
    assert not errors and other_done.is_set()
    assert result["applied"] == "current" and result["state"] == "funds_converted"
    row = fetch_one("select status, attempts, error from webhooks where id=%s", (webhook_id,))
    assert row == {"status": "translated", "attempts": 1, "error": None}
    history = fetch_all("""select raw_status from payment_adjustments where payment_id=%s and source='webhook'
                           order by occurred_at, id""", (pay["id"],))
    assert [h["raw_status"] for h in history] == ["processing", "funds_converted"]


def _initiation_following(cid: int, profile: int, transfer_id: str, step: str) -> dict[str, Any]:
    from storage import wise as wise_store
    from storage.db import transaction

    initiation, _ = wise_store.insert_initiation({
        "connector_id": cid, "idempotency_key": uuid.uuid4().hex, "kind": "PAYOUT", "profile_id": str(profile),
        "source_account": "1", "destination_account": "2", "target_account": "2", "amount": 1000, "asset": "EUR/2",
        "amount_side": "SOURCE", "source_currency": "EUR", "target_currency": "EUR", "request": {},
        "customer_transaction_id": str(uuid.uuid4())})
    with transaction() as cur:
        return wise_store.update_initiation(cur, initiation["id"], transfer_id=transfer_id, step=step,
                                            status="PROCESSING")


def _translate_funds_converted(cid: int, t: dict[str, Any], profile: int, receiver: Receiver) -> dict[str, Any]:
    from paysync.connectors.wise.webhooks import translate

    webhook_id = receiver.deliver(cid, event(t["id"], profile, "funds_converted", later(60), "processing")).get_json()["id"]
    return translate(webhook_id)


def _store_outgoing_payment_sent(cid: int, t: dict[str, Any], profile: int, receiver: Receiver) -> dict[str, Any]:
    # the transfer as Wise now shows it, stored outside the sync (as a fetch for a webhook or a
    # quarantine retry does), through the same writer as the sync's pages
    from paysync.connectors.wise.context import open_run
    from paysync.connectors.wise.payments import persist_one
    from storage.db import transaction

    with transaction() as cur:
        return persist_one(cur, open_run(cid), str(profile), {**t, "status": "outgoing_payment_sent"}, source="poll")


@pytest.mark.parametrize("write, raw_status", [(_translate_funds_converted, "funds_converted"),
                                               (_store_outgoing_payment_sent, "outgoing_payment_sent")])
def test_a_payment_writer_waits_for_an_initiation_poll_instead_of_deadlocking_with_it(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI, caplog: Any, write: Any,
        raw_status: str) -> None:
    import logging

    from paysync.connectors.wise.webhooks import translate
    from storage import wise as wise_store
    from storage.db import transaction

    cid, profile = connector["id"], wise_api.business
    t = wise_api.transfer()
    first = receiver.deliver(cid, event(t["id"], profile, "processing", later(30), "incoming_payment_waiting"))
    assert translate(first.get_json()["id"])["applied"] == "current"  # the payment is stored
    # given a funded initiation following that transfer
    initiation = _initiation_following(cid, profile, str(t["id"]), "funded")
    pay = fetch_one("select id from payments where connector_id=%s and reference=%s and leg='payout'",
                    (cid, str(t["id"])))
    assert pay is not None
    held, errors = threading.Event(), []

    def poll() -> None:
        # as an initiation's poll: its initiation, then (once the writer waits on a lock) the
        # payment of its transfer; a writer taking the payment first deadlocks with it
        try:
            with transaction() as cur:
                assert wise_store.lock_initiation(cur, initiation["id"]) is not None
                held.set()
                assert wait_for_a_lock_waiter()
                cur.execute("select id from payments where id=%s for update", (pay["id"],))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=poll)
    thread.start()
    assert held.wait(10)
    # when a later state of the transfer is written while the poll holds the initiation
    with caplog.at_level(logging.INFO):
        write(cid, t, profile, receiver)
    thread.join(30)
    # then the writer waited for the poll: neither was rolled back for a deadlock
    assert errors == []
    assert [r.getMessage() for r in caplog.records if "rolled back by PostgreSQL" in r.getMessage()] == []
    # and the initiation followed the transfer's new state
    followed = wise_store.get_initiation(initiation["id"])
    assert followed is not None and followed["raw_status"] == raw_status


def test_a_payment_writer_leaves_an_initiation_on_its_way_to_funding_to_its_poll(
        connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    from storage import wise as wise_store
    from storage.db import transaction

    # given two initiations of one transfer, one funded and one still funding (its poll moves money)
    cid, profile = connector["id"], wise_api.business
    funded = _initiation_following(cid, profile, "70000001", "funded")
    funding = _initiation_following(cid, profile, "70000001", "funding")
    # when a writer of that transfer's payment takes its locks
    with transaction() as writer:
        assert wise_store.lock_initiations_of(writer, cid, ["70000001"]) == 1
        # then a poll of the funded one backs off until the writer is done, the other's poll goes on
        with transaction() as poll:
            assert wise_store.lock_initiation(poll, funded["id"]) is None
            assert wise_store.lock_initiation(poll, funding["id"]) is not None


def test_a_delivery_holding_a_nul_fails_at_once_naming_its_field_and_the_others_are_translated(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    from paysync.connectors.wise.webhooks import drain

    cid, profile = connector["id"], wise_api.business
    # given balance updates, one with U+0000 in its channel name (stored in a text column and,
    # with the whole event, as jsonb), and state changes with a NUL in event_type and in
    # subscription_id (the receiver stored those with U+FFFD), all signed and stored
    poisoned = _balance_update(900001, profile, 2)
    poisoned["data"]["channel_name"] = "TRANS\x00FER"
    odd_type = event(50000001, profile, "processing", later(5), event_type="transfers#state-change\x00")
    odd_subscription = event(50000001, profile, "processing", later(5))
    odd_subscription["subscription_id"] += "\x00"
    payloads = {"good-1": _balance_update(900001, profile, 1), "nul-channel": poisoned,
                "nul-type": odd_type, "nul-subscription": odd_subscription,
                "good-3": _balance_update(900001, profile, 3)}
    for delivery_id, payload in payloads.items():
        assert receiver.deliver(cid, payload, delivery_id).status_code == 200
    # when a drain runs
    outcome = drain(seconds=30, send_alone=lambda _: None, publish_drain=lambda: None, sweep_after=60, linger=0)
    # then the two good balance updates are translated and their movements recorded
    assert outcome == {"translated": 2, "failed": 3}
    rows = {w["delivery_id"]: w for w in _webhooks()}
    assert rows["good-1"]["status"] == rows["good-3"]["status"] == "translated"
    assert fetch_one("select count(*) as n from balance_movements where connector_id=%s", (cid,))["n"] == 2
    # and each delivery holding a NUL failed at its first translation, the error naming the field
    nul = "holds a NUL character (U+0000), which PostgreSQL cannot store"
    for delivery_id, field in (("nul-channel", "data.channel_name"), ("nul-type", "event_type"),
                               ("nul-subscription", "subscription_id")):
        assert (rows[delivery_id]["status"], rows[delivery_id]["attempts"]) == ("failed", 1), rows[delivery_id]
        assert f": {field} {nul}" in rows[delivery_id]["error"], rows[delivery_id]["error"]


def test_a_failure_whose_message_holds_a_nul_is_recorded_with_it_shown_as_u_fffd(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    from storage import webhooks as webhook_store

    # given a stored delivery
    webhook_id = receiver.deliver(connector["id"], _balance_update(900001, wise_api.business, 1)).get_json()["id"]
    # when a translation fails with an error message holding U+0000
    webhook_store.record_failure(webhook_id, "RuntimeError: bad\x00text", 20)
    # then the failure is recorded (a failing record would hold up the drain on this delivery)
    [row] = _webhooks()
    assert (row["status"], row["attempts"], row["error"]) == ("received", 1, "RuntimeError: bad\ufffdtext")
