"""CREATE_WEBHOOKS and TRANSLATE_WEBHOOKS: subscriptions at install, translation of stored
deliveries into the same payments (and balances) polling maintains.

Subscriptions. With a ``publicUrl`` in the connector's config (which must keep Wise's URL
rules, :func:`~paysync.connectors.wise.config.public_url_problem`: checked again here, before
any call), one subscription per profile and event type (:data:`EVENTS`) pointing at
``{publicUrl}/webhooks/wise/{connector_id}``;
already present ones (same event, same URL) are kept, so subscribing twice is harmless.
Wise takes no idempotency key for a subscription: when a creation's answer is lost, the
profile's subscriptions are listed again and it is created again only if it is absent.
Without a ``publicUrl``, none: polling alone keeps the data current, every
``pollingPeriod``. Uninstall deletes every subscription of the connector's profiles whose
URL is that callback URL.

Translation of a ``transfers#state-change`` (one stored delivery, by id):

- the transfer's payout leg is *the* payment polling maintains (connector, transfer, leg).
  A transfer not known yet is fetched once (``GET /v1/transfers/{id}``) and stored exactly as
  polling would; a transfer Wise does not show (404) fails the delivery, with the message;
- every event is history: a ``payment_adjustments`` row (source ``webhook``, ``occurred_at``
  = the event's). When a poll already recorded the same transition (the first adjustment
  after the event time, or the latest one when none is after it, in the same state), that
  row gets the event's exact time instead of a second row;
- events apply in ``occurred_at`` order, never by status rank: the event becomes the
  current status only when it happened after the current state was known to hold (its own
  event time, or the moment a poll saw it). An older event adds history only. A later
  legitimate transition (``bounced_back`` after ``outgoing_payment_sent``) is applied, and
  a funded initiation of that transfer follows (as it does for polls);
- ``funds_refunded`` also creates the refund leg, its own payment (PAYIN, SUCCEEDED, money
  back into the funding balance: the payout's source, or the balance its ``balances#update``
  debit named), never touching the payout row.

A ``balances#update`` is one ``balance_movements`` row (credit: the balance is the
destination; debit: the source), deduplicated by balance transaction step, and sets the
balance to ``post_transaction_balance_amount`` unless a later state of that balance is
stored already. Other event types are kept and marked ``ignored``.

A delivery holding U+0000 in any string (PostgreSQL stores it neither in text nor in jsonb,
and the event is stored as jsonb with its history or movement) is marked ``failed`` at its
first translation, the error naming the field; the other deliveries go on.

Draining (:func:`drain`, the ``wise.drain_webhooks`` job): every stored delivery never tried
yet, oldest first, in batches, one translation each, until none is left or the drain's time
is up (then a new drain job takes over). One that waits for the Wise budget is sent to a
job of its own (``wise.translate_webhook``); one whose translation fails is counted against
it and left to the sweeper. ``paysync/webhooks/handoff.py`` says how the receiver and the
drain make sure every acknowledged delivery is read by a drain.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mappers import MapperError, jsonnum
from mappers.storable import storable
from mappers.wise.payments import payout_status, status_for
from mappers.wise.records import Leg, PaymentRecord, PaymentStatus, PaymentType
from mappers.wise.webhooks import BALANCE_UPDATE, STATE_CHANGE, parse_balance_update, parse_state_change
from paysync import infra
from paysync.clients.http import BudgetedHTTP, BudgetExhausted, OutcomeUnknown, ProviderError
from paysync.clients.wise import for_connector
from paysync.clients.wise import subscriptions as subscriptions_api
from paysync.clients.wise import transfers as transfers_api
from paysync.connectors.wise import settings
from paysync.connectors.wise.config import WiseConfigError, public_url_problem
from paysync.connectors.wise.context import ConnectorInactive, open_run, utcnow
from paysync.connectors.wise.payments import persist_one, watched
from paysync.webhooks import handoff
from storage import connectors, subscriptions
from storage import webhooks as webhook_store
from storage import wise as wise_store
from storage.db import rerun_on_conflict, transaction

log = logging.getLogger(__name__)

#: (event type, schema version) subscribed per profile: the versions of Wise's current
#: examples. 4.0.0 state changes carry millisecond timestamps (ordering); balances#update
#: 4.0.0 carries step_id (since 3.0.0), which de-duplicates balance movements.
EVENTS: tuple[tuple[str, str], ...] = (("transfers#state-change", "4.0.0"), ("balances#update", "4.0.0"))
NO_PUBLIC_URL = "no publicUrl in the config: no webhook subscriptions; polling alone keeps data current"
CREATES_PER_EVENT = 3  # POSTs of one subscription in one call, each after looking for the previous one
MAX_ATTEMPTS = 20  # failed translations of one delivery before it is marked failed
DRAIN_BATCH = 100
#: seconds a drain that found nothing waits for more before it ends: under a steady stream
#: one drain keeps going, instead of each delivery making the receiver publish a new one
DRAIN_LINGER = 0.25


def callback_url(public_url: str, connector_id: int) -> str:
    return f"{public_url.rstrip('/')}/webhooks/wise/{int(connector_id)}"


def _client(connector_id: int) -> tuple[dict[str, Any], BudgetedHTTP]:
    row = connectors.get(connector_id)
    return row, for_connector(row, connectors.secret(connector_id)["apiKey"], interactive=True)


def subscribe(connector_id: int, client: BudgetedHTTP | None = None) -> dict[str, Any]:
    """One subscription per profile and event type (see the module docstring)."""
    row = connectors.get(connector_id)
    public = (row["config"] or {}).get("publicUrl")
    if not public:
        return {"subscriptions": 0, "note": NO_PUBLIC_URL}
    problem = public_url_problem(public)
    if problem:  # stored before the rules were checked, or the loopback switch is off now
        raise WiseConfigError({"publicUrl": problem})
    if client is None:
        row, client = _client(connector_id)
    url = callback_url(public, connector_id)
    created, kept, failed = [], [], []
    for profile in wise_store.profile_ids(connector_id):
        present = _present(client, profile, url)
        for event, version in EVENTS:
            if event in present:
                kept.append(f"{profile}:{event}")
                subscriptions.record(connector_id, profile, event, "active", url=url,
                                     subscription_id=str(present[event].get("id") or "") or None)
                continue
            try:
                sub = _create_once(client, profile, connector_id, event, version, url)
                created.append({"profile": profile, "event": event, "id": sub.get("id")})
                subscriptions.record(connector_id, profile, event, "active", url=url,
                                     subscription_id=str(sub.get("id") or "") or None)
            except ProviderError as exc:
                failed.append(f"{profile}:{event}: {exc}")
                subscriptions.record(connector_id, profile, event, "failed", url=url, error=str(exc))
    out: dict[str, Any] = {"url": url, "subscriptions": len(created) + len(kept), "created": len(created),
                           "kept": len(kept)}
    if failed:
        out["failed"] = failed
        out["note"] = "some subscriptions failed: polling alone keeps those current"
        connectors.record_error(connector_id, f"webhook subscriptions failed ({len(failed)}): {failed[0]}")
        log.warning("connector %s: %d webhook subscription(s) failed: %s", connector_id, len(failed),
                    "; ".join(failed))
    return out


def _present(client: BudgetedHTTP, profile: str, url: str) -> dict[str, dict[str, Any]]:
    """The profile's subscriptions to ``url``, by event."""
    return {str(s.get("trigger_on")): s for s in subscriptions_api.list_for(client, profile)
            if (s.get("delivery") or {}).get("url") == url}


def _create_once(client: BudgetedHTTP, profile: str, connector_id: int, event: str, version: str,
                 url: str) -> dict[str, Any]:
    """Create one subscription; after a lost answer, look for it before creating it again."""
    lost: OutcomeUnknown | None = None
    for _ in range(CREATES_PER_EVENT):
        try:
            return subscriptions_api.create(client, profile, name=f"paysync connector {connector_id} {event}",
                                            event=event, version=version, url=url)
        except OutcomeUnknown as exc:
            lost = exc
            found = _present(client, profile, url).get(event)
            if found is not None:
                return found
    assert lost is not None
    raise lost


def unsubscribe(connector_id: int, client: BudgetedHTTP | None = None) -> dict[str, Any]:
    """Delete the subscriptions whose URL is this connector's callback URL, on every profile."""
    row = connectors.get(connector_id)
    public = (row["config"] or {}).get("publicUrl")
    if not public:
        return {"deleted": 0, "note": "no publicUrl: nothing was subscribed"}
    if client is None:
        row, client = _client(connector_id)
    url = callback_url(public, connector_id)
    deleted = 0
    for profile in wise_store.profile_ids(connector_id):
        for sub in subscriptions_api.list_for(client, profile):
            if (sub.get("delivery") or {}).get("url") == url:
                subscriptions_api.delete(client, profile, str(sub["id"]))
                deleted += 1
    subscriptions.forget(connector_id)
    return {"deleted": deleted, "url": url}


def on_install(connector_id: int) -> dict[str, Any]:
    """Install hook: subscribe, never failing the install (polling keeps data current)."""
    try:
        return subscribe(connector_id)
    except Exception as exc:  # noqa: BLE001 - reported, and polling still works
        message = f"webhook subscriptions failed: {exc}"
        connectors.record_error(connector_id, message)
        return {"subscriptions": 0, "error": str(exc), "note": "polling alone keeps data current"}


def on_uninstall(connector_id: int) -> dict[str, Any]:
    """Uninstall hook (before the API key is forgotten): delete our subscriptions, best effort."""
    try:
        return unsubscribe(connector_id)
    except Exception as exc:  # noqa: BLE001 - uninstall goes on; Wise gives up on a dead URL
        log.warning("connector %s: subscriptions not deleted: %s", connector_id, exc)
        return {"deleted": 0, "error": str(exc)}


# ----------------------------------------------------------------- draining

def drain(*, seconds: float, send_alone: Callable[[int], None], publish_drain: Callable[[], None],
          sweep_after: float, batch: int = DRAIN_BATCH, linger: float = DRAIN_LINGER) -> dict[str, int]:
    """Translate every stored delivery never tried yet (module docstring); counts by outcome.

    ``send_alone(webhook_id)`` publishes a delivery's own translation job (one that waits for
    the budget); ``publish_drain()`` a new drain, when this one's ``seconds`` are up."""
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    handoff.refresh_flag()
    while True:
        ids = webhook_store.untried(batch)
        if not ids and linger > 0:
            time.sleep(linger)
            ids = webhook_store.untried(batch)
        if not ids:
            handoff.release_flag()
            ids = webhook_store.untried(batch)  # committed before the release: ours to translate
            if not ids or not handoff.claim_flag():
                return dict(counts)
        for webhook_id in ids:
            counts[_drain_one(webhook_id, send_alone, sweep_after)] += 1
        handoff.refresh_flag()
        if time.monotonic() >= deadline:
            try:
                publish_drain()
            except BaseException:
                handoff.release_flag()
                raise
            counts["handed_over"] += 1
            return dict(counts)


def _drain_one(webhook_id: int, send_alone: Callable[[int], None], sweep_after: float) -> str:
    try:
        result = translate(webhook_id)
    except BudgetExhausted as exc:
        webhook_store.hand_on(webhook_id, f"waiting for the Wise budget ({exc}): sent to its own job", sweep_after)
        try:
            send_alone(webhook_id)
        except Exception as publish_exc:  # noqa: BLE001 - handed on: the sweeper sends it later
            log.error("webhook %s not sent to its own job (%s); wise.sweep_webhooks will", webhook_id,
                      type(publish_exc).__name__)
        return "handed_on"
    except Exception as exc:
        if infra.is_transient(exc):  # an outage is waited out by the job, not counted against the delivery
            raise
        log.warning("webhook %s: translation failed: %s: %s", webhook_id, type(exc).__name__, exc)
        webhook_store.record_failure(webhook_id, f"{type(exc).__name__}: {exc}", MAX_ATTEMPTS)
        return "failed"
    if "skipped" in result:
        return "skipped"
    status = result.get("status")  # the row's outcome, or the payment's status once translated
    return str(status) if status in ("ignored", "failed") else "translated"


# ----------------------------------------------------------------- translation

def translate(webhook_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Translate one stored delivery; idempotent (a translated row is skipped). A payload that
    cannot be read marks the row ``failed``; other errors raise (the sweeper retries). It
    locks the transfer's initiations before its payment, in the order an initiation's poll
    takes them; a translation PostgreSQL still rolls back for a deadlock or a serialization
    failure runs again (:func:`storage.db.rerun_on_conflict`)."""
    return rerun_on_conflict(lambda: _translate(webhook_id, now), f"webhook {webhook_id}: translation")


def _translate(webhook_id: int, now: datetime | None) -> dict[str, Any]:
    row = webhook_store.get(webhook_id)
    if row is None:
        return {"skipped": f"no webhook {webhook_id}"}
    if row["status"] != "received":
        return {"skipped": f"already {row['status']}"}
    try:
        event = jsonnum.loads(row["body"])
        if row["event_type"] == STATE_CHANGE:
            return _state_change(row, parse_state_change(event), now)
        if row["event_type"] == BALANCE_UPDATE:
            return _balance_update(row, parse_balance_update(event))
        # any other type is ignored, unless it holds U+0000: its event_type may be the field (the
        # receiver stored it with U+FFFD), and such a delivery fails naming it, not ignored unseen
        storable(event, f"wise webhook delivery {row['delivery_id']}")
    except MapperError as exc:
        return _close(row["id"], "failed", {"error": "unreadable event"}, str(exc))
    return _close(row["id"], "ignored", {"event_type": row["event_type"]}, None)


def _close(webhook_id: int, status: str, result: dict[str, Any], error: str | None) -> dict[str, Any]:
    with transaction() as cur:
        hook = webhook_store.lock(cur, webhook_id)
        if hook is None or hook["status"] != "received":
            return {"skipped": "already translated"}
        webhook_store.finish(cur, webhook_id, status, result, error)
    return {"status": status, **result}


def _ensure_payment(row: dict[str, Any], ev: Any) -> str | None:
    """None when the payout leg exists (or was just fetched and stored), else why not."""
    cid = row["connector_id"]
    if wise_store.payment(cid, ev.transfer_id) is not None:
        return None
    try:
        run = open_run(cid)
    except ConnectorInactive as exc:
        return f"connector inactive: {exc}"
    try:
        transfer = transfers_api.get(run.client, ev.transfer_id)
    except ProviderError as exc:
        if exc.status in (403, 404):
            return f"transfer {ev.transfer_id} not visible to this connector ({exc})"
        raise
    with transaction() as cur:
        if not connectors.current(cur, run.id, run.generation):
            return "connector inactive or reset"
        persist_one(cur, run, ev.profile_id, transfer, source="poll")  # a GET: an observation, like a poll
    return None


def _state_change(row: dict[str, Any], ev: Any, now: datetime | None) -> dict[str, Any]:
    problem = _ensure_payment(row, ev)
    if problem is not None:
        status = "ignored" if problem.startswith("connector") else "failed"
        return _close(row["id"], status, {"transfer": ev.transfer_id}, problem)
    now = now or utcnow()
    window = settings.settlement_window()
    cid = row["connector_id"]
    state = ev.current_state
    with transaction() as cur:
        if not connectors.current(cur, cid):
            webhook_store.finish(cur, row["id"], "ignored", {"transfer": ev.transfer_id}, "connector inactive")
            return {"status": "ignored"}
        hook = webhook_store.lock(cur, row["id"])
        if hook is None or hook["status"] != "received":
            return {"skipped": "already translated"}
        # the transfer's initiations before its payment, as an initiation's poll takes them
        wise_store.lock_initiations_of(cur, cid, [ev.transfer_id])
        pay = wise_store.lock_payment(cur, cid, ev.transfer_id, "payout")
        if pay is None:  # reset between the fetch and now: the next delivery or poll brings it
            raise RuntimeError(f"payment of transfer {ev.transfer_id} vanished during translation")
        applied_at = wise_store.state_applied_at(cur, pay["id"], pay["raw_status"], pay["status_since"])
        newer = ev.occurred_at > applied_at
        result: dict[str, Any] = {"transfer": ev.transfer_id, "state": state, "payment_id": pay["id"]}
        if newer and state != pay["raw_status"]:
            status = payout_status({"id": ev.transfer_id, "status": state}, now, window, ev.occurred_at)
            watch = watched(state, status, ev.occurred_at, now, window)
            wise_store.set_payment_state(cur, pay, status=status.value, raw_status=state,
                                         status_since=ev.occurred_at, watched=watch)
            wise_store.follow_initiations(cur, cid, [(ev.transfer_id, status.value, state)])
            result.update(applied="current", status=status.value, previous=pay["status"])
        else:
            result.update(applied="history" if not newer else "same-state", status=pay["status"])
        result["history"] = _history(cur, pay["id"], ev, hook)
        if state == "funds_refunded":
            result["refund_payment_id"] = _refund_leg(cur, cid, pay, ev, hook)
        webhook_store.finish(cur, row["id"], "translated", result)
    return {"status": "translated", **result}


def _history(cur: Any, payment_id: int, ev: Any, hook: dict[str, Any]) -> str:
    """Record the event as an adjustment, or give a poll's later sight of it the exact time."""
    first = wise_store.adjustment_for_event(cur, payment_id, ev.occurred_at)
    raw = jsonnum.loads(hook["body"])
    if first is not None and first["raw_status"] == ev.current_state:
        if first["source"] == "webhook" and first["occurred_at"] == ev.occurred_at:
            return "known"
        if first["source"] != "webhook":
            wise_store.refine_adjustment(cur, first["id"], ev.occurred_at, raw)
            return "refined"
    wise_store.insert_adjustments(cur, [(payment_id, status_for(ev.current_state).value, ev.current_state,
                                         ev.occurred_at, raw, "webhook")])
    return "added"


def _refund_leg(cur: Any, connector_id: int, pay: dict[str, Any], ev: Any, hook: dict[str, Any]) -> int:
    """The refund leg (money back into the funding balance) as its own payment."""
    destination = pay["source_account_reference"]
    if destination is None:  # the funding balance, as its balances#update debit named it
        destination = webhook_store.funding_balance(cur, connector_id, pay["reference"])
    record = PaymentRecord(
        reference=pay["reference"], leg=Leg.REFUND, type=PaymentType.PAYIN, status=PaymentStatus.SUCCEEDED,
        raw_status="funds_refunded", amount=pay["amount"], asset=pay["asset"], created_at=ev.occurred_at,
        source_account_reference=pay["destination_account_reference"], destination_account_reference=destination,
        metadata=pay["metadata"], raw={**(pay["raw"] or {}), "status": "funds_refunded"})
    refund_id, inserted = wise_store.insert_payment(
        cur, connector_id, pay["profile_id"], wise_store.LegWrite(record, status_since=ev.occurred_at, watched=False))
    if inserted:
        wise_store.insert_adjustments(cur, [(refund_id, record.status.value, record.raw_status, ev.occurred_at,
                                             jsonnum.loads(hook["body"]), "webhook")])
    return refund_id


def _balance_update(row: dict[str, Any], mv: Any) -> dict[str, Any]:
    cid = row["connector_id"]
    with transaction() as cur:
        if not connectors.current(cur, cid):
            webhook_store.finish(cur, row["id"], "ignored", {"balance": mv.balance_id}, "connector inactive")
            return {"status": "ignored"}
        hook = webhook_store.lock(cur, row["id"])
        if hook is None or hook["status"] != "received":
            return {"skipped": "already translated"}
        recorded = webhook_store.insert_movement(cur, cid, mv, row["id"])
        balance = "not in event"
        if mv.post_transaction_balance is not None:
            balance = webhook_store.apply_balance(cur, cid, mv.balance_id, mv.asset, mv.post_transaction_balance,
                                          mv.occurred_at)
        result = {"balance": mv.balance_id, "direction": mv.direction.value, "amount": mv.amount,
                  "asset": mv.asset, "movement": "recorded" if recorded else "known", "balance_row": balance}
        webhook_store.finish(cur, row["id"], "translated", result)
    return {"status": "translated", **result}
