"""The sandbox's WSGI app and server: providers plus the ``/_sandbox`` control API, with the
fault-injection layer (:mod:`.faults`) in front of every provider."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from paysync_dev.sandbox import effects, faults
from paysync_dev.sandbox.clock import VirtualClock
from paysync_dev.sandbox.connectwise import ConnectWiseSandbox
from paysync_dev.sandbox.core import Provider, SandboxState
from paysync_dev.sandbox.wise import WiseSandbox
from paysync_dev.sandbox.xero import XeroSandbox

control = Blueprint("sandbox_control", __name__)


def _state() -> SandboxState:
    return current_app.config["SANDBOX_STATE"]


@control.get("/health")
def health() -> Any:
    state = _state()
    return jsonify(status="ok", seed=state.seed, now=state.clock.now(), providers=sorted(state.providers),
                   lenient=state.lenient)


@control.post("/reset")
def reset() -> Any:
    body = request.get_json(silent=True) or {}
    state = _state()
    state.reset(seed=int(body.get("seed", state.seed)), size=body.get("size") or {}, scale=body.get("scale"),
                lenient=body.get("lenient"))
    return jsonify(status="reset", seed=state.seed, now=state.clock.now(), lenient=state.lenient)


@control.get("/clock")
def clock_get() -> Any:
    state = _state()
    return jsonify(now=state.clock.now(), scale=state.clock.scale)


@control.post("/clock")
def clock_post() -> Any:
    body = request.get_json(silent=True) or {}
    state = _state()
    if "scale" in body:
        state.clock.scale = float(body["scale"])
    seconds = float(body.get("advance", 0))
    if seconds < 0:
        return jsonify(error="advance must be zero or more seconds"), 400
    with state.lock:
        state.clock.advance(seconds)
        state.tick()
    return jsonify(now=state.clock.now(), scale=state.clock.scale)


@control.get("/counters")
def counters() -> Any:
    return jsonify(_state().counters_snapshot(request.args.get("prefix", "")))


@control.post("/counters/reset")
def counters_reset() -> Any:
    state = _state()
    with state.lock:
        state.counters.clear()
    return jsonify(status="reset")


def default_providers() -> list[Provider]:
    """Every stand-in: Xero, Wise, ConnectWise (each a fresh instance with its own state)."""
    return [XeroSandbox(), WiseSandbox(), ConnectWiseSandbox()]


def create_app(seed: int = 0, scale: float = 1.0, size: dict[str, Any] | None = None,
               providers: list[Provider] | None = None, lenient: bool = False) -> Flask:
    app = Flask("paysync_dev.sandbox")
    state = SandboxState(clock=VirtualClock(scale=scale), lenient=lenient)
    for provider in default_providers() if providers is None else providers:
        state.providers[provider.name] = provider
        app.register_blueprint(provider.blueprint, url_prefix=f"/{provider.name}")
    app.register_blueprint(control, url_prefix="/_sandbox")
    app.register_blueprint(faults.control, url_prefix="/_sandbox")
    app.register_blueprint(effects.control, url_prefix="/_sandbox")
    app.config["SANDBOX_STATE"] = state
    state.faults = faults.FaultInjector(count=state.count)
    app.config["SANDBOX_FAULTS"] = state.faults
    app.wsgi_app = state.faults.middleware(app.wsgi_app)  # type: ignore[method-assign]
    state.reset(seed=seed, size=size or {})

    @app.before_request
    def _tick() -> None:  # timers move on every request, not only on explicit advances
        if not request.path.startswith("/_sandbox"):
            with state.lock:
                state.tick()

    return app


def create_server(app: Flask, host: str = "127.0.0.1", port: int = 8765, threads: int = 32) -> Any:
    """The sandbox's server, bound (an ``OSError`` when the port is taken); ``.run()`` serves."""
    from waitress.server import create_server as waitress_server

    return waitress_server(app, host=host, port=port, threads=threads, ident="paysync-sandbox",
                           connection_limit=512, channel_timeout=30)


def serve(host: str = "127.0.0.1", port: int = 8765, seed: int = 0, scale: float = 1.0,
          threads: int = 32, lenient: bool = False) -> None:
    create_server(create_app(seed=seed, scale=scale, lenient=lenient), host, port, threads).run()
