"""Logging for every paysync process: one set-up, JSON lines or text, context fields, no secrets.

``configure(process)`` is called once by each process kind: workers and beat through
Celery's ``setup_logging`` signal (``tasks/observability.py``), the webhook receiver, the
metrics server and the command line. Settings:

- ``PAYSYNC_LOG_LEVEL``: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` (default: the level a
  Celery process was started with, else ``INFO``; ``WARNING`` for the command line);
- ``PAYSYNC_LOG_FORMAT``: ``json`` (one JSON object per line, for collectors) or ``text``
  (the default, for people).

Every record carries the context of what is running (:func:`bind`): ``task``, ``task_id``,
``merchant_id``, ``connection_id``, ``connector_id``; the HTTP transport adds ``provider``,
``method``, ``path``, ``status``, ``outcome`` and ``duration_ms`` to its call records.

Secrets never reach the output: every formatted line (message, fields and traceback)
passes through :func:`redact`, which masks ``Authorization`` values (Bearer and Basic),
key/value pairs whose key names a secret (``apiKey``, ``client_secret``, ``access_token``,
``refresh_token``, ``private_key``, ``password``...), passwords in URLs, and every value
registered with :func:`register_secret` (storage registers each secret it encrypts or
decrypts: API keys, OAuth tokens, ConnectWise keys).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

from paysync.errors import ConfigError

CONTEXT_FIELDS = ("task", "task_id", "merchant_id", "connection_id", "connector_id")
CALL_FIELDS = ("provider", "method", "path", "status", "outcome", "duration_ms")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("json", "text")
MASK = "[redacted]"

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("paysync_log_context", default=None)
_process = "paysync"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_pattern: re.Pattern[str] | None = None

_KEY_NAMES = (r"api[_-]?key|apikey|client[_-]?secret|secret[_-]?key|secret|password|passwd|private[_-]?key|"
              r"public[_-]?key[_-]?private|access[_-]?token|refresh[_-]?token|id[_-]?token|token|authorization|"
              r"x-api-key|webhookPublicKey")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}", re.I), r"\1 " + MASK),
    (re.compile(r"(\b(?:" + _KEY_NAMES + r")\b\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\[redacted\])([^\s\"'\\,;&}\]]+)", re.I),
     r"\1" + MASK),
    (re.compile(r"(\w+://[^:/@\s\"']*:)([^@\s\"'/]+)(@)"), r"\1" + MASK + r"\3"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), MASK),
)


def register_secret(value: Any) -> None:
    """Never print ``value`` (a string of 8 characters or more; shorter ones are too common)."""
    global _secrets_pattern
    if not isinstance(value, str) or len(value) < 8:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_secrets(values: Any) -> None:
    """Register every string inside ``values`` (a dict, list or string)."""
    if isinstance(values, dict):
        for v in values.values():
            register_secrets(v)
    elif isinstance(values, list | tuple):
        for v in values:
            register_secrets(v)
    else:
        register_secret(values)


def redact(text: str) -> str:
    """``text`` with every secret masked (see the module docstring)."""
    pattern = _secrets_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for rule, replacement in _RULES:
        text = rule.sub(replacement, text)
    return text


# ----------------------------------------------------------------- context

def context() -> dict[str, Any]:
    return dict(_context.get() or {})


def set_context(**fields: Any) -> contextvars.Token:
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def reset_context(token: contextvars.Token | None = None) -> None:
    if token is not None:
        _context.reset(token)
    else:
        _context.set(None)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the block (this thread or task)."""
    token = set_context(**fields)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the process kind and the bound context on each record (fields already set win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_kind = _process
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# ----------------------------------------------------------------- formats

class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` with the context and call fields present."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)}" for k in (*CONTEXT_FIELDS, *CALL_FIELDS)
                         if getattr(record, k, None) is not None)
        if extra:
            head, sep, tail = line.partition("\n")
            line = f"{head} [{extra}]{sep}{tail}"
        return redact(line)


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    class RedactingJson(JsonFormatter):
        def format(self, record: logging.LogRecord) -> str:
            return redact(super().format(record))

    return RedactingJson("%(asctime)s %(levelname)s %(name)s %(message)s %(process)d %(process_kind)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                                        "process_kind": "process_kind"},
                         json_ensure_ascii=False)


def log_format() -> str:
    fmt = (os.environ.get("PAYSYNC_LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"PAYSYNC_LOG_FORMAT must be json or text, got {fmt!r}")
    return fmt


def log_level(default: str = "INFO") -> int:
    raw = (os.environ.get("PAYSYNC_LOG_LEVEL") or default).strip().upper()
    if raw not in LEVELS:
        raise ConfigError(f"PAYSYNC_LOG_LEVEL must be one of {', '.join(LEVELS)}, got {raw!r}")
    return int(getattr(logging, raw))


def configure(process: str, default_level: str | int | None = None, stream: Any = None) -> None:
    """Set up the root logger of this process (see the module docstring); safe to call again."""
    global _process
    _process = process
    if isinstance(default_level, int):
        default_level = logging.getLevelName(default_level)
    level = log_level(str(default_level or ("WARNING" if process == "cli" else "INFO")))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_json_formatter() if log_format() == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "paysync", False) or process != "cli":
            root.removeHandler(old)
    handler.paysync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    for name in ("PAYSYNC_SECRET_KEY", "PAYSYNC_OLD_SECRET_KEYS"):
        for key in (os.environ.get(name) or "").split(","):
            register_secret(key.strip())
    for noisy in ("urllib3", "waitress.queue", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
