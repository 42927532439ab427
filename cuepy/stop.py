"""Bounds on CUE evaluations in this process: a time limit per thread, cancellation
from another thread, and the evaluator's recursion bound.

CUE's evaluator has no way to stop (cuelang.org/go issue 3752) and recurses
without end on some inputs until Go's stack overflows, which ends the process.
libcuepy is built against the pinned CUE with two hooks added at build time
(go/cmd/cuepatch): a stop checked at every step of the evaluator, and a bound
on its nesting. A stopped evaluation raises ``CueLimitError`` (``limit`` is
"time", "interrupt" or "depth"; Ctrl-C stops the main thread's long calls
too); the context it ran in is then unusable (its values may be partly
evaluated): its values raise ``CueUsageError``, build them again.
``cuepy.load`` makes a context per call, and so does ``cuepy.compile`` inside
a time limit or cancel scope; its shared context is replaced after a stop.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from cuepy._native import native
from cuepy.errors import CueLimitError

DEFAULT_MAX_DEPTH = 50_000
"""The evaluator's default nesting bound (go/internal/stop): the two inputs known to recurse
without end reach it in about 0.2 s and 250 MB of stack; Go dies at about 220,000."""

_local = threading.local()
_INT64_MAX = 2**63 - 1

T = TypeVar("T")


def set_max_depth(levels: int) -> int:
    """Bound the evaluator's nesting at ``levels`` (0: no bound, as CUE itself) for every
    evaluation of the process, and return the previous bound. Deeper evaluations raise
    ``CueLimitError(limit="depth")`` instead of overflowing Go's stack."""
    if type(levels) is not int or not 0 <= levels <= _INT64_MAX:
        raise ValueError(f"levels must be a non-negative int (at most 2**63 - 1), not {levels!r}")
    lib, _ = native()
    return int(lib.cue_set_max_depth(levels))


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Stop this thread's CUE evaluations once ``seconds`` have passed.

    Every call of the block (load, compile, unify, export, vet, ...) counts against one
    deadline; the evaluation running when it passes, and any later in the block, raise
    ``CueLimitError(limit="time")`` within milliseconds. A nested block's deadline never
    extends its outer one. Work outside CUE's evaluator (reading files, a registry
    download, parsing) is not cut short; ``cuepy.limits`` bounds a whole call in a worker
    process.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"seconds must be a positive finite number, not {seconds!r}")
    lib, _ = native()
    tid = threading.get_native_id()
    deadlines: list[float] = _local.__dict__.setdefault("deadlines", [])
    deadline = time.monotonic() + seconds
    if deadlines:
        deadline = min(deadline, deadlines[-1])
    deadlines.append(deadline)
    try:
        _arm(tid, deadline)
        yield
    finally:
        deadlines.pop()
        if deadlines:
            _arm(tid, deadlines[-1])
        else:
            lib.cue_stop_deadline_clear(tid)


class CancelScope:
    """Evaluations another thread can stop: ``with scope:`` around CUE calls in one thread,
    ``scope.cancel()`` from any thread. The evaluation running in the block, and any later
    in it, raise ``CueLimitError(limit="interrupt")`` within milliseconds; ``cancel()``
    outside the block does nothing to other work (cancelled before entry, the block's
    calls stop at once). A scope is entered once, in one thread; scopes nest.
    """

    __slots__ = ("_lock", "_thread", "cancelled")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: int | None = None
        self.cancelled = False
        """Whether ``cancel()`` was called."""

    def __enter__(self) -> CancelScope:
        lib, _ = native()
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a CancelScope is entered once at a time")
            self._thread = threading.get_native_id()
            _local.__dict__.setdefault("scopes", []).append(self)
            if self.cancelled:
                lib.cue_stop_interrupt(self._thread)
        return self

    def __exit__(self, *exc: object) -> None:
        lib, _ = native()
        scopes: list[CancelScope] = _local.scopes
        with self._lock:
            tid, self._thread = self._thread, None
            scopes.remove(self)
            lib.cue_stop_interrupt_clear(tid)
        if any(outer.cancelled for outer in scopes):  # the interrupt was theirs too
            lib.cue_stop_interrupt(tid)

    def cancel(self) -> None:
        """Stop the block's evaluations (thread-safe; idempotent)."""
        lib, _ = native()
        with self._lock:
            self.cancelled = True
            if self._thread is not None:
                lib.cue_stop_interrupt(self._thread)


def stoppable() -> bool:
    """Whether this thread is inside a ``time_limit`` or ``CancelScope`` block."""
    return bool(getattr(_local, "deadlines", None) or getattr(_local, "scopes", None))


def bounded(seconds: float | None) -> contextlib.AbstractContextManager[None]:
    """``time_limit(seconds)``, or nothing for None: the ``timeout=`` of calls."""
    return contextlib.nullcontext() if seconds is None else time_limit(seconds)


def cores() -> int:
    """The cores this process may run on (its CPU affinity): how many calls :func:`in_parallel`
    runs at once to good effect."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` at once (cffi releases the GIL in Go): the first in this thread, the others
    in a shared pool, each with this thread's context variables and stopped by its
    ``time_limit`` or ``CancelScope``; return their results in order.

    Waits for every call, then raises the first exception in order, a stop first
    (``CueLimitError``: the calls share what the stop refused, so the others' errors may only
    follow from it). A KeyboardInterrupt (any BaseException) in the first call stops the
    others' evaluations too, then is raised once they ended. For independent evaluations, each
    in its own CUE context (libcuepy evaluates one context at a time): on N cores, N of them
    take about the time of the slowest. Called from one of the pool's own calls, it runs them
    one after another (waiting there on the pool could wait for ever).
    """
    if len(calls) <= 1 or getattr(_local, "pooled", False):
        return [call() for call in calls]
    lib, _ = native()
    caller = threading.get_native_id()

    def follow(call: Callable[[], T]) -> T:
        lib.cue_stop_follow(caller)
        try:
            return call()
        finally:
            lib.cue_stop_follow(0)

    futures: list[Future[T]] = [_pool().submit(contextvars.copy_context().run, follow, call) for call in calls[1:]]
    interrupted = False
    try:
        first = calls[0]()
    except Exception as exc:
        failed: BaseException | None = exc
    except BaseException:  # Ctrl-C: the pool's calls follow this thread's stops
        interrupted = True
        lib.cue_stop_interrupt(caller)
        raise
    else:
        failed = None
    finally:
        wait(futures)  # nothing runs on once this returns or raises
        if interrupted and not any(scope.cancelled for scope in getattr(_local, "scopes", ())):
            lib.cue_stop_interrupt_clear(caller)  # (a cancelled scope's interrupt stays)
    errors = [e for e in (failed, *(future.exception() for future in futures)) if e is not None]
    if errors:
        raise next((e for e in errors if isinstance(e, CueLimitError)), errors[0])
    return [first, *(future.result() for future in futures)]


_pool_lock = threading.Lock()
_shared_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _shared_pool
    with _pool_lock:
        if _shared_pool is None:
            _shared_pool = ThreadPoolExecutor(thread_name_prefix="cuepy-parallel", initializer=_mark_pooled)
        return _shared_pool


def _mark_pooled() -> None:
    _local.pooled = True


def _arm(tid: int, deadline: float) -> None:
    lib, _ = native()
    left = deadline - time.monotonic()
    # A deadline past int64's 292 years of nanoseconds is as good as none.
    lib.cue_stop_after(tid, 0 if left <= 0 else int(left * 1e9) if left < _INT64_MAX / 1e9 else _INT64_MAX)
