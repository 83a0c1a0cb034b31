"""A ``redis-server`` of its own on a free loopback port, for a test session, a test that kills
Redis, or a benchmark that fills and empties queues without touching anyone else's Redis."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from paysync_dev.devstack import free_port


class RedisServer:
    """``redis-server`` on 127.0.0.1 (no snapshots; append-only file with fsync on every write
    when ``durable``) plus ``extra`` arguments. :meth:`start` returns once it answers ``PING``
    (through ``client`` when given, e.g. for TLS), :meth:`kill` SIGKILLs it, :meth:`start`
    again brings it back on the same port and folder, :meth:`close` stops it and removes its
    folder. Also a context manager yielding itself, started."""

    def __init__(self, *extra: str, durable: bool = False, port: int | None = None, client: Any = None,
                 prefix: str = "paysync-redis-") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: run 'make services' (it installs it)")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
        self.argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir), "--save", "",
                     *persistence, *extra]
        self.client = client
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        import redis

        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client or redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
