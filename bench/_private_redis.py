"""A redis-server of the benchmark's own on a free loopback port (not a benchmark by itself), so a
run that fills and empties queues never touches another session's Redis."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def private_redis() -> Iterator[str]:
    """Start ``redis-server`` (no persistence) and yield its URL; stopped and removed afterwards."""
    import redis

    from paysync_dev.devstack import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: run 'make services' (it installs it)")
    port, folder = free_port(), tempfile.mkdtemp(prefix="paysync-bench-redis-")
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", folder, "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
