"""Receiver settings from the environment (read once per app).

- ``PAYSYNC_WEBHOOKS_MAX_BODY`` [``65536``]: largest body accepted, in bytes (larger: 413).
- ``PAYSYNC_WEBHOOKS_KEY_TTL`` [``30``]: seconds a connector's public key stays cached.
- ``PAYSYNC_WEBHOOKS_SWEEP_AFTER`` [``60``]: seconds after which a stored delivery not yet
  translated is sent to translation again by ``wise.sweep_webhooks``.
- ``PAYSYNC_WEBHOOKS_SWEEP_BEAT`` [``30``]: seconds between beat runs of the sweeper.
- ``PAYSYNC_WEBHOOKS_THREADS`` [``16``]: waitress worker threads.
- ``PAYSYNC_WEBHOOKS_DRAIN_SECONDS`` [``10``]: how long one drain job translates before it
  hands the rest to a new drain job (other jobs of the queue get the process in between).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from paysync.errors import ConfigError


def _number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


@dataclass(frozen=True)
class ReceiverSettings:
    max_body: int
    key_ttl: float
    sweep_after: float
    threads: int
    drain_seconds: float = 10.0


def receiver_settings() -> ReceiverSettings:
    return ReceiverSettings(
        max_body=int(_number("PAYSYNC_WEBHOOKS_MAX_BODY", 65536, 1024)),
        key_ttl=_number("PAYSYNC_WEBHOOKS_KEY_TTL", 30, 0),
        sweep_after=_number("PAYSYNC_WEBHOOKS_SWEEP_AFTER", 60, 1),
        threads=int(_number("PAYSYNC_WEBHOOKS_THREADS", 16, 1)),
        drain_seconds=_number("PAYSYNC_WEBHOOKS_DRAIN_SECONDS", 10, 0.1),
    )

