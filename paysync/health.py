"""Health checks each process kind answers (``paysync health ...``, used by Compose healthchecks).

- worker: its heartbeat file (``tasks/observability.py``) was touched within the last
  ``max_age`` seconds (three beats by default), so its event loop runs and it is connected;
- beat: the redbeat lock is held (a beat extends it every loop; it expires when none runs);
- the webhook receiver and the metrics server: ``GET /healthz`` answers 200.

Each check returns ``(ok, message)``; the command prints the message and exits 1 when not ok.
"""

from __future__ import annotations

import time
from pathlib import Path


def worker(name: str | None = None, max_age: float | None = None, folder: Path | None = None) -> tuple[bool, str]:
    from tasks.observability import health_dir, health_interval

    folder = folder or health_dir()
    max_age = max_age or 3 * health_interval()
    files = [folder / f"worker-{name}"] if name else sorted(folder.glob("worker-*"))
    if not files:
        return False, f"no worker heartbeat in {folder}"
    now = time.time()
    for path in files:
        if not path.exists():
            return False, f"no heartbeat file {path}"
        age = now - path.stat().st_mtime
        if age > max_age:
            return False, f"{path.name}: last heartbeat {age:.0f}s ago (more than {max_age:.0f}s)"
    return True, ", ".join(f"{p.name[len('worker-'):]} ok" for p in files)


def beat() -> tuple[bool, str]:
    import celeryconfig
    from paysync.config import settings
    from paysync.redis_client import redis_client

    key = f"{celeryconfig.redbeat_key_prefix}::lock"  # redbeat: its key prefix, then ":lock"
    ttl = redis_client(settings().redis_url).pttl(key)
    if ttl is None or ttl < 0:
        return False, f"no beat holds the schedule lock ({key})"
    return True, f"the schedule lock is held for {ttl / 1000:.1f}s more"


def http(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """``url`` answers 200; ``user:password@`` in it is sent as Basic auth (Flower's), never printed."""
    import base64
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    headers = {}
    if parts.username is not None:
        pair = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    shown = urlunsplit(parts)
    try:
        request = urllib.request.Request(shown, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a URL the operator gives
            return resp.status == 200, f"{shown}: {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{shown}: {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{shown}: {getattr(exc, 'reason', exc)}"
