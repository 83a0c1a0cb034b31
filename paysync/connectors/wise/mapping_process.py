"""A process of its own that maps pages of Wise transfers for page writers, so mapping and
writing each have a core (one Python process holds one interpreter lock: mapping in a thread
of the writer's process delays every answer of PostgreSQL the writer waits for).

The process is a fresh interpreter (``python -m paysync.connectors.wise.mapping_process``)
started with :mod:`subprocess`, not :mod:`multiprocessing`: a Celery prefork worker runs
tasks in daemonic processes, which multiprocessing refuses to give children, and forking a
process whose other threads may hold locks is unsafe. Requests and answers are pickled
frames on two pipes of its own (its standard output stays free for anything printed): a
request is a page's items and its :class:`~paysync.connectors.wise.page_mapping.MapContext`,
the answer its :class:`~paysync.connectors.wise.page_mapping.MappedPage` (a refused transfer
travels as the mapper's error), answers in the order of the requests.

One process per worker process at most is kept between syncs (:func:`lease`,
:func:`give_back`); it exits when it has had nothing to do for :data:`IDLE_SECONDS`, when
the process that started it is gone (its request pipe closes), and at exit. A page writer
that cannot use one (not started yet, gone, an unexpected error) maps in its own process.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

#: an idle mapping process exits after this many seconds without a request
IDLE_SECONDS = 300.0
_HEADER = struct.Struct("!I")
_HELLO = b"ready"


class MappingProcessLost(Exception):
    """The mapping process exited or broke the protocol: its pages are mapped in-process."""


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> bytes | None:
    head = _read_exactly(fd, _HEADER.size)
    if head is None:
        return None
    return _read_exactly(fd, _HEADER.unpack(head)[0])


#: bytes a pipe holds (Linux): the mapping process runs pages ahead while the writer is in a
#: transaction, instead of waiting with each mapped page (larger than the default 64 KiB) for it
PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:
        pass  # not Linux, or above the system's limit: the default size only waits more


def _readable(fd: int, timeout: float = 0.0) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


class MappingProcess:
    """One mapping process, used by one page writer at a time: :meth:`send` from one thread,
    :meth:`receive` from another is fine (two pipes)."""

    def __init__(self) -> None:
        requests_in, self._requests = os.pipe()
        self._answers, answers_out = os.pipe()
        for fd in (self._requests, self._answers):
            _widen(fd)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(requests_in), str(answers_out)],
                pass_fds=(requests_in, answers_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        except BaseException:
            for fd in (self._requests, self._answers):
                os.close(fd)
            raise
        finally:
            os.close(requests_in)
            os.close(answers_out)
        self.owner = os.getpid()
        self.ready = False
        self.broken = False
        self.sent = 0       # requests sent (counted by the sending thread only)
        self.received = 0   # answers received (counted by the receiving thread only)

    @property
    def outstanding(self) -> int:
        """Requests whose answers have not been read."""
        return self.sent - self.received

    def poll_ready(self, timeout: float = 0.0) -> bool:
        """Whether it has started (its greeting read); waits up to ``timeout`` seconds."""
        if self.ready or self.broken:
            return self.ready
        if _readable(self._answers, timeout):
            hello = _read_frame(self._answers)
            if hello != _HELLO:
                self.broken = True
                return False
            self.ready = True
        return self.ready

    def send(self, items: Sequence[Any], context: Any) -> None:
        if self.broken:
            raise MappingProcessLost("the mapping process is gone")
        try:
            _write_frame(self._requests, pickle.dumps((self.sent, items, context), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            self.broken = True
            raise MappingProcessLost(f"the mapping process is gone: {exc}") from None
        self.sent += 1

    def has_answer(self, timeout: float = 0.0) -> bool:
        """Whether the next answer can be read now (or the process is gone), waiting up to
        ``timeout`` seconds for it."""
        return self.broken or _readable(self._answers, max(0.0, timeout))

    def receive(self) -> Any:
        """The next answer (the mapped page); :class:`MappingProcessLost` when the process is
        gone or could not map (the caller maps that page itself)."""
        if self.broken:
            raise MappingProcessLost("the mapping process is gone")
        try:
            frame = _read_frame(self._answers)
        except OSError:
            frame = None
        if frame is None:
            self.broken = True
            raise MappingProcessLost(f"the mapping process exited ({self.proc.poll()})")
        number, kind, value = pickle.loads(frame)
        if number != self.received:
            self.broken = True
            raise MappingProcessLost(f"the mapping process answered request {number}, not {self.received}")
        self.received += 1
        if kind != "ok":
            raise MappingProcessLost(f"the mapping process could not map a page: {value}")
        return value

    def alive(self) -> bool:
        return not self.broken and self.proc.poll() is None

    def close(self) -> None:
        """Close its pipes (it exits on the closed request pipe) and reap it."""
        if self.owner != os.getpid():
            return
        self.broken = True
        for fd in (self._requests, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_lock = threading.Lock()
_idle: list[MappingProcess] = []


def lease(start: bool) -> MappingProcess | None:
    """An idle mapping process of this process, or a new one when ``start``; None otherwise."""
    with _lock:
        while _idle:
            process = _idle.pop()
            if process.owner == os.getpid() and process.alive():
                return process
            process.close()
    if not start:
        return None
    try:
        return MappingProcess()
    except OSError as exc:
        log.warning("no mapping process (%s): pages are mapped in the writer's process", exc)
        return None


def give_back(process: MappingProcess) -> None:
    """Keep it for the next writer of this process, if it can serve one; else close it."""
    if process.owner != os.getpid():
        return
    if process.alive() and process.outstanding == 0:
        with _lock:
            if not _idle:
                _idle.append(process)
                return
    process.close()


def warm(timeout: float = 30.0) -> bool:
    """Start this process's mapping process now and wait until it is ready (the next page
    writer maps every page apart); False if it did not start in time."""
    process = lease(start=True)
    if process is None:
        return False
    deadline = time.monotonic() + timeout
    while not process.poll_ready(0.1):
        if process.broken or time.monotonic() > deadline:
            process.close()
            return False
    give_back(process)
    return True


def _close_idle() -> None:
    with _lock:
        while _idle:
            _idle.pop().close()


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _idle.clear()  # the parent's: never written to from here


atexit.register(_close_idle)
os.register_at_fork(after_in_child=_forget_after_fork)


def serve(requests: int, answers: int) -> int:
    """The mapping process: greet, then answer each request in turn until the request pipe
    closes or nothing comes for :data:`IDLE_SECONDS`."""
    import gc
    import signal

    from paysync.connectors.wise.page_mapping import map_page

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is for the writer: this ends with its pipe
    gc.freeze()  # the modules imported: never scanned again
    _write_frame(answers, _HELLO)
    while _readable(requests, IDLE_SECONDS):
        frame = _read_frame(requests)
        if frame is None:
            return 0
        number = -1
        try:
            number, items, context = pickle.loads(frame)
            answer: tuple[int, str, Any] = (number, "ok", map_page(items, context))
        except Exception as exc:  # noqa: BLE001 - a bug, not a refused transfer: the writer maps the page itself
            answer = (number, "error", f"{type(exc).__name__}: {exc}")
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - every request gets an answer
            data = pickle.dumps((number, "error", f"the mapped page could not be sent: {type(exc).__name__}: {exc}"))
        try:
            _write_frame(answers, data)
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
