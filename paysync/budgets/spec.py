"""What a bucket is (windows, concurrency, reserve) and what the limiter answers.

Plain frozen dataclasses with no Redis in them: a :class:`BucketSpec` is built by the
factories in :mod:`paysync.budgets.buckets` (or by hand in tests) and handed to the
:class:`~paysync.budgets.limiter.Limiter`, which keeps the state in Redis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from paysync.errors import PaysyncError


def share_for_batch(limit: int, reserve: float) -> int:
    """Calls of ``limit`` that batch work may use when ``reserve`` is kept for interactive calls.

    At least one, so that a tiny limit never starves batch work for good.
    """
    return max(1, limit - math.ceil(limit * reserve - 1e-9))


# Sub-window counters pack two counts in one integer: calls + PACK * interactive calls.
PACK = 2 ** 26


@dataclass(frozen=True)
class Window:
    """At most ``limit`` grants in any sliding interval of ``seconds`` (the provider's count).

    ``margin`` calls are kept back and ``margin_seconds`` are added to the window length, to
    cover calls we do not see and the delay between our grant and the provider's count.
    Windows of different buckets that share a ``key`` share one state (Xero's per-app limit).

    ``subwindows`` chooses the representation. 0: a sliding log, one entry per grant (exact,
    memory grows with the limit). N > 0: N + 1 counters of ``span / N`` seconds each, and a
    grant only while the last N + 1 counters sum below the limit; any true sliding interval
    of the window's length lies within N + 1 consecutive counters, so it never holds more
    than the limit, at a cost of at most 1/(N + 1) of the throughput; memory stays N + 4
    small hash fields whatever the traffic.

    ``reserve_floor`` (only with sub-windows): the interactive reserve follows demand. Batch
    calls leave ``reserve_floor`` of the window to interactive ones, plus one call for every
    interactive call already in the window, up to the bucket's full reserve. ``None``: batch
    calls always leave the full reserve.
    """

    name: str
    key: str
    limit: int
    seconds: float
    margin: int = 0
    margin_seconds: float = 0.0
    subwindows: int = 0
    reserve_floor: float | None = None

    def __post_init__(self) -> None:
        if self.limit < 1 or self.seconds <= 0:
            raise ValueError(f"window {self.name!r}: limit and seconds must be positive")
        if not 0 <= self.margin < self.limit or self.margin_seconds < 0:
            raise ValueError(f"window {self.name!r}: margin must be in [0, limit) and margin_seconds >= 0")
        if self.subwindows < 0 or (self.subwindows and self.limit >= PACK):
            raise ValueError(f"window {self.name!r}: subwindows must be >= 0, and a limit with sub-windows "
                             f"below {PACK}")
        if self.reserve_floor is not None and (not self.subwindows or not 0 <= self.reserve_floor < 1):
            raise ValueError(f"window {self.name!r}: a reserve floor needs sub-windows and must be in [0, 1)")

    @property
    def usable(self) -> int:
        """Grants the limiter hands out per window: the limit less the margin."""
        return self.limit - self.margin

    @property
    def span(self) -> float:
        """Length of the counted window in seconds: the window plus the margin."""
        return self.seconds + self.margin_seconds

    @property
    def state_key(self) -> str:
        """The Redis key of the grants: a sorted set (log) or a hash (the counters' current
        sub-window, sum and block)."""
        return f"{self.key}:counts" if self.subwindows else self.key

    @property
    def second_key(self) -> str:
        """A log's block key, or the hash of the counters' other sub-windows."""
        return f"{self.key}:past" if self.subwindows else self.block_key

    @property
    def block_key(self) -> str:
        return f"{self.key}:block"


@dataclass(frozen=True)
class BucketSpec:
    """One budget as a provider counts it: all windows and the concurrency limit, all-or-nothing.

    ``key`` names the bucket's own state (leases and block); ``concurrency`` of ``None`` means
    no limit on calls in flight; ``lease_seconds`` is how long a slot stays taken without a
    renewal (``Limiter.lease`` renews it while the call runs). ``reserve`` is the share of
    every window (and of the concurrency) that batch acquires may not use (on a window with
    a ``reserve_floor``, the most it keeps).
    """

    name: str
    key: str
    windows: tuple[Window, ...]
    concurrency: int | None = None
    lease_seconds: float = 5.0
    reserve: float = 0.0

    def __post_init__(self) -> None:
        names = [w.name for w in self.windows]
        keys = [w.key for w in self.windows]
        if len(set(names)) != len(names) or len(set(keys)) != len(keys):
            raise ValueError(f"bucket {self.name!r}: window names and keys must be unique")
        if not 0 <= self.reserve < 1:
            raise ValueError(f"bucket {self.name!r}: reserve must be in [0, 1)")
        if (self.concurrency is not None and self.concurrency < 1) or self.lease_seconds <= 0:
            raise ValueError(f"bucket {self.name!r}: concurrency and lease_seconds must be positive")

    def __hash__(self) -> int:
        # the limiter looks its packed command up by spec on every acquire: hash the fields once
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict[str, object]:
        # string hashes differ between processes: a pickled spec leaves its cached hash behind
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def leases_key(self) -> str:
        return f"{self.key}:leases"

    @property
    def block_key(self) -> str:
        return f"{self.key}:block"

    def window(self, name: str) -> Window:
        for w in self.windows:
            if w.name == name:
                return w
        raise KeyError(f"bucket {self.name!r} has no window {name!r}")

    def cap(self, limit: int, interactive: bool) -> int:
        return limit if interactive else share_for_batch(limit, self.reserve)

    def reserve_of(self, window: Window) -> tuple[int, int]:
        """Calls of ``window`` kept from batch work: (the full reserve, the floor it may shrink to)."""
        full = window.usable - share_for_batch(window.usable, self.reserve)
        if window.reserve_floor is None:
            return full, full
        return full, min(full, math.ceil(window.usable * window.reserve_floor - 1e-9))

    def batch_cap(self, window: Window, interactive_calls: int) -> int:
        """Calls of ``window`` batch work may use when ``interactive_calls`` are in it."""
        full, floor = self.reserve_of(window)
        return window.usable - min(full, floor + interactive_calls)


@dataclass(frozen=True)
class Grant:
    """The answer to one acquire.

    ``ok`` true: the call is granted at ``granted_at`` (Redis time), ``wait`` seconds after the
    script ran; a wait above zero is a booking (the caller accepted up to ``max_wait``) and the
    call must not start before it ends (``reason`` names what set it). ``ok`` false means
    nothing was taken: ``wait`` is the exact time in seconds until the binding constraint
    (``reason``: a window name, ``"concurrency"`` or ``"blocked"``) frees, assuming nobody
    else takes it first, and ``granted_at`` is the Redis time the script read. For
    ``"concurrency"`` it is the earliest lease expiry, an upper bound: a release frees the
    slot sooner. ``lease`` is set when the bucket limits concurrency.
    """

    ok: bool
    wait: float
    lease: str | None
    reason: str
    granted_at: float


class BudgetExhausted(PaysyncError):
    """No call may be made for ``wait`` seconds on ``bucket``; the job should wait, not a worker."""

    def __init__(self, bucket: str, wait: float, reason: str) -> None:
        self.bucket, self.wait, self.reason = bucket, wait, reason
        super().__init__(f"budget {bucket} exhausted ({reason}): next call in {wait:.1f}s")

    def __reduce__(self) -> tuple:
        return (BudgetExhausted, (self.bucket, self.wait, self.reason))


@dataclass(frozen=True)
class WindowState:
    name: str
    limit: int
    seconds: float
    used: int          # grants (and phantom grants) counted in the window now
    left: int          # interactive calls that would be granted now
    left_batch: int    # batch calls that would be granted now
    blocked_until: float | None = None
    interactive_used: int = 0  # of ``used``, interactive grants (counted with sub-windows only)


@dataclass(frozen=True)
class BucketState:
    """``Limiter.remaining``: calls left per window, calls in flight, and any block."""

    now: float
    windows: dict[str, WindowState] = field(default_factory=dict)
    in_flight: int = 0
    concurrency: int | None = None
    blocked_until: float | None = None
    blocked_reason: str | None = None
