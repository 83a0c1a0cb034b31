"""Fault injection for every provider of the sandbox: one WSGI layer in front of them all.

A **rule** names a provider, a method, a path pattern (``fnmatch`` against the path below
the provider's prefix, ``*`` crossing ``/``), which of the matching calls it hits and what
happens to them:

=====================  ===========================  ==========================================
kind                   the provider's handler       what the client sees
=====================  ===========================  ==========================================
``error``              not run                      ``status`` (503 by default) with a body in
                                                    the provider's error shape
``reset``              not run                      the connection breaks mid-answer
``apply_then_timeout`` runs and commits             no answer for ``delay`` seconds (longer
                                                    than the client's timeout: a read timeout)
``apply_then_reset``   runs and commits             the connection breaks mid-answer
``slow``               runs after ``delay`` s       the provider's answer, late
=====================  ===========================  ==========================================

Which calls: counting the calls that match the rule from the moment it is set, the
``nth`` (1 by default) and the ``times - 1`` after it (``times`` 1 by default). A spent rule
stays listed (with ``fired``) until the faults are cleared or the sandbox is reset.

A broken connection is made with what WSGI allows: the answer declares a
``Content-Length`` its body never reaches, and the server closes the connection (waitress
does so when an application returns too few bytes). ``requests`` raises
``ChunkedEncodingError`` for it; a read timeout raises ``ReadTimeout``.

Control (``/_sandbox/faults``): ``GET`` lists the rules, ``POST`` adds one (the rule as
JSON; returns it with its ``id``), ``DELETE`` clears them all, ``DELETE /{id}`` one.
Counters: ``faults:<provider>:<kind>`` per fired fault. The effects a test counts
(payments, transfers, fundings, subscriptions, token grants) are ``/_sandbox/effects``
(:mod:`paysync_dev.sandbox.effects`).
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Blueprint, current_app, jsonify, request

KINDS = ("error", "reset", "apply_then_timeout", "apply_then_reset", "slow")
APPLIED = ("apply_then_timeout", "apply_then_reset", "slow")  # the handler runs
DEFAULT_DELAY = {"apply_then_timeout": 5.0, "slow": 0.5}
_DECLARED_LENGTH = 4096  # what a broken answer claims to carry

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FaultRuleError(ValueError):
    """A rule that cannot be applied; the message names the field."""


@dataclass
class FaultRule:
    provider: str
    kind: str
    method: str = "*"
    path: str = "*"
    nth: int = 1
    times: int = 1
    status: int = 503
    delay: float = 0.0
    id: int = 0
    seen: int = 0
    fired: int = 0

    @classmethod
    def parse(cls, body: Any) -> FaultRule:
        if not isinstance(body, dict):
            raise FaultRuleError("a fault rule is a JSON object")
        unknown = set(body) - {"provider", "kind", "method", "path", "nth", "times", "status", "delay"}
        if unknown:
            raise FaultRuleError(f"unknown fields {sorted(unknown)}")
        provider = str(body.get("provider") or "")
        if not provider or "/" in provider:
            raise FaultRuleError("provider: the provider's prefix, e.g. 'wise', 'xero', 'connectwise'")
        kind = str(body.get("kind") or "")
        if kind not in KINDS:
            raise FaultRuleError(f"kind: one of {', '.join(KINDS)}")
        try:
            nth, times = int(body.get("nth", 1)), int(body.get("times", 1))
            status = int(body.get("status", 503))
            delay = float(body.get("delay", DEFAULT_DELAY.get(kind, 0.0)))
        except (TypeError, ValueError):
            raise FaultRuleError("nth, times and status are whole numbers, delay a number of seconds") from None
        if nth < 1 or times < 1:
            raise FaultRuleError("nth and times must be at least 1")
        if not 500 <= status <= 599:
            raise FaultRuleError("status: a 5xx status")
        if delay < 0 or delay > 120:
            raise FaultRuleError("delay: between 0 and 120 seconds")
        path = str(body.get("path") or "*")
        if not path.startswith("/") and path != "*":
            path = "/" + path
        return cls(provider=provider, kind=kind, method=str(body.get("method") or "*").upper(), path=path,
                   nth=nth, times=times, status=status, delay=delay)

    def matches(self, provider: str, method: str, path: str) -> bool:
        return (self.provider == provider and self.method in ("*", method)
                and fnmatch.fnmatchcase(path, self.path))

    @property
    def spent(self) -> bool:
        return self.fired >= self.times

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultInjector:
    """The rules and the WSGI layer that applies them (see the module docstring)."""

    count: Callable[..., None] = lambda *key: None
    rules: list[FaultRule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, rule: FaultRule) -> FaultRule:
        with self.lock:
            rule.id = next(self._ids)
            self.rules.append(rule)
        return rule

    def clear(self, rule_id: int | None = None) -> None:
        with self.lock:
            self.rules = [] if rule_id is None else [r for r in self.rules if r.id != rule_id]

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.as_dict() for r in self.rules]

    def take(self, provider: str, method: str, path: str) -> FaultRule | None:
        """The rule that hits this call, if any (every matching rule counts the call)."""
        hit = None
        with self.lock:
            for rule in self.rules:
                if rule.spent or not rule.matches(provider, method, path):
                    continue
                rule.seen += 1
                if hit is None and rule.seen >= rule.nth:
                    rule.fired += 1
                    hit = rule
        if hit is not None:
            self.count("faults", provider, hit.kind)
        return hit

    def middleware(self, app: WSGIApp) -> WSGIApp:
        def faulty(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO") or "/"
            provider, _, rest = path.lstrip("/").partition("/")
            rest = "/" + rest
            if not provider or provider.startswith("_") or rest.startswith("/_control"):
                return app(environ, start_response)
            rule = self.take(provider, str(environ.get("REQUEST_METHOD") or "GET").upper(), rest)
            if rule is None:
                return app(environ, start_response)
            return _apply(rule, app, environ, start_response)

        return faulty


def _apply(rule: FaultRule, app: WSGIApp, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if rule.kind == "error":
        body = json.dumps(_error_body(rule, environ)).encode()
        start_response(f"{rule.status} Injected Failure", [("Content-Type", "application/json"),
                                                            ("Content-Length", str(len(body)))])
        return [body]
    if rule.kind == "reset":
        return _broken(start_response)
    if rule.kind == "slow":
        time.sleep(rule.delay)
        return app(environ, start_response)
    answer = _run(app, environ)  # the handler commits here
    if rule.kind == "apply_then_reset":
        return _broken(start_response)
    time.sleep(rule.delay)  # apply_then_timeout: the client gave up long ago
    status, headers, chunks = answer
    start_response(status, headers)
    return chunks


def _run(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """Run the wrapped app to the end, keeping its answer."""
    captured: dict[str, Any] = {}

    def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = app(environ, keep)
    try:
        chunks = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], chunks


def _broken(start_response: StartResponse) -> list[bytes]:
    """An answer cut short: its declared length is never reached, and the server hangs up."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(_DECLARED_LENGTH))])
    return [b'{"']


def _error_body(rule: FaultRule, environ: dict[str, Any]) -> dict[str, Any]:
    """A 5xx body in the shape the provider uses for its own errors."""
    message = f"sandbox fault: {rule.status} on {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
    path = str(environ.get("PATH_INFO") or "")
    if rule.provider == "xero" and "/identity/" in path:
        return {"error": "temporarily_unavailable", "error_description": message}
    if rule.provider == "xero":
        return {"Type": None, "Title": "Service Unavailable", "Status": rule.status, "Detail": message}
    if rule.provider == "connectwise":
        return {"code": "ServiceUnavailable", "message": message, "errors": []}
    return {"status": rule.status, "error": "Service Unavailable", "message": message, "path": path}


# ----------------------------------------------------------------------------- control

control = Blueprint("sandbox_faults", __name__)


def _injector() -> FaultInjector:
    return current_app.config["SANDBOX_FAULTS"]


@control.get("/faults")
def faults_list() -> Any:
    return jsonify(_injector().snapshot())


@control.post("/faults")
def faults_add() -> Any:
    try:
        rule = FaultRule.parse(request.get_json(silent=True))
    except FaultRuleError as exc:
        return jsonify(error=str(exc)), 400
    state = current_app.config["SANDBOX_STATE"]
    if rule.provider not in state.providers:
        return jsonify(error=f"provider: one of {sorted(state.providers)}"), 400
    return jsonify(_injector().add(rule).as_dict()), 201


@control.delete("/faults")
def faults_clear() -> Any:
    _injector().clear()
    return jsonify(status="cleared")


@control.delete("/faults/<int:rule_id>")
def faults_delete(rule_id: int) -> Any:
    _injector().clear(rule_id)
    return jsonify(status="deleted", id=rule_id)
