"""Wise webhook signatures: base64 RSA PKCS#1 v1.5 SHA-256 over the raw body
(``X-Signature-SHA256``), checked with the connector's PEM ``webhookPublicKey``.

:class:`KeyCache` holds each connector's parsed key for ``ttl`` seconds (the receiver must
not read PostgreSQL for every delivery); a failed check with a key older than
``REFRESH_AFTER`` seconds reloads it once, so a key changed in the config is picked up
without waiting for the TTL.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

REFRESH_AFTER = 5.0


def load_key(pem: str) -> rsa.RSAPublicKey:
    key = load_pem_public_key(pem.strip().encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"webhookPublicKey is not an RSA key ({type(key).__name__})")
    return key


def check(key: rsa.RSAPublicKey, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` (base64) is the key's RSA-SHA256 signature of ``body``."""
    if not signature:
        return False
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


@dataclass(frozen=True)
class ConnectorKey:
    """``state``: 'ok' (key set), 'unknown' (no such connector), 'inactive' (uninstalled),
    'not-wise', or 'no-key' (no usable webhookPublicKey)."""

    state: str
    key: rsa.RSAPublicKey | None
    loaded_at: float


class KeyCache:
    def __init__(self, loader: Callable[[int], dict[str, Any] | None], ttl: float) -> None:
        self._loader = loader
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[int, ConnectorKey] = {}

    def get(self, connector_id: int, refresh: bool = False) -> ConnectorKey:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(connector_id)
        if entry is not None and not refresh and now - entry.loaded_at < self._ttl:
            return entry
        entry = self._load(connector_id, now)
        with self._lock:
            self._entries[connector_id] = entry
        return entry

    def verify(self, connector_id: int, body: bytes, signature: str | None) -> tuple[ConnectorKey, bool]:
        entry = self.get(connector_id)
        if entry.key is None:
            return entry, False
        if check(entry.key, body, signature):
            return entry, True
        if time.monotonic() - entry.loaded_at >= REFRESH_AFTER and signature:
            fresh = self.get(connector_id, refresh=True)
            if fresh.key is not None and check(fresh.key, body, signature):
                return fresh, True
            return fresh, False
        return entry, False

    def _load(self, connector_id: int, now: float) -> ConnectorKey:
        row = self._loader(connector_id)
        if row is None:
            return ConnectorKey("unknown", None, now)
        if row.get("provider") != "wise":
            return ConnectorKey("not-wise", None, now)
        if row.get("status") not in ("installing", "active"):
            return ConnectorKey("inactive", None, now)
        try:
            return ConnectorKey("ok", load_key(row.get("public_key") or ""), now)
        except (ValueError, TypeError):
            return ConnectorKey("no-key", None, now)
