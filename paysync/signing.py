"""Signed task messages: the canonical form a sender signs, and paysync's own signing key.

A sender proves who it is with three message headers (``docs/security.md``)::

    paysync_key        the key id from 'paysync senders add NAME'
    paysync_signed_at  Unix time in whole seconds when it signed
    paysync_signature  hex HMAC-SHA256, keyed with the key's secret (its UTF-8 bytes), of

        paysync-task-v1 \\n <task name> \\n <task id> \\n <signed_at> \\n <payload as canonical JSON>

The canonical JSON of the payload (the task's keyword arguments) is Python's
``json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``: keys
sorted, no spaces, every non-ASCII character escaped. It needs nothing but a standard
library, so any application can sign (the README shows a bare Celery app doing it).

paysync signs its own messages (every enqueue, the forwarder's and the retries' copies,
beat) with the key id ``paysync``, whose secret is derived from ``PAYSYNC_SECRET_KEY`` (any
process that can sign as paysync can already decrypt every stored credential). Its
canonical form has one more line, the actor the message acts for (``paysync_actor``: the
sender that started the work, the command-line user, beat), so a copy cannot be given
another actor without the key.
"""

from __future__ import annotations

import datetime as dt
import decimal
import getpass
import hashlib
import hmac
import json
import os
import socket
import uuid
from functools import lru_cache
from typing import Any

VERSION = "paysync-task-v1"
KEY_HEADER = "paysync_key"
SIGNED_AT_HEADER = "paysync_signed_at"
SIGNATURE_HEADER = "paysync_signature"
ACTOR_HEADER = "paysync_actor"
SIGNATURE_HEADERS = (KEY_HEADER, SIGNED_AT_HEADER, SIGNATURE_HEADER, ACTOR_HEADER)
INTERNAL_KEY_ID = "paysync"  # never a sender's key id: those start with "sk_"
FUTURE_SKEW = 300  # seconds a signature may be dated ahead of this host's clock

# What this process is, for the actor of what it sends outside any task: "cli", "beat",
# "worker", "receiver", or "app" (another paysync process, a test).
_role = "app"


def set_role(role: str) -> None:
    global _role
    _role = role


def role() -> str:
    return _role


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def canonical_payload(payload: Any) -> str:
    """The payload as canonical JSON (sorted keys, no spaces, ASCII only)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_plain)


def digest(payload: Any) -> str:
    """SHA-256 of the payload's canonical JSON (what the audit log keeps instead of the payload)."""
    return hashlib.sha256(canonical_payload(payload).encode()).hexdigest()


def message(task: str, task_id: str, signed_at: int, payload: Any, actor: str | None = None) -> bytes:
    """The bytes a signature covers; ``actor`` only in paysync's own signatures."""
    lines = [VERSION, task, task_id, str(int(signed_at)), canonical_payload(payload)]
    if actor is not None:
        lines.append(actor)
    return "\n".join(lines).encode()


def sign(secret: str | bytes, task: str, task_id: str, signed_at: int, payload: Any,
         actor: str | None = None) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message(task, task_id, signed_at, payload, actor), hashlib.sha256).hexdigest()


def matches(secret: str | bytes, signature: str, task: str, task_id: str, signed_at: int, payload: Any,
            actor: str | None = None) -> bool:
    return hmac.compare_digest(sign(secret, task, task_id, signed_at, payload, actor), signature.strip().lower())


@lru_cache(maxsize=8)
def _derive(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"paysync task signing v1", hashlib.sha256).digest()


def internal_secrets() -> list[bytes]:
    """paysync's own signing secrets: from ``PAYSYNC_SECRET_KEY`` (signs), then from each of
    ``PAYSYNC_OLD_SECRET_KEYS`` (still verify, so a key rotation does not refuse messages in flight)."""
    from paysync.config import settings

    s = settings()
    return [_derive(k) for k in (s.secret_key, *s.old_secret_keys)]


@lru_cache(maxsize=1)
def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name for this uid (a container)
        return str(os.getuid())


@lru_cache(maxsize=1)
def host() -> str:
    return socket.gethostname()


def process_actor() -> dict[str, str]:
    """Who acts when this process sends a job outside any task: the command-line user,
    beat, or the process."""
    return {"kind": _role, "user": os_user(), "host": host()}
