"""The sandbox's control API: virtual clock, counters, seeded reset."""

from __future__ import annotations

from flask import Blueprint, jsonify

from paysync.sandbox.server import create_app


class EchoProvider:
    """A minimal provider: counts calls, exposes the clock, keeps a seeded number."""

    name = "echo"

    def __init__(self) -> None:
        self.blueprint = Blueprint("echo", __name__)
        self.value = None
        self.ticks = 0
        provider = self

        @self.blueprint.get("/ping")
        def ping():
            from flask import current_app

            state = current_app.config["SANDBOX_STATE"]
            state.count("echo", "ping")
            return jsonify(now=state.clock.now(), value=provider.value)

    def reset(self, state, seed, size):
        self.value = state.rng.randint(0, 10**9)

    def on_clock(self, state):
        self.ticks += 1


def test_clock_advances_and_counters_count():
    provider = EchoProvider()
    client = create_app(providers=[provider]).test_client()
    t0 = client.get("/_sandbox/clock").get_json()["now"]
    after = client.post("/_sandbox/clock", json={"advance": 1800}).get_json()["now"]
    assert 1800 <= after - t0 < 1805
    assert client.get("/echo/ping").get_json()["now"] >= after
    client.get("/echo/ping")
    assert client.get("/_sandbox/counters").get_json() == {"echo:ping": 2}
    client.post("/_sandbox/counters/reset")
    assert client.get("/_sandbox/counters").get_json() == {}
    assert client.post("/_sandbox/clock", json={"advance": -5}).status_code == 400


def test_reset_reseeds_deterministically_and_resets_the_clock():
    provider = EchoProvider()
    client = create_app(providers=[provider]).test_client()
    client.post("/_sandbox/reset", json={"seed": 42})
    first = provider.value
    client.post("/_sandbox/clock", json={"advance": 3600})
    client.post("/_sandbox/reset", json={"seed": 42})
    assert provider.value == first
    assert abs(client.get("/_sandbox/clock").get_json()["now"] - __import__("time").time()) < 5
    client.post("/_sandbox/reset", json={"seed": 43})
    assert provider.value != first


def test_scaled_clock_runs_faster():
    client = create_app(providers=[EchoProvider()], scale=1000).test_client()
    t0 = client.get("/_sandbox/clock").get_json()["now"]
    import time

    time.sleep(0.05)
    assert client.get("/_sandbox/clock").get_json()["now"] - t0 >= 40


def test_real_server_control_api(sandbox_ctl):
    t0 = sandbox_ctl.now()
    assert sandbox_ctl.advance(600) - t0 >= 600
    assert sandbox_ctl.health()["status"] == "ok"
    assert isinstance(sandbox_ctl.counters(), dict)
