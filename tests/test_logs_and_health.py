"""Redaction of every log line, the log formats, and the beat's health check."""

from __future__ import annotations

import io
import json
import logging

import pytest

from paysync import logs


@pytest.mark.parametrize("line, secret", [
    ("GET /v1/transfers Authorization: Bearer 4c239280-e5f4-45f5-9c61-3891e39a4012", "4c239280-e5f4"),
    ('{"apiKey": "tok-abcdef123456", "pageSize": 25}', "tok-abcdef123456"),
    ("{'client_secret': 'shh-very-secret'}", "shh-very-secret"),
    ("refresh_token=rt.123456789&grant_type=refresh_token", "rt.123456789"),
    ("connecting to redis://:p4ssw0rd@10.0.0.1:6379/0", "p4ssw0rd"),
    ("postgresql://paysync:hunter2xx@db:5432/paysync", "hunter2xx"),
    ("Basic cGF5c3luYytwdWI6cHJpdg==", "cGF5c3luYytwdWI6cHJpdg=="),
])
def test_redact_masks_secrets_in_any_shape(line, secret):
    assert secret not in logs.redact(line) and logs.MASK in logs.redact(line)


def test_a_registered_secret_is_masked_wherever_it_appears():
    logs.register_secret("a-value-only-storage-knows")
    assert logs.redact("the provider said a-value-only-storage-knows is wrong") == \
        f"the provider said {logs.MASK} is wrong"


def test_json_lines_carry_the_bound_context_and_are_redacted(monkeypatch):
    monkeypatch.setenv("PAYSYNC_LOG_FORMAT", "json")
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        logs.configure("worker", stream=out)
        with logs.bind(task="accounting.download_latest", task_id="t-1", merchant_id=7):
            logging.getLogger("paysync.test").info("token=%s sent", "abcdefgh12345", extra={"provider": "xero"})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)
    record = json.loads(out.getvalue().strip().splitlines()[-1])
    assert record["task"] == "accounting.download_latest" and record["task_id"] == "t-1"
    assert record["merchant_id"] == 7 and record["provider"] == "xero" and record["process_kind"] == "worker"
    assert "abcdefgh12345" not in out.getvalue()


def test_a_bad_log_setting_is_an_error_naming_it(monkeypatch):
    from paysync.errors import ConfigError

    monkeypatch.setenv("PAYSYNC_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="PAYSYNC_LOG_FORMAT"):
        logs.log_format()


def test_beat_is_healthy_only_while_a_beat_holds_the_schedule_lock(redis_client):
    from paysync import health

    assert health.beat()[0] is False
    redis_client.set("paysync:redbeat::lock", "token", px=5000)
    ok, message = health.beat()
    assert ok and "held" in message
