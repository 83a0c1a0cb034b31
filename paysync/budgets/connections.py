"""One connection per thread for the limiter's hot scripts, outside redis-py's pool.

redis-py's pool checks every connection it hands out (a poll for unread data) and records
metrics on each get and release, and its reply parser is pure Python. On the limiter's hot
path, a script run before and after every call to a provider, that costs about as much as
the Redis round trip itself. So acquire, extend and release run on a connection kept per
thread and read their reply, always one status line, straight from the socket:

- one thread uses the connection at a time and reads every reply before sending the next
  command, and any error drops the connection, so it never holds a stale reply;
- the connection is made and greeted (password, database, TLS, timeouts) exactly like the
  pool's own; a forked child makes its own instead of using its parent's socket.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import redis
from redis.connection import AbstractConnection

from paysync.redis_client import unavailable


class PerThreadConnections:
    """Runs packed commands that answer one status line on this thread's connection to
    ``client``'s Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.pool = client.connection_pool
        self.where = getattr(client, "paysync_url", "?")
        self.local = threading.local()

    def _connection(self) -> AbstractConnection:
        conn: AbstractConnection | None = getattr(self.local, "conn", None)
        if conn is None or conn.pid != os.getpid():
            conn = self.local.conn = self.pool.connection_class(**self.pool.connection_kwargs)
        return conn

    def _drop(self, conn: AbstractConnection) -> None:
        conn.disconnect()
        self.local.conn = None

    def run(self, command: bytes, load: Callable[[], object], name: str = "EVALSHA") -> bytes:
        """Send ``command`` (one packed command) and return its status line (without the
        ``+`` and the line end).

        ``load`` loads the script when Redis answers NOSCRIPT (it restarted, or its scripts
        were flushed); the command is then sent again. A connection that had been idle and
        turns out closed (Redis restarted) is replaced and the command sent once more: the
        limiter's scripts are safe to run twice with the same token (a log or a lease keeps
        one entry per token; a counter counts one call too many, which only errs on the safe
        side). A timeout is not retried: a Redis that hangs fails the call.
        """
        reloaded = retried = False
        while True:
            conn = self._connection()
            reused = conn._sock is not None
            try:
                if not reused:
                    conn.connect()
                sock = conn._sock
                assert sock is not None
                sock.sendall(command)
                line = sock.recv(4096)
                while not line.endswith(b"\r\n"):
                    more = sock.recv(4096)
                    if not more:
                        raise redis.ConnectionError("Connection closed by server.")
                    line += more
            except (TimeoutError, redis.TimeoutError) as exc:
                self._drop(conn)
                raise unavailable(redis.TimeoutError(str(exc) or "timed out"), self.where, name) from exc
            except (OSError, redis.ConnectionError) as exc:
                self._drop(conn)
                if not reused or retried:
                    raise unavailable(redis.ConnectionError(str(exc)), self.where, name) from exc
                retried = True
                continue
            except BaseException:
                self._drop(conn)  # interrupted mid-command: a reply may be left unread
                raise
            if line[:1] == b"+":
                return line[1:-2]
            if line.startswith(b"-NOSCRIPT") and not reloaded:
                reloaded = True
                load()
                continue
            if line[:1] == b"-":
                raise redis.ResponseError(line[1:-2].decode(errors="replace"))
            self._drop(conn)
            raise redis.ResponseError(f"{name}: expected a status line from Redis, got {line[:40]!r}")
