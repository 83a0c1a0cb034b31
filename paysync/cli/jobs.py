"""Sending a job from the command line and waiting for it: progress and one-line errors.

``send`` checks the broker answers before publishing (a Redis that is down is one line at
once, not a minute of publish retries). ``wait`` follows the job's state in the result
backend: the ``PROGRESS`` state a task reports (``tasks/progress.py``) is drawn as a bar on
a terminal, as a line of counts every few seconds otherwise; a failure in the worker comes
back as one line naming the task and the worker's message, a timeout as one line naming
the task id and the queue that should have run it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from paysync.errors import PaysyncError


class JobFailed(PaysyncError):
    """A job failed in its worker; the message is the worker's."""


class JobTimeout(PaysyncError):
    """No answer from the workers in time (the job may still run)."""


def send(name: str, payload: dict[str, Any], interactive: bool | None = None) -> Any:
    """Publish job ``name`` once the broker answered a ping (``RedisUnavailable`` otherwise)."""
    from paysync.config import settings
    from paysync.redis_client import redis_client
    from tasks.routing import enqueue

    redis_client(settings().redis_url).ping()
    return enqueue(name, payload, interactive=interactive)


def describe_failure(result: Any) -> str:
    """The worker's own message for a failed job, from the stored result (whatever its class)."""
    raw = None
    try:
        backend = result.backend
        raw = backend.decode(backend.get(backend.get_key_for_task(result.id)))
    except Exception:  # noqa: BLE001 - fall back on Celery's reconstruction below
        raw = None
    failure = (raw or {}).get("result") if isinstance(raw, dict) else None
    if isinstance(failure, dict) and "exc_type" in failure:
        message = failure.get("exc_message")
        if isinstance(message, list | tuple):
            message = message[0] if len(message) == 1 else ", ".join(map(str, message))
        text = str(message or "").strip() or failure["exc_type"]
        return text if failure["exc_type"] in ("ProviderError", "OutcomeUnknown") else f"{failure['exc_type']}: {text}"
    exc = result.result
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)


class Progress:
    """Draws a job's reported progress: a bar (or a counter) on a terminal, periodic lines otherwise."""

    def __init__(self, label: str, every: float = 5.0, stream: Any = None) -> None:
        self.label = label
        self.every = every
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_line = ""
        self.last_at = 0.0

    @staticmethod
    def line(meta: dict[str, Any]) -> str:
        done = int(meta.get("done") or 0)
        total = meta.get("total")
        parts = [f"{k} {v}" for k, v in sorted((meta.get("counts") or {}).items())]
        head = f"{done}/{total}" if total else f"{done}"
        stage = f" ({meta['stage']})" if meta.get("stage") else ""
        return f"{head}{stage}" + (f": {', '.join(parts)}" if parts else "")

    def update(self, meta: dict[str, Any]) -> None:
        text = self.line(meta)
        if self.tty:
            total = meta.get("total")
            bar = ""
            if total:
                filled = int(30 * min(1.0, int(meta.get("done") or 0) / max(1, int(total))))
                bar = "[" + "#" * filled + "." * (30 - filled) + "] "
            self.stream.write(f"\r{self.label}: {bar}{text}\033[K")
            self.stream.flush()
            self.last_line = text
            return
        now = time.monotonic()
        if text != self.last_line and now - self.last_at >= self.every:
            self.stream.write(f"{self.label}: {text}\n")
            self.stream.flush()
            self.last_line, self.last_at = text, now

    def close(self) -> None:
        if self.tty and self.last_line:
            self.stream.write("\n")
            self.stream.flush()


def wait(result: Any, name: str, timeout: float, progress: Progress | None = None, queue: str | None = None,
         poll: float = 0.25) -> Any:
    """The job's return value; its progress drawn meanwhile. One-line errors (:class:`JobFailed`,
    :class:`JobTimeout`); the broker or backend down propagates as ``RedisUnavailable``."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            state = result.state
            if state in ("SUCCESS", "FAILURE", "REVOKED"):
                break
            if state == "PROGRESS" and progress is not None and isinstance(result.info, dict):
                progress.update(result.info)
            if time.monotonic() >= deadline:
                where = f" consuming the '{queue}' queue" if queue else ""
                raise JobTimeout(f"{name}: no answer from the workers within {timeout:.0f}s (task {result.id}; "
                                 f"is a worker{where} running? the job runs when one is)")
            time.sleep(poll)
    finally:
        if progress is not None:
            progress.close()
    if state == "SUCCESS":
        return result.result
    if state == "REVOKED":
        raise JobFailed(f"{name}: the job was revoked (task {result.id})")
    raise JobFailed(f"{name} failed: {describe_failure(result)}")


def run(name: str, payload: dict[str, Any], timeout: float, interactive: bool | None = None,
        label: str | None = None, show_progress: bool = True) -> Any:
    """Send job ``name`` and wait for its answer, drawing its progress on stderr."""
    from tasks.contract import contract_for

    result = send(name, payload, interactive=interactive)
    progress = Progress(label or name) if show_progress else None
    return wait(result, name, timeout, progress, queue=contract_for(name).traffic)


def echo_sent(name: str, result: Any) -> None:
    click.echo(f"{name}: sent as task {result.id}", err=True)
