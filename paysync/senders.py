"""Senders: applications allowed to send paysync's protected tasks, each with signing keys.

``add`` creates a sender and its first key: a public key id (``sk_`` and 24 hex
characters) and a secret (32 random bytes, URL-safe base64) shown once and stored
encrypted (``storage.secrets``: ``paysync keys rotate`` re-encrypts it). ``rotate`` issues a
new key; the sender's older keys stop working at once, or after ``overlap`` seconds so its
processes can change keys without a refusal. ``revoke`` refuses the sender and every key
of it from now on. :func:`lookup` is what a worker asks when a signed message arrives.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets as random
from dataclasses import dataclass
from typing import Any

from paysync import signing
from paysync.errors import PaysyncError
from storage import senders as store

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
KEY_ID = re.compile(r"^sk_[0-9a-f]{24}$")


class SenderError(PaysyncError):
    pass


@dataclass(frozen=True)
class Credential:
    """What a sender needs to sign: shown once, never stored in the clear."""

    sender: str
    key_id: str
    secret: str

    def as_dict(self) -> dict[str, str]:
        return {"sender": self.sender, "key_id": self.key_id, "secret": self.secret}


def _new_key(name: str) -> Credential:
    return Credential(name, f"sk_{random.token_hex(12)}", random.token_urlsafe(32))


def _name(name: str) -> str:
    name = name.strip()
    if name == signing.INTERNAL_KEY_ID:
        raise SenderError(f"{name!r} is paysync's own signer: choose another name")
    if not NAME.match(name):
        raise SenderError(f"sender name {name!r}: lower-case letters, digits, '.', '_' and '-', "
                          "at most 63, starting with a letter or digit")
    return name


def add(name: str) -> Credential:
    cred = _new_key(_name(name))
    store.create(cred.sender, signing.os_user(), cred.key_id, cred.secret)
    return cred


def rotate(name: str, overlap: float = 0.0) -> Credential:
    """A new key for ``name``; its other keys are refused after ``overlap`` seconds (0: at once)."""
    if overlap < 0:
        raise SenderError("--overlap must be zero or more seconds")
    cred = _new_key(_name(name))
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=overlap)
    store.rotate(cred.sender, cred.key_id, cred.secret, until)
    return cred


def revoke(name: str) -> dict[str, Any]:
    return store.revoke(_name(name))


def list_all() -> list[dict[str, Any]]:
    return store.list_all()


@dataclass(frozen=True)
class Key:
    sender: str
    key_id: str
    secret: str


class KeyRefused(PaysyncError):
    """The key id cannot sign now; the message says why (unknown, revoked, rotated out)."""


def lookup(key_id: str) -> Key:
    """The live key ``key_id``; :class:`KeyRefused` naming why it is not."""
    if not KEY_ID.match(key_id or ""):
        raise KeyRefused(f"unknown key id {key_id[:40]!r}")
    row = store.key(key_id)
    if row is None:
        raise KeyRefused(f"unknown key id {key_id}")
    if row["sender_revoked_at"] is not None or row["revoked_at"] is not None:
        revoked = row["revoked_at"] or row["sender_revoked_at"]
        raise KeyRefused(f"key {key_id} of sender {row['sender']} was revoked at {revoked:%Y-%m-%d %H:%M:%S}")
    if row["expires_at"] is not None and row["expires_at"] <= row["checked_at"]:
        raise KeyRefused(f"key {key_id} of sender {row['sender']} was rotated out at "
                         f"{row['expires_at']:%Y-%m-%d %H:%M:%S}")
    return Key(row["sender"], key_id, row["secret"])
