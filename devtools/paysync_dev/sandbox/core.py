"""Sandbox state shared by every provider: clock, seeded randomness, call counters, faults, strictness.

Strict is the default: each provider refuses what the real one refuses (Xero's scopes per
endpoint and exact redirect URIs, Wise's webhook URL rules) and follows the provider's
documented behaviour where it is less convenient. ``lenient`` (``paysync sandbox
--lenient``, or ``{"lenient": true}`` in a reset) relaxes those checks for local
experiments; the suite and the demo run strict.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol

from flask import Blueprint, Response, current_app

from paysync_dev.sandbox.clock import VirtualClock


class Provider(Protocol):
    """A stand-in API. ``blueprint`` is mounted at ``/<name>``; state lives on the provider."""

    name: str
    blueprint: Blueprint

    def reset(self, state: SandboxState, seed: int, size: dict[str, Any]) -> None:
        """Forget everything and build the seed data for ``seed`` (deterministic)."""

    def on_clock(self, state: SandboxState) -> None:
        """Called after the clock moved (or on any request): advance timers."""


@dataclass
class SandboxState:
    clock: VirtualClock
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)
    counters: Counter = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)
    providers: dict[str, Provider] = field(default_factory=dict)
    listeners: list[Callable[[SandboxState], None]] = field(default_factory=list)
    lenient: bool = False  # strict by default (module docstring)
    faults: Any = None  # the FaultInjector in front of the providers (paysync_dev.sandbox.faults)

    def count(self, *key: Any) -> None:
        """Count one event; keys are joined with ':' (``count('xero', app, tenant, 'calls')``)."""
        with self.lock:
            self.counters[":".join(str(k) for k in key)] += 1

    def counters_snapshot(self, prefix: str = "") -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in sorted(self.counters.items()) if k.startswith(prefix)}

    def reset(self, seed: int, size: dict[str, Any] | None = None, scale: float | None = None,
              lenient: bool | None = None) -> None:
        """Forget everything and seed again; ``lenient`` (when given) stays set for later resets."""
        with self.lock:
            if lenient is not None:
                self.lenient = bool(lenient)
            self.seed = seed
            self.rng = random.Random(seed)
            self.counters.clear()
            self.clock.reset(scale=scale)
            if self.faults is not None:
                self.faults.clear()
            for provider in self.providers.values():
                provider.reset(self, seed, size or {})

    def tick(self) -> None:
        for provider in self.providers.values():
            provider.on_clock(self)


def virtual_date(response: Response) -> Response:
    """``after_request`` of every provider: the ``Date`` header from the virtual clock, as a real
    provider's answer carries its own clock (paysync reads it for clock skew and Wise's time)."""
    state: SandboxState = current_app.config["SANDBOX_STATE"]
    response.headers["Date"] = formatdate(state.clock.now(), usegmt=True)
    return response
