"""Secrets and defaults: no secret has a default outside development, a process that cannot
start says why in one line, compose asks for every password and publishes on loopback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from paysync.config import DEVELOPMENT_SECRET_KEY, settings
from paysync.errors import ConfigError
from paysync_dev.devstack import BIN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def environ(monkeypatch):
    """Change the environment for this test; settings() read afresh and restored after."""
    settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()


def _settings_error(environ, **env: str | None) -> str:
    for name, value in env.items():
        if value is None:
            environ.delenv(name, raising=False)
        else:
            environ.setenv(name, value)
    settings.cache_clear()
    with pytest.raises(ConfigError) as caught:
        settings()
    return str(caught.value)


def test_a_worker_started_without_env_or_key_stops_with_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("PAYSYNC_ENV", "PAYSYNC_SECRET_KEY")}
    out = subprocess.run([str(BIN / "celery"), "-A", "tasks", "worker", "-Q", "nothing", "-c", "1"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("paysync: PAYSYNC_SECRET_KEY is not set") and "PAYSYNC_ENV=development" in lines[0]


def test_the_development_key_only_with_development_set_on_purpose(environ):
    for env in (None, "production", "test"):
        assert "published development key" in _settings_error(environ, PAYSYNC_ENV=env,
                                                              PAYSYNC_SECRET_KEY=DEVELOPMENT_SECRET_KEY)
        assert "PAYSYNC_SECRET_KEY is not set" in _settings_error(environ, PAYSYNC_ENV=env, PAYSYNC_SECRET_KEY=None)
    environ.setenv("PAYSYNC_ENV", "development")
    environ.delenv("PAYSYNC_SECRET_KEY", raising=False)
    settings.cache_clear()
    assert settings().secret_key == DEVELOPMENT_SECRET_KEY and settings().env == "development"


def test_no_default_database_password_outside_development(environ):
    assert "DATABASE_URL is not set" in _settings_error(environ, PAYSYNC_ENV="production", DATABASE_URL=None)
    environ.setenv("PAYSYNC_ENV", "development")
    environ.delenv("PAYSYNC_SECRET_KEY", raising=False)
    settings.cache_clear()
    assert settings().database_url.startswith("postgresql://paysync:paysync@127.0.0.1")


def test_the_signature_window_stays_between_the_longest_countdown_and_the_run_once_memory(environ):
    assert "PAYSYNC_SIGNATURE_MAX_AGE" in _settings_error(environ, PAYSYNC_SIGNATURE_MAX_AGE="100")
    assert "PAYSYNC_SIGNATURE_MAX_AGE" in _settings_error(environ, PAYSYNC_SIGNATURE_MAX_AGE=str(8 * 86400))


def _default(published: str) -> str:
    """The host address of a compose port, its ${VAR:-default} resolved to the default."""
    resolved = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", published)
    return resolved.rsplit(":", 2)[0]


def test_compose_asks_for_every_password_and_publishes_on_loopback():
    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    # no password has a default
    assert "POSTGRES_PASSWORD:-" not in text and "REDIS_PASSWORD:-" not in text
    assert "${POSTGRES_PASSWORD:?" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    # Redis wants a password, and every paysync process gives it
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert services["worker-user"]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    # Redis, PostgreSQL, Flower and the receiver are published on loopback unless told otherwise
    for name in ("redis", "postgres", "flower", "webhooks"):
        for port in services[name].get("ports", []):
            assert _default(port) == "127.0.0.1", (name, port)
