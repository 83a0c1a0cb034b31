"""Sandbox state shared by every provider: clock, seeded randomness, call counters, faults."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Blueprint

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
    faults: Any = None  # the FaultInjector in front of the providers (paysync_dev.sandbox.faults)

    def count(self, *key: Any) -> None:
        """Count one event; keys are joined with ':' (``count('xero', app, tenant, 'calls')``)."""
        with self.lock:
            self.counters[":".join(str(k) for k in key)] += 1

    def counters_snapshot(self, prefix: str = "") -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in sorted(self.counters.items()) if k.startswith(prefix)}

    def reset(self, seed: int, size: dict[str, Any] | None = None, scale: float | None = None) -> None:
        with self.lock:
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
