"""Configuration from the environment, twelve-factor style.

Every setting has a working default for the local services started by
``scripts/services.sh``; the README lists them all.  Read once per process with
:func:`settings`; tests change the environment and call ``settings.cache_clear()``.

Nothing secret has a default outside development: ``PAYSYNC_ENV`` unset counts as
production, where ``PAYSYNC_SECRET_KEY`` and ``DATABASE_URL`` must be set and the published
development key is refused. Only ``PAYSYNC_ENV=development``, set on purpose, falls back to
them (the demo and the benchmarks set it; the test suite sets a key of its own).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from paysync.errors import ConfigError

# A Fernet key used only when PAYSYNC_ENV=development is set on purpose (it is published here).
DEVELOPMENT_SECRET_KEY = "cGF5c3luYy1kZXZlbG9wbWVudC1rZXktMzJieXRlcyE="
DEVELOPMENT_DATABASE_URL = "postgresql://paysync:paysync@127.0.0.1:54329/paysync"
ENVIRONMENTS = ("development", "test", "production")
# The execution claims remember a finished task id this long (tasks/executions.py); a signed
# message older than that could run again, so the signature's freshness window stays below it.
RUN_ONCE_MEMORY = 7 * 24 * 3600


def _int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _positive(name: str, default: float) -> float:
    value = _float(name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    redis_url: str
    secret_key: str
    old_secret_keys: tuple[str, ...]
    visibility_timeout: int
    max_countdown: int
    short_wait: float
    inline_wait_interactive: float
    inline_wait_batch: float
    time_scale: float
    db_pool_max: int
    http_timeout: float
    redis_timeout: float
    infra_wait: float
    beat_lock_seconds: int
    crash_points_enabled: bool
    signature_max_age: int
    redis_ca_file: str | None

    def redis_tls(self, url: str | None = None) -> dict[str, Any] | None:
        """TLS options for a ``rediss://`` URL (``REDIS_URL`` by default): the server's
        certificate is always verified, against ``PAYSYNC_REDIS_CA_FILE`` when set, else the
        system's certificate authorities. None for a plain ``redis://`` URL."""
        if not (url or self.redis_url).startswith(("rediss://", "rediss+")):
            return None
        return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": self.redis_ca_file}

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def restore_interval(self) -> int:
        """Seconds between the broker transport's sweeps for unacknowledged messages to give back."""
        return max(1, min(10, self.visibility_timeout // 3))

    @property
    def recovery_seconds(self) -> int:
        """The longest a job of a worker killed as a whole waits before another worker can take
        it: one visibility timeout after its last heartbeat, plus one sweep."""
        return self.visibility_timeout + self.restore_interval


def environment() -> str:
    """``PAYSYNC_ENV``: development, test or production; unset is production."""
    env = os.environ.get("PAYSYNC_ENV", "") or "production"
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PAYSYNC_ENV must be development, test or production, got {env!r}")
    return env


def _secret_key(env: str) -> str:
    secret = os.environ.get("PAYSYNC_SECRET_KEY", "")
    if not secret:
        if env != "development":
            raise ConfigError("PAYSYNC_SECRET_KEY is not set: generate one with 'paysync keys generate' "
                              "(or set PAYSYNC_ENV=development on a development machine)")
        return DEVELOPMENT_SECRET_KEY
    if secret == DEVELOPMENT_SECRET_KEY and env != "development":
        raise ConfigError(f"PAYSYNC_SECRET_KEY is the published development key: refused with PAYSYNC_ENV={env} "
                          "(generate one with 'paysync keys generate')")
    return secret


def _database_url(env: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        if env != "development":
            raise ConfigError("DATABASE_URL is not set (the default, with its password, is for "
                              "PAYSYNC_ENV=development only)")
        return DEVELOPMENT_DATABASE_URL
    return url


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = environment()
    secret = _secret_key(env)
    old = tuple(k.strip() for k in os.environ.get("PAYSYNC_OLD_SECRET_KEYS", "").split(",") if k.strip())
    # A running job keeps its message's delivery fresh (tasks/liveness.py), so this bounds how
    # long the jobs of a worker killed as a whole wait, not how long a job may run.
    visibility = _int("PAYSYNC_VISIBILITY_TIMEOUT", 300, minimum=5)
    # No countdown or ETA may come near the visibility timeout, or Redis redelivers it.
    max_countdown = _int("PAYSYNC_MAX_COUNTDOWN", min(900, visibility // 2), minimum=1)
    if max_countdown >= visibility:
        raise ConfigError(
            f"PAYSYNC_MAX_COUNTDOWN ({max_countdown}) must be below PAYSYNC_VISIBILITY_TIMEOUT ({visibility})")
    # How old a signed task message may be when it arrives (tasks/trust.py): above the longest
    # countdown paysync sets, below the time a finished task id is remembered.
    max_age = _int("PAYSYNC_SIGNATURE_MAX_AGE", 3600, minimum=60)
    if not max_countdown < max_age < RUN_ONCE_MEMORY:
        raise ConfigError(f"PAYSYNC_SIGNATURE_MAX_AGE ({max_age}) must be above PAYSYNC_MAX_COUNTDOWN "
                          f"({max_countdown}) and below {RUN_ONCE_MEMORY} seconds (how long a finished task is "
                          "remembered)")
    return Settings(
        env=env,
        database_url=_database_url(env),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0"),
        secret_key=secret,
        old_secret_keys=old,
        visibility_timeout=visibility,
        max_countdown=max_countdown,
        short_wait=_float("PAYSYNC_SHORT_WAIT", 60.0),
        inline_wait_interactive=_float("PAYSYNC_INLINE_WAIT_INTERACTIVE", 2.0),
        inline_wait_batch=_float("PAYSYNC_INLINE_WAIT_BATCH", 0.5),
        time_scale=_float("PAYSYNC_TIME_SCALE", 1.0),
        db_pool_max=_int("PAYSYNC_DB_POOL_MAX", 8, minimum=1),
        http_timeout=_float("PAYSYNC_HTTP_TIMEOUT", 30.0),
        redis_timeout=_positive("PAYSYNC_REDIS_TIMEOUT", 5.0),
        infra_wait=_positive("PAYSYNC_INFRA_WAIT", 120.0),
        beat_lock_seconds=_int("PAYSYNC_BEAT_LOCK_SECONDS", 30, minimum=6),
        crash_points_enabled=os.environ.get("PAYSYNC_CRASH_POINTS", "") == "1",
        signature_max_age=max_age,
        redis_ca_file=os.environ.get("PAYSYNC_REDIS_CA_FILE") or None,
    )
