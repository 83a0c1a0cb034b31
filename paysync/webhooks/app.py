"""The receiver's Flask app: one endpoint per connector, ``POST /webhooks/wise/{connector_id}``.

Per request, and nothing more (Wise wants a 2xx within 5 seconds, whatever our queue depth):

0. rate: past the per-source or per-connector rate -> 429 with ``Retry-After``, before
   anything else (``paysync/webhooks/guard.py``);
1. body size: more than ``max_body`` bytes -> 413 (the body is not read past the limit);
2. connector and signature: an unknown connector, an uninstalled one, one with no usable
   key, and a signature over the raw body that is missing, malformed or wrong (a truncated
   or altered body fails here) all get the same 401 and body (``guard.not_accepted``), so a
   prober learns nothing of which connector ids exist; nothing stored, the reason logged;
4. ``X-Test-Notification: true`` (Wise's probe when a subscription is created, signed like
   any delivery) -> 200 ``{"status": "test"}``, not stored;
5. ``X-Delivery-Id`` missing, over 200 characters or holding U+0000, or a body that is not
   a JSON object with an ``event_type`` (or not UTF-8) -> 400, nothing stored (a NUL in ``event_type``,
   ``schema_version`` or ``subscription_id`` is stored, shown as U+FFFD: :func:`_column`);
6. one INSERT keyed by (connector, delivery id): a delivery id seen before is a no-op
   answered 200 ``{"status": "duplicate"}`` (handed to translation again only if still
   untranslated);
7. after the commit, the hand-off to translation: the request only notes the commit; a
   background thread makes sure a ``wise.drain_webhooks`` job follows
   (``paysync/webhooks/handoff.py``: one Redis command per 50 ms and one publish per drain,
   whatever the rate of deliveries). A hand-off that fails is logged and the delivery still
   answered 200: the row is stored, and ``wise.sweep_webhooks`` sends it to translation later.

PostgreSQL unreachable (loading the key or storing the delivery) -> 503 with
``Retry-After``: nothing was stored, and Wise delivers the event again later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, jsonify, request

from mappers import jsonnum
from paysync import infra, metrics
from paysync.webhooks.guard import RateGuard, not_accepted
from paysync.webhooks.settings import ReceiverSettings, receiver_settings
from paysync.webhooks.verify import KeyCache
from storage.db import text_column

log = logging.getLogger("paysync.webhooks")

Publisher = Callable[[int], None]


def _publish_drain() -> None:
    from tasks.webhooks import send_drain

    send_drain()


def default_publisher() -> Publisher:
    """The hand-off to translation: a drain trigger (``paysync/webhooks/handoff.py``)."""
    from paysync.webhooks.handoff import DrainTrigger

    return DrainTrigger(_publish_drain)


def _occurred_at(payload: dict[str, Any]) -> datetime | None:
    data = payload.get("data")
    raw = data.get("occurred_at") if isinstance(data, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _column(value: Any, limit: int) -> str:
    """``event_type``, ``schema_version`` or ``subscription_id`` as its text column: cut to
    ``limit``, a NUL shown as U+FFFD.

    Why a delivery holding U+0000 there is stored and answered 200: PostgreSQL cannot store
    the NUL in text, and the failed INSERT would answer 500, which Wise sends again and again.
    A 400 would fare no better: Wise takes any answer but a 200 as a failed delivery and
    retries it, and the event would be lost to us. The delivery is genuine (signed by Wise),
    so it is kept: these columns show the NUL as U+FFFD (as the quarantine does), and the body
    is stored exactly as received: a NUL in a JSON string arrives escaped, as the six
    characters ``\\u0000``, which text stores (a body whose text would hold a raw NUL is not
    UTF-8 JSON: 400). Translation then fails that one delivery, the error naming the field,
    and the others go on (``paysync/connectors/wise/webhooks.py``)."""
    return text_column(value, limit)


def _error(status: int, message: str) -> Response:
    resp = jsonify(error=message)
    resp.status_code = status
    return resp


def create_app(settings: ReceiverSettings | None = None, publish: Publisher | None = None,
               key_loader: Callable[[int], dict[str, Any] | None] | None = None) -> Flask:
    """The receiver. ``publish`` (called with a stored delivery's id after its commit) defaults
    to :func:`default_publisher`, ``key_loader`` to PostgreSQL."""
    from paysync.config import settings as paysync_settings
    from storage import webhooks as webhook_store

    cfg = settings or receiver_settings()
    publish = publish or default_publisher()
    # The pool (PAYSYNC_DB_POOL_MAX) refuses rather than waits when every connection is in use:
    # more server threads than connections queue here for a connection instead of failing.
    db_slots = threading.BoundedSemaphore(paysync_settings().db_pool_max)
    load = key_loader or webhook_store.connector_key

    def loader(connector_id: int) -> dict[str, Any] | None:
        with db_slots:
            return load(connector_id)

    keys = KeyCache(loader, cfg.key_ttl)
    app = Flask("paysync.webhooks")
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body
    app.config["KEY_CACHE"] = keys
    app.config["PUBLISH"] = publish

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.post("/webhooks/wise/<int:connector_id>")
    def wise(connector_id: int) -> Any:
        length = request.content_length
        if length is not None and length > cfg.max_body:
            return _error(413, f"body over {cfg.max_body} bytes")
        body = request.stream.read(cfg.max_body + 1)
        if len(body) > cfg.max_body:
            return _error(413, f"body over {cfg.max_body} bytes")
        if length is not None and len(body) != length:
            return _error(400, "body shorter than its Content-Length")
        signature = request.headers.get("X-Signature-SHA256")
        entry, ok = keys.verify(connector_id, body, signature)
        if not ok:
            if entry.state == "no-key":
                log.error("connector %s has no usable webhookPublicKey", connector_id)
            else:
                log.warning("connector %s: rejected a delivery (%s)", connector_id,
                            entry.state if entry.state != "ok" else ("bad signature" if signature else "no signature"))
            return not_accepted()
        if request.headers.get("X-Test-Notification", "").strip().lower() == "true":
            g.outcome = "test"
            return jsonify(status="test")
        delivery_id = (request.headers.get("X-Delivery-Id") or "").strip()
        if not delivery_id or len(delivery_id) > 200 or "\x00" in delivery_id:  # the key: stored as text
            return _error(400, "missing, oversized or invalid X-Delivery-Id")
        try:
            payload = jsonnum.loads(body)
        except Exception:
            return _error(400, "body is not JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("event_type"), str):
            return _error(400, "body is not a Wise event (no event_type)")
        text = body.decode("utf-8", "replace")
        if "\x00" in text:  # JSON in UTF-16 or UTF-32 (json reads those): not UTF-8, and text holds no NUL
            return _error(400, "body is not UTF-8 JSON")
        version = payload.get("schema_version")
        subscription = payload.get("subscription_id")
        with db_slots:
            webhook_id, inserted, status = webhook_store.insert_delivery(
                connector_id, delivery_id, _column(payload["event_type"], 100), _column(version, 20) if version else None,
                _column(subscription, 100) if subscription else None, _occurred_at(payload),
                text, signature or "", cfg.sweep_after)
        if inserted or status == "received":
            try:
                publish(webhook_id)
            except Exception as exc:  # the row is stored: the sweeper sends it later
                log.error("webhook %s stored but not enqueued (%s); wise.sweep_webhooks will", webhook_id,
                          type(exc).__name__)
        g.outcome = "stored" if inserted else "duplicate"
        return Response(b'{"id":%d,"status":"%s"}\n' % (webhook_id, b"ok" if inserted else b"duplicate"),
                        mimetype="application/json")

    @app.errorhandler(413)
    def too_large(_: Any) -> Any:
        return _error(413, f"body over {cfg.max_body} bytes")

    def unavailable(exc: Exception) -> Any:
        log.error("delivery not stored, answering 503 so Wise sends it again: %s", infra.describe(exc))
        resp = _error(503, "storage unavailable, send again later")
        resp.headers["Retry-After"] = "30"
        return resp

    for transient in infra.TRANSIENT:
        app.register_error_handler(transient, unavailable)

    @app.after_request
    def count_delivery(resp: Response) -> Response:
        if request.path.startswith("/webhooks/wise/"):
            outcome = g.get("outcome") or OUTCOME_OF_STATUS.get(resp.status_code, str(resp.status_code))
            metrics.tally(metrics.WEBHOOK_DELIVERIES, {"provider": "wise", "outcome": outcome})
        return resp

    app.wsgi_app = RateGuard(app.wsgi_app, cfg.rate_per_source, cfg.rate_per_connector)  # type: ignore[method-assign]
    return app


OUTCOME_OF_STATUS = {400: "bad_request", 401: "bad_signature", 404: "unknown_connector", 410: "gone",
                     413: "too_large", 503: "unavailable"}
