"""The Wise stand-in's webhooks: profile subscriptions and signed deliveries.

API (``Authorization: Bearer <token>``, like the rest of ``/wise``)::

    POST   /v3/profiles/{profileId}/subscriptions   {name, trigger_on, delivery {version, url}}
    GET    /v3/profiles/{profileId}/subscriptions
    GET    /v3/profiles/{profileId}/subscriptions/{subscriptionId}
    DELETE /v3/profiles/{profileId}/subscriptions/{subscriptionId}

Creating a subscription checks the callback URL against Wise's rules (strict, the
default): HTTPS, on port 443, a domain name rather than an IP address, no query string; a
URL that breaks one answers 422 naming the rule. The sandbox's own receivers on loopback
(``http://127.0.0.1:PORT``, ``localhost``, ``[::1]``) are let through only with
``allow_loopback`` set in this config (a sandbox-only switch; tests and the demo set it).
A lenient sandbox takes any http(s) URL. Then it probes the URL as Wise does: a signed test
notification (``X-Test-Notification: true``); anything but a 2xx answers 422
``INVALID_CALLBACK_URL``.

Deliveries. Every transfer state change and balance change of the engine (its listeners get
Wise's ``data`` object) becomes one delivery per matching subscription (same event type,
same profile): body ``{data, subscription_id, event_type, schema_version, sent_at}``,
headers ``X-Signature-SHA256`` (base64 RSA PKCS#1 v1.5 SHA-256 over the exact body) and
``X-Delivery-Id``. A background thread POSTs due deliveries (never holding the sandbox lock
during HTTP); a delivery not acknowledged with a 2xx within ``timeout`` seconds is retried
with exponential backoff on the virtual clock (``retry_base`` doubling up to ``retry_max``,
at most ``max_attempts``), under the same ``X-Delivery-Id``. On seeded randomness, a share
of deliveries is also sent a second time under a new delivery id (``duplicate_share``:
Wise delivers at least once) and a share is held back ``reorder_delay`` virtual seconds so
later events overtake it (``reorder_share``: Wise does not guarantee order).

Signing key: an RSA key pair made once per process (or read from the PEM private key file
named by ``PAYSYNC_SANDBOX_WEBHOOK_KEY``), printed on stderr at start and served as PEM by
``GET /wise/_control/webhook-public-key``: install a connector with it as ``webhookPublicKey``.

Control (no auth) under ``/wise/_control/webhooks``: ``GET`` (config, subscriptions,
delivery counts and the latest deliveries), ``POST config`` (any of :data:`DEFAULTS`),
``POST flush {"all": false, "timeout": 30}`` (deliver everything due now, in due order, from
the request thread; ``all`` also sends what is held back or waiting for a retry, each once),
``POST test {"subscriptionId"}`` (send a test notification now).
"""

from __future__ import annotations

import base64
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Response, g, request

from paysync_dev.sandbox.core import SandboxState
from paysync_dev.sandbox.wise_data import dumps, fmt_iso_ms, loads
from paysync_dev.sandbox.wise_transfers import WiseEngine, WiseError

#: Event types a profile subscription may name (Wise's list); the sandbox emits the first two.
EVENT_TYPES = ("transfers#state-change", "balances#update", "transfers#active-cases", "transfers#payout-failure",
               "transfers#refund", "balances#credit", "swift-in#credit")

DEFAULTS: dict[str, Any] = {
    "duplicate_share": 0.0,   # share of deliveries also sent again under a new delivery id
    "reorder_share": 0.0,     # share held back reorder_delay virtual seconds (later events overtake)
    "reorder_delay": 30.0,
    "retry_base": 60.0,       # virtual seconds before the first retry; doubles per attempt
    "retry_max": 86400.0,
    "max_attempts": 25,       # Wise: up to 25 retries over two weeks
    "timeout": 5.0,           # real seconds to acknowledge
    "paused": False,          # the background thread delivers nothing (flush still does)
    "interval": 0.1,          # real seconds between background rounds
    "concurrency": 8,
    "allow_loopback": False,  # strict: loopback callback URLs (the sandbox's own receivers) refused
}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def url_rule_broken(url: str, allow_loopback: bool) -> str | None:
    """The Wise webhook URL rule ``url`` breaks, or None (module docstring)."""
    import ipaddress

    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    if allow_loopback and host in LOOPBACK_HOSTS and parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme != "https":
        return "delivery.url must use HTTPS"
    try:
        ipaddress.ip_address(host)
        return "delivery.url must name a domain, not an IP address"
    except ValueError:
        pass
    if host in LOOPBACK_HOSTS or not host or "." not in host:
        return "delivery.url must name a public domain"
    if parsed.port not in (None, 443):
        return "delivery.url must use port 443"
    if parsed.query:
        return "delivery.url must not carry a query string"
    return None

_KEY_LOCK = threading.Lock()
_KEY: rsa.RSAPrivateKey | None = None
_PRINTED = False


def signing_key() -> rsa.RSAPrivateKey:
    """The process's webhook signing key (made once, or read from PAYSYNC_SANDBOX_WEBHOOK_KEY)."""
    global _KEY
    with _KEY_LOCK:
        if _KEY is None:
            path = os.environ.get("PAYSYNC_SANDBOX_WEBHOOK_KEY")
            if path and os.path.exists(path):
                with open(path, "rb") as fh:
                    key = serialization.load_pem_private_key(fh.read(), password=None)
                if not isinstance(key, rsa.RSAPrivateKey):
                    raise ValueError(f"{path} does not hold an RSA private key")
                _KEY = key
            else:
                _KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if path:
                    with open(path, "wb") as fh:
                        fh.write(_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        return _KEY


def public_pem() -> str:
    return signing_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(body: bytes) -> str:
    """base64 RSA PKCS#1 v1.5 SHA-256 signature of ``body`` (Wise's X-Signature-SHA256)."""
    return base64.b64encode(signing_key().sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclass
class Subscription:
    id: str
    profile_id: int
    user_id: int
    name: str
    trigger_on: str
    version: str
    url: str
    created_at: float

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "delivery": {"version": self.version, "url": self.url},
                "trigger_on": self.trigger_on, "scope": {"domain": "profile", "id": str(self.profile_id)},
                "created_by": {"type": "user", "id": str(self.user_id)}, "created_at": fmt_iso_ms(self.created_at)}


@dataclass
class Delivery:
    id: str
    seq: int
    subscription_id: str
    url: str
    event_type: str
    body: bytes
    signature: str
    due: float
    test: bool = False
    duplicate_of: str | None = None
    held_back: bool = False
    status: str = "pending"   # pending | in_flight | delivered | failed | dropped
    attempts: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"deliveryId": self.id, "subscriptionId": self.subscription_id, "eventType": self.event_type,
                "status": self.status, "attempts": self.attempts, "dueAt": fmt_iso_ms(self.due),
                "test": self.test, "duplicateOf": self.duplicate_of, "heldBack": self.held_back,
                "body": self.body.decode(), "log": self.log[-5:]}


def _send(d: Delivery, timeout: float) -> tuple[int | None, str | None]:
    headers = {"Content-Type": "application/json", "X-Signature-SHA256": d.signature, "X-Delivery-Id": d.id,
               "User-Agent": "paysync-sandbox-wise-webhooks"}
    if d.test:
        headers["X-Test-Notification"] = "true"
    try:
        resp = requests.post(d.url, data=d.body, headers=headers, timeout=timeout)
        return resp.status_code, None
    except requests.RequestException as exc:
        return None, type(exc).__name__


class RouteAdder(Protocol):
    """How the Wise provider mounts a view (``WiseSandbox.add_route``): with a ``label`` an API
    call (authenticated and counted), without one a control route."""

    def __call__(self, rule: str, methods: list[str], func: Callable[..., Any], label: str | None = None, *,
                 endpoint: str | None = None, locked: bool = True) -> None: ...


class WiseWebhooks:
    """Subscriptions and deliveries over one Wise engine (its transfers and balances)."""

    def __init__(self, engine: WiseEngine) -> None:
        self.engine = engine
        self.cfg: dict[str, Any] = dict(DEFAULTS)
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self.state: SandboxState | None = None
        self._rng = random.Random(0)
        self._seq = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._pool: ThreadPoolExecutor | None = None
        signing_key()

    # ------------------------------------------------------------ lifecycle (under the sandbox lock)

    def reset(self, state: SandboxState, seed: int, overrides: dict[str, Any] | None) -> None:
        self.state = state
        self.cfg = {**DEFAULTS, **(overrides or {})}
        self.subscriptions.clear()
        self.deliveries.clear()
        self._rng = random.Random(f"wise-webhooks:{seed}")
        self._seq = 0

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _now(self) -> float:
        assert self.state is not None
        return self.state.clock.now()

    # ------------------------------------------------------------ events -> deliveries

    def on_event(self, event_type: str, data: dict[str, Any]) -> None:
        """Engine listener (runs under the sandbox lock): queue deliveries, send nothing here."""
        if self.state is None or not self.subscriptions:
            return
        profile = (data.get("resource") or {}).get("profile_id")
        now = self._now()
        for sub in list(self.subscriptions.values()):
            if sub.trigger_on != event_type or sub.profile_id != profile:
                continue
            body = self._body(sub, event_type, data, now)
            d = self._queue(sub, event_type, body, now)
            if self._rng.random() < float(self.cfg["reorder_share"]):
                d.due += float(self.cfg["reorder_delay"])
                d.held_back = True
            if self._rng.random() < float(self.cfg["duplicate_share"]):
                twin = self._queue(sub, event_type, body, d.due + 1.0)
                twin.duplicate_of = d.id
        self._wake.set()

    @staticmethod
    def _body(sub: Subscription, event_type: str, data: dict[str, Any], now: float) -> bytes:
        if event_type == "balances#update" and sub.version.startswith("2."):
            data = {k: v for k, v in data.items() if k != "step_id"}  # step_id came with 3.0.0
        return dumps({"data": data, "subscription_id": sub.id, "event_type": event_type,
                      "schema_version": sub.version, "sent_at": fmt_iso_ms(now)}).encode()

    def _queue(self, sub: Subscription, event_type: str, body: bytes, due: float, test: bool = False) -> Delivery:
        self._seq += 1
        d = Delivery(id=self._uuid(), seq=self._seq, subscription_id=sub.id, url=sub.url, event_type=event_type,
                     body=body, signature=sign(body), due=due, test=test)
        if not test:
            self.deliveries.append(d)
        return d

    # ------------------------------------------------------------ delivering (never under the lock)

    def _take(self, include_future: bool, exclude: set[str] | None = None, limit: int = 64) -> list[Delivery]:
        assert self.state is not None
        with self.state.lock:
            self.state.tick()  # due transfer steps first: their events join this round
            now = self._now()
            due = [d for d in self.deliveries if d.status == "pending" and (include_future or d.due <= now)
                   and not (exclude and d.id in exclude)]
            due.sort(key=lambda d: (d.due, d.seq))
            due = due[:limit]
            for d in due:
                d.status = "in_flight"
            return due

    def _settle(self, d: Delivery, code: int | None, error: str | None) -> None:
        assert self.state is not None
        with self.state.lock:
            now = self._now()
            d.attempts += 1
            d.log.append({"at": fmt_iso_ms(now), "status": code, "error": error})
            if d.subscription_id not in self.subscriptions:
                d.status = "dropped"
            elif code is not None and 200 <= code < 300:
                d.status = "delivered"
            elif d.attempts >= int(self.cfg["max_attempts"]):
                d.status = "failed"
            else:
                d.status = "pending"
                d.due = now + min(float(self.cfg["retry_base"]) * 2 ** (d.attempts - 1), float(self.cfg["retry_max"]))
            if self.state is not None:
                self.state.count("wise", "webhooks", d.status if d.status != "pending" else "retried")

    def deliver(self, d: Delivery) -> int | None:
        code, error = _send(d, float(self.cfg["timeout"]))
        self._settle(d, code, error)
        return code

    def flush(self, include_future: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        """Deliver everything due (``include_future``: everything pending) in due order, each
        delivery at most once per flush; waits for the background thread's in-flight ones."""
        tried: set[str] = set()
        deadline = time.monotonic() + timeout
        results: dict[str, int] = {}
        while time.monotonic() < deadline:
            batch = self._take(include_future, exclude=tried)
            if not batch:
                if not any(d.status == "in_flight" for d in list(self.deliveries)):
                    break
                time.sleep(0.02)
                continue
            for d in batch:
                tried.add(d.id)
                code = self.deliver(d)
                key = str(code) if code is not None else "error"
                results[key] = results.get(key, 0) + 1
        return {"sent": len(tried), "answers": results, **self.summary()}

    def ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._pool = ThreadPoolExecutor(max_workers=int(self.cfg["concurrency"]), thread_name_prefix="wise-webhook")
        self._thread = threading.Thread(target=self._loop, name="wise-webhooks", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background thread (tests that build many sandboxes in one process)."""
        self._stopped = True
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(float(self.cfg["interval"]))
            self._wake.clear()
            try:
                if self.state is None or self.cfg["paused"] or not self.subscriptions:
                    continue
                batch = self._take(include_future=False)
                if batch and self._pool is not None:
                    list(self._pool.map(self.deliver, batch))
            except Exception as exc:  # pragma: no cover - keep delivering whatever happened
                print(f"wise webhooks: delivery round failed: {exc!r}", file=sys.stderr)
                time.sleep(0.5)

    def summary(self) -> dict[str, Any]:
        by: dict[str, int] = {}
        for d in list(self.deliveries):
            by[d.status] = by.get(d.status, 0) + 1
        return {"deliveries": dict(sorted(by.items()))}

    # ------------------------------------------------------------ subscriptions

    def _probe(self, sub: Subscription) -> tuple[int | None, str | None]:
        body = dumps({"data": {}, "subscription_id": sub.id, "event_type": sub.trigger_on,
                      "schema_version": sub.version, "sent_at": fmt_iso_ms(self._now())}).encode()
        d = Delivery(id=str(uuid.uuid4()), seq=0, subscription_id=sub.id, url=sub.url, event_type=sub.trigger_on,
                     body=body, signature=sign(body), due=self._now(), test=True)
        return _send(d, float(self.cfg["timeout"]))

    def create(self, user: Any, profile_id: int, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        assert self.state is not None
        with self.state.lock:
            self.engine.require_profile(user, profile_id)
            name = body.get("name")
            trigger = body.get("trigger_on")
            delivery = body.get("delivery") if isinstance(body.get("delivery"), dict) else {}
            url, version = delivery.get("url"), delivery.get("version")
            problems = []
            if not isinstance(name, str) or not name.strip():
                problems.append(("name", "name is required"))
            if trigger not in EVENT_TYPES:
                problems.append(("trigger_on", f"trigger_on must be one of {', '.join(EVENT_TYPES)}"))
            if not isinstance(version, str) or not version.strip():
                problems.append(("delivery.version", "delivery.version is required"))
            parsed = urlparse(url) if isinstance(url, str) else None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems.append(("delivery.url", "delivery.url must be an http(s) URL"))
            elif not self.state.lenient:
                broken = url_rule_broken(str(url), bool(self.cfg.get("allow_loopback")))
                if broken:
                    problems.append(("delivery.url", f"{broken} (Wise's webhook URL rules)"))
            if problems:
                raise WiseError(422, "NOT_VALID", problems[0][1], problems[0][0], [p for p, _ in problems])
            sub = Subscription(id=self._uuid(), profile_id=profile_id, user_id=user.id, name=name.strip(),
                               trigger_on=trigger, version=version.strip(), url=url, created_at=self._now())
        code, error = self._probe(sub)  # HTTP outside the lock
        if code is None or not 200 <= code < 300:
            answer = f"HTTP {code}" if code is not None else error
            raise WiseError(422, "INVALID_CALLBACK_URL", f"The callback URL did not acknowledge the test "
                            f"notification ({answer})", "delivery.url", [url])
        with self.state.lock:
            self.subscriptions[sub.id] = sub
        self.ensure_thread()
        return sub.json(), 200

    def _owned(self, user: Any, profile_id: int, subscription_id: str) -> Subscription:
        self.engine.require_profile(user, profile_id)
        sub = self.subscriptions.get(subscription_id)
        if sub is None or sub.profile_id != profile_id:
            raise WiseError(404, "subscription.not-found", f"Subscription {subscription_id} not found")
        return sub


def _body() -> dict[str, Any]:
    raw = request.get_data()
    data = loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise WiseError(400, "NOT_VALID", "The body must be a JSON object")
    return data


def install(engine: WiseEngine, add_route: RouteAdder) -> WiseWebhooks:
    """Subscriptions and deliveries for ``engine``: listens to its events and mounts the
    subscription API and the webhook control routes through ``add_route``."""
    global _PRINTED
    hooks = WiseWebhooks(engine)
    engine.listeners.append(hooks.on_event)

    def route(rule: str, methods: list[str], func: Callable[..., Any], label: str | None = None,
              locked: bool = True) -> None:
        """A view; ``locked`` ones run under the sandbox lock (no HTTP inside them)."""
        add_route(rule, methods, func, label, endpoint=f"webhooks_{func.__name__}", locked=locked)

    base = "/v3/profiles/<int:profile_id>/subscriptions"
    label = "/v3/profiles/{profileId}/subscriptions"

    def sub_create(profile_id: int) -> Any:
        return hooks.create(g.wise_user, profile_id, g.wise_body)

    def sub_list(profile_id: int) -> Any:
        hooks.engine.require_profile(g.wise_user, profile_id)
        return [s.json() for s in hooks.subscriptions.values() if s.profile_id == profile_id]

    def sub_get(profile_id: int, subscription_id: str) -> Any:
        return hooks._owned(g.wise_user, profile_id, subscription_id).json()

    def sub_delete(profile_id: int, subscription_id: str) -> Any:
        sub = hooks._owned(g.wise_user, profile_id, subscription_id)
        del hooks.subscriptions[sub.id]
        for d in hooks.deliveries:
            if d.subscription_id == sub.id and d.status == "pending":
                d.status = "dropped"
        return Response(status=204)

    route(base, ["POST"], sub_create, f"POST {label}", locked=False)
    route(base, ["GET"], sub_list, f"GET {label}")
    route(f"{base}/<subscription_id>", ["GET"], sub_get, f"GET {label}/{{subscriptionId}}")
    route(f"{base}/<subscription_id>", ["DELETE"], sub_delete, f"DELETE {label}/{{subscriptionId}}")

    def public_key() -> Any:
        return Response(public_pem(), mimetype="application/x-pem-file")

    def overview() -> Any:
        return {"config": hooks.cfg, "publicKey": public_pem(),
                "subscriptions": [s.json() for s in hooks.subscriptions.values()], **hooks.summary(),
                "latest": [d.json() for d in hooks.deliveries[-int(request.args.get("limit", 20)):]]}

    def config_set() -> Any:
        data = _body()
        unknown = set(data) - set(DEFAULTS)
        if unknown:
            raise WiseError(400, "NOT_VALID", f"unknown webhook config keys: {sorted(unknown)}")
        hooks.cfg.update(data)
        hooks._wake.set()
        return hooks.cfg

    def flush() -> Any:
        data = _body()
        return hooks.flush(include_future=bool(data.get("all")), timeout=float(data.get("timeout", 30)))

    def test() -> Any:
        data = _body()
        sub = hooks.subscriptions.get(str(data.get("subscriptionId")))
        if sub is None:
            raise WiseError(404, "subscription.not-found", f"Subscription {data.get('subscriptionId')} not found")
        code, error = hooks._probe(sub)
        return {"subscriptionId": sub.id, "status": code, "error": error}

    route("/_control/webhook-public-key", ["GET"], public_key)
    route("/_control/webhooks", ["GET"], overview)
    route("/_control/webhooks/config", ["POST"], config_set)
    route("/_control/webhooks/flush", ["POST"], flush, locked=False)
    route("/_control/webhooks/test", ["POST"], test, locked=False)

    if not _PRINTED:
        _PRINTED = True
        print("wise webhooks: signing with this public key (GET /wise/_control/webhook-public-key); use it as "
              "the connector's webhookPublicKey:\n" + public_pem(), file=sys.stderr, flush=True)
    return hooks
