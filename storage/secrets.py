"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The current key is ``PAYSYNC_SECRET_KEY``; earlier keys listed in
``PAYSYNC_OLD_SECRET_KEYS`` (comma-separated) still decrypt, so a key is rotated by
moving it to the old list, setting a new one and running ``paysync keys rotate``,
which re-encrypts every stored secret under the new key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from paysync.config import settings
from paysync.errors import ConfigError, PaysyncError
from paysync.logs import register_secret, register_secrets

# Every column holding ciphertext: (table, primary key column, encrypted column).
# A table that adds a secret column registers it here so rotation covers it.
ENCRYPTED_COLUMNS: list[tuple[str, str, str]] = [
    ("accounting_connections", "id", "credentials"),
    ("connectors", "id", "secrets"),
    ("psa_connections", "id", "secrets"),
    ("sender_keys", "key_id", "secret"),
]


class SecretError(PaysyncError):
    """A stored secret could not be decrypted with any configured key."""


def _fernet(key: str, name: str) -> Fernet:
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{name} is not a valid key (32 url-safe base64-encoded bytes): generate one with 'paysync keys generate'"
        ) from None


def _keyring() -> MultiFernet:
    s = settings()
    keys = [_fernet(s.secret_key, "PAYSYNC_SECRET_KEY")]
    keys += [_fernet(k, "PAYSYNC_OLD_SECRET_KEYS") for k in s.old_secret_keys]
    return MultiFernet(keys)


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(value: str) -> str:
    register_secret(value)
    return _keyring().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        plain = _keyring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError("a stored secret cannot be decrypted with PAYSYNC_SECRET_KEY or PAYSYNC_OLD_SECRET_KEYS") from None
    register_secret(plain)
    return plain


def encrypt_json(value: dict[str, Any]) -> str:
    register_secrets(value)
    return encrypt(json.dumps(value, sort_keys=True))


def decrypt_json(token: str) -> dict[str, Any]:
    value = json.loads(decrypt(token))
    register_secrets(value)  # whatever this process holds in clear never reaches its logs
    return value


def rotate(token: str) -> str:
    """The same secret under the current key (MultiFernet.rotate)."""
    try:
        return _keyring().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretError("a stored secret cannot be decrypted with any configured key") from None


class Redacted(str):
    """A string that never shows its value in repr (for objects that may reach a log)."""

    def __repr__(self) -> str:
        return "'***'"
