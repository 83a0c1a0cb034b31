"""Receiver settings from the environment (read once per app).

- ``PAYSYNC_WEBHOOKS_MAX_BODY`` [``65536``]: largest body accepted, in bytes (larger: 413).
- ``PAYSYNC_WEBHOOKS_KEY_TTL`` [``30``]: seconds a connector's public key stays cached.
- ``PAYSYNC_WEBHOOKS_SWEEP_AFTER`` [``60``]: seconds after which a stored delivery not yet
  translated is sent to translation again by ``wise.sweep_webhooks``.
- ``PAYSYNC_WEBHOOKS_SWEEP_BEAT`` [``30``]: seconds between beat runs of the sweeper.
- ``PAYSYNC_WEBHOOKS_THREADS`` [``16``]: waitress worker threads.
- ``PAYSYNC_WEBHOOKS_RATE_PER_SOURCE`` [``50``]: requests a second from one source address
  (a burst of as many); more -> 429 with ``Retry-After``. ``0``: no limit.
- ``PAYSYNC_WEBHOOKS_RATE_PER_CONNECTOR`` [``100``]: requests a second to one connector id
  (known or not); more -> 429. ``0``: no limit.
- ``PAYSYNC_WEBHOOKS_CHANNEL_TIMEOUT`` [``10``]: seconds a connection may stay idle (a slow
  upload that stops sending) before it is closed.
- ``PAYSYNC_WEBHOOKS_REQUEST_TIMEOUT`` [``15``]: seconds a request may take to arrive whole
  (a sender that trickles bytes); then its connection is closed.
- ``PAYSYNC_WEBHOOKS_CONNECTIONS`` [``1000``]: open connections at most.
- ``PAYSYNC_WEBHOOKS_TRUSTED_PROXY`` [unset]: the address of the reverse proxy in front of the
  receiver; its ``X-Forwarded-For`` then names the source the rate limit counts.
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
    rate_per_source: float
    rate_per_connector: float
    channel_timeout: float
    request_timeout: float
    connections: int
    trusted_proxy: str | None
    drain_seconds: float = 10.0


def receiver_settings() -> ReceiverSettings:
    return ReceiverSettings(
        max_body=int(_number("PAYSYNC_WEBHOOKS_MAX_BODY", 65536, 1024)),
        key_ttl=_number("PAYSYNC_WEBHOOKS_KEY_TTL", 30, 0),
        sweep_after=_number("PAYSYNC_WEBHOOKS_SWEEP_AFTER", 60, 1),
        threads=int(_number("PAYSYNC_WEBHOOKS_THREADS", 16, 1)),
        rate_per_source=_number("PAYSYNC_WEBHOOKS_RATE_PER_SOURCE", 50, 0),
        rate_per_connector=_number("PAYSYNC_WEBHOOKS_RATE_PER_CONNECTOR", 100, 0),
        channel_timeout=_number("PAYSYNC_WEBHOOKS_CHANNEL_TIMEOUT", 10, 1),
        request_timeout=_number("PAYSYNC_WEBHOOKS_REQUEST_TIMEOUT", 15, 1),
        connections=int(_number("PAYSYNC_WEBHOOKS_CONNECTIONS", 1000, 10)),
        trusted_proxy=os.environ.get("PAYSYNC_WEBHOOKS_TRUSTED_PROXY") or None,
        drain_seconds=_number("PAYSYNC_WEBHOOKS_DRAIN_SECONDS", 10, 0.1),
    )

