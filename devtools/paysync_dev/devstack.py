"""Local processes for the demo, the tests and the benchmarks: sandbox, workers, beat, the
webhook receiver, and scratch databases.

Each process runs in its own session with its output in a log file, so it can be
killed (SIGKILL, for crash tests) or stopped with its pool children.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")



def _checkout_root() -> Path:
    """The paysync checkout holding ``devtools/paysync_dev`` (an editable install), else the working directory."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() and (checkout / "tasks").is_dir() else Path.cwd()


ROOT = _checkout_root()
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: object) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    """A subprocess with its output in ``log``; ``supervised``: run under ``paysync supervise``,
    which restarts it whenever it dies and logs why (its output goes to the same log)."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str], name: str = "",
                 supervised: bool = False) -> None:
        if supervised:
            args = [str(BIN / "paysync"), "supervise", "--name", name or Path(args[0]).name, "--min-uptime", "5",
                    "--", *args]
        self.args, self.log, self.name, self.supervised = args, log, name, supervised
        log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(log, "wb")
        self.popen = subprocess.Popen(args, stdout=self._fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 40) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output():
                return
            if not self.alive():
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.name or self.args[0]} did not start:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the main process only (its pool children notice and exit); a supervised
        process is killed with its supervisor (the whole group), or it would come back."""
        try:
            if self.supervised:
                os.killpg(self.pid, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def restarts(self) -> int:
        """How many times the supervisor restarted the process (0 when not supervised)."""
        return self.output().count("; restart ") if self.supervised else 0

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        self._fh.close()


def start_sandbox(logdir: Path, port: int | None = None, seed: int = 0, scale: float = 1.0,
                  **env: object) -> tuple[Proc, str]:
    """Start ``paysync sandbox``; returns the process and its base URL once it answers."""
    import requests

    port = port or free_port()
    proc = Proc([str(BIN / "paysync"), "sandbox", "--port", str(port), "--seed", str(seed), "--scale", str(scale)],
                logdir / "sandbox.log", child_env(**env), name="sandbox")
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            requests.get(f"{url}/_sandbox/health", timeout=2).raise_for_status()
            return proc, url
        except requests.RequestException:
            if not proc.alive() or time.time() > deadline:
                out = proc.output()
                proc.stop()
                raise RuntimeError(f"sandbox did not start:\n{out[-3000:]}") from None
            time.sleep(0.1)


def start_webhook_receiver(logdir: Path, name: str = "webhooks", timeout: float = 30,
                           extra_args: list[str] | None = None, command: list[str] | None = None,
                           **env: object) -> tuple[Proc, str]:
    """Start ``paysync webhooks serve`` (or ``command``, which takes ``--port`` too) on a free
    port; returns the process and its base URL once ``/healthz`` answers (a TimeoutError after
    ``timeout`` seconds, a RuntimeError with its output when it exits first; the process is
    stopped either way)."""
    import requests

    port = free_port()
    proc = Proc([*(command or [str(BIN / "paysync"), "webhooks", "serve"]), "--port", str(port), *(extra_args or [])],
                logdir / f"{name}.log", child_env(**env), name=name)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            if not proc.alive():
                raise RuntimeError(f"the webhook receiver exited:\n{proc.output()[-3000:]}") from None
            return False

    try:
        wait_until(healthy, timeout, "the webhook receiver")
    except (TimeoutError, RuntimeError):
        proc.stop()
        raise
    return proc, url


def start_worker(logdir: Path, queues: str, concurrency: int = 2, name: str | None = None, wait: bool = True,
                 extra_args: list[str] | None = None, supervised: bool = True, **env: object) -> Proc:
    """A Celery worker on ``queues``, under ``paysync supervise`` unless ``supervised`` is False
    (tests that kill a worker on purpose and want it to stay dead).

    A bare traffic name stands for both its queues, as paysync's workers of that traffic
    consume them (``"user"`` is ``-Q user.interactive,user``: ``tasks/dispatch.py``); name a
    sub-queue to consume it alone (the interactive pool: :func:`start_interactive_worker`)."""
    from tasks.dispatch import worker_queues

    name = name or f"worker-{uuid.uuid4().hex[:6]}"
    args = [str(BIN / "celery"), "-A", "tasks", "worker", "-Q", worker_queues(queues), "-c", str(concurrency),
            "-n", f"{name}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle", *(extra_args or [])]
    proc = Proc(args, logdir / f"{name}.log", child_env(**env), name=name, supervised=supervised)
    if wait:
        proc.wait_for("ready.")
    return proc


def start_interactive_worker(logdir: Path, traffic: str, concurrency: int = 1, name: str | None = None,
                             **kwargs: object) -> Proc:
    """A traffic's interactive pool: a worker on its ``.interactive`` sub-queue only, so its
    interactive jobs never wait for a process held by batch work (``tasks/dispatch.py``)."""
    from tasks.dispatch import queue_for

    return start_worker(logdir, queue_for(traffic, True), concurrency, name=name or f"{traffic}-interactive",
                        **kwargs)  # type: ignore[arg-type]


def start_beat(logdir: Path, name: str = "beat", supervised: bool = True, **env: object) -> Proc:
    """Celery beat (redbeat), under ``paysync supervise`` unless ``supervised`` is False."""
    args = [str(BIN / "celery"), "-A", "tasks", "beat", "--loglevel=INFO"]
    return Proc(args, logdir / f"{name}.log", child_env(**env), name=name, supervised=supervised)


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; a TimeoutError names ``what``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextmanager
def scratch_database(prefix: str = "paysync_scratch") -> Iterator[str]:
    """A new PostgreSQL database on DATABASE_URL's server, migrated to head, for one run.

    It is exported as DATABASE_URL (worker subprocesses started inside inherit it) and
    dropped afterwards, whatever happened; the previous DATABASE_URL comes back.
    """
    import psycopg2

    from paysync.config import settings

    base = os.environ.get("DATABASE_URL", "postgresql://paysync:paysync@127.0.0.1:54329/paysync")
    server = base.rsplit("/", 1)[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(f"{server}/postgres", connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    url = f"{server}/{name}"
    os.environ["DATABASE_URL"] = url
    settings.cache_clear()
    try:
        from storage import migrate

        migrate.upgrade("head", url=url)
        yield url
    finally:
        from storage.db import close_pool

        close_pool()
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
        os.environ["DATABASE_URL"] = base
        settings.cache_clear()


def demo_redis_url(url: str) -> str:
    """``url`` on another Redis database: ``PAYSYNC_DEMO_REDIS_DB``, else 1 (2 when ``url`` is on 1)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    current = int(parts.path.strip("/") or 0) if parts.path.strip("/").isdigit() else 0
    wanted = os.environ.get("PAYSYNC_DEMO_REDIS_DB")
    db = int(wanted) if wanted else (2 if current == 1 else 1)
    if db == current:
        raise RuntimeError(f"PAYSYNC_DEMO_REDIS_DB={db} is the Redis database of REDIS_URL: choose another")
    return urlunsplit(parts._replace(path=f"/{db}"))


@contextmanager
def demo_environment() -> Iterator[tuple[str, str]]:
    """The demo's own PostgreSQL database (a scratch one, dropped afterwards) and its own Redis
    database (emptied before and after), exported as DATABASE_URL and REDIS_URL for the demo
    and the processes it starts; the user's database, broker and workers are never touched, and
    nothing the demo installed is polled afterwards. Yields (database URL, Redis URL)."""
    import redis

    from paysync.config import settings

    outer = os.environ.get("REDIS_URL") or settings().redis_url
    url = demo_redis_url(outer)
    client = redis.Redis.from_url(url)
    client.flushdb()
    os.environ["REDIS_URL"] = url
    settings.cache_clear()
    try:
        with scratch_database("paysync_demo") as database:
            yield database, url
    finally:
        try:
            client.flushdb()
        finally:
            client.close()
            os.environ["REDIS_URL"] = outer
            settings.cache_clear()


def _pg_bindir() -> Path:
    """Where PostgreSQL's server programs are (Debian's postgresql-15, else pg_ctl on PATH)."""
    import shutil

    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").is_file():
            return candidate
    found = shutil.which("pg_ctl")
    if found is None:
        raise RuntimeError("PostgreSQL's server programs (pg_ctl, initdb) are missing: run 'make services'")
    return Path(found).parent


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb into ``root``, a free loopback port) that a test
    may stop and start without disturbing the shared one. Runs as the ``postgres`` user when
    we are root (PostgreSQL refuses root), like ``scripts/services.sh``."""

    def __init__(self, root: Path | None = None) -> None:
        import tempfile

        # a folder of its own under the system temp dir, which the postgres user can reach
        self.root = root or Path(tempfile.mkdtemp(prefix="paysync-private-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.bin = _pg_bindir()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def init(self) -> PrivatePostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.root, "postgres", "postgres")
            self.root.chmod(0o755)
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        return self

    def start(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.root / "postgres.log", "-w", "-t", "60", "start",
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200")

    def stop(self, mode: str = "fast") -> None:
        self._run(self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new database on this cluster, migrated to head; returns its URL."""
        import psycopg2

        admin = psycopg2.connect(self.url, connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}"')
        admin.close()
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        from storage import migrate

        migrate.upgrade("head", url=url)
        return url

    def destroy(self) -> None:
        import shutil

        try:
            self.stop("immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
