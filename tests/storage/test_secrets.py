"""Secrets are encrypted at rest, and a rotated key still decrypts old rows."""

from __future__ import annotations

import pytest

from paysync.config import settings
from paysync.errors import ConfigError
from storage import connections, merchants, secrets
from storage.db import fetch_all
from storage.keys import rotate_all

SECRET = "refresh-token-do-not-leak-8f3a"


@pytest.fixture
def key_env(monkeypatch):
    def use(current: str, old: str = "") -> None:
        monkeypatch.setenv("PAYSYNC_SECRET_KEY", current)
        monkeypatch.setenv("PAYSYNC_OLD_SECRET_KEYS", old)
        settings.cache_clear()

    yield use
    settings.cache_clear()


def test_raw_rows_hold_no_plaintext_secret(db):
    m = merchants.create("acme")
    connections.add(m["id"], "user", "app-1", {"client_secret": SECRET, "refresh_token": SECRET + "-r"})
    # every column of every row, as text, straight from the table
    rows = fetch_all("select t::text as row from accounting_connections t")
    assert rows and all(SECRET not in r["row"] for r in rows)
    # and yet the connection reads back decrypted
    conn = connections.get(connections.for_merchant(m["id"])[0].id)
    assert conn.credentials["client_secret"] == SECRET
    assert SECRET not in repr(conn)


def test_rotated_key_still_decrypts_old_rows_and_rotation_rewrites_them(db, key_env):
    first, second = secrets.generate_key(), secrets.generate_key()
    key_env(first)
    m = merchants.create("acme")
    conn = connections.add(m["id"], "user", "app-1", {"client_secret": SECRET})
    before = fetch_all("select credentials from accounting_connections")[0]["credentials"]
    # when the key is rotated: new key current, old key kept for decryption
    key_env(second, old=first)
    assert connections.get(conn.id).credentials["client_secret"] == SECRET
    assert rotate_all()["accounting_connections"] == 1
    after = fetch_all("select credentials from accounting_connections")[0]["credentials"]
    assert after != before
    # then once rotated, the old key is no longer needed
    key_env(second)
    assert connections.get(conn.id).credentials["client_secret"] == SECRET
    # and without the right key nothing decrypts
    key_env(first)
    with pytest.raises(secrets.SecretError):
        connections.get(conn.id)


def test_default_key_refused_outside_development(monkeypatch):
    monkeypatch.setenv("PAYSYNC_ENV", "production")
    monkeypatch.delenv("PAYSYNC_SECRET_KEY", raising=False)
    settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="PAYSYNC_SECRET_KEY"):
            settings()
        from paysync.config import DEVELOPMENT_SECRET_KEY

        monkeypatch.setenv("PAYSYNC_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
        settings.cache_clear()
        with pytest.raises(ConfigError, match="development key"):
            settings()
    finally:
        monkeypatch.undo()
        settings.cache_clear()


def test_malformed_key_is_a_config_error_naming_the_variable(key_env):
    key_env("not-a-fernet-key")
    with pytest.raises(ConfigError, match="PAYSYNC_SECRET_KEY"):
        secrets.encrypt("x")
