"""A virtual clock: real time plus an offset that tests advance, optionally scaled."""

from __future__ import annotations

import threading
import time


class VirtualClock:
    """``now()`` = start + (real elapsed x scale) + offset. ``advance`` adds to the offset.

    With ``scale`` 1 and no advance it is real time; benchmarks run time-scaled by
    setting ``scale`` (a scale of 60 makes a virtual minute last one real second).
    """

    def __init__(self, scale: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._real0 = time.monotonic()
        self._start = time.time() if start is None else start
        self._offset = 0.0
        self.scale = scale

    def now(self) -> float:
        with self._lock:
            return self._start + (time.monotonic() - self._real0) * self.scale + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self, scale: float | None = None, start: float | None = None) -> None:
        with self._lock:
            self._real0 = time.monotonic()
            self._start = time.time() if start is None else start
            self._offset = 0.0
            if scale is not None:
                self.scale = scale
