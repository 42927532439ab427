"""Stage instrumentation: one structlog event per stage, and ``trace()``.

Each stage (load, build, unify, fill, extract, export, validate, and the
stages later layers add) is reported as ``cuepy.<stage>.started`` and then
``cuepy.<stage>.complete`` or ``cuepy.<stage>.failed``, the last two with
``duration_ns`` and the Go heap allocations the stage made (``alloc_bytes``,
``alloc_objects``).

Events are produced only when someone listens: while a :func:`trace`
collector is active in the current context (it collects them; nothing is
printed), or once the application has configured structlog (they go through
its pipeline). The library never configures logging itself, and
when nobody listens the check costs one context-variable read and one
attribute read per call.

Work on other threads and processes (docs/cache.md, "Observability"):

* a ``trace()`` collects the stages of its own context: code it calls, and
  threads started with that context (:func:`bind`, or
  ``contextvars.copy_context().run``; ``cuepy.batch`` does this for its
  pools). ``trace(threads=True)`` collects the stages of every thread of the
  process while it is active, for pools you do not control.
* stages nest: an event records its ``depth`` and ``parent`` stage and its
  ``self_ns`` (its duration less its nested stages' in the same thread), so
  sums over ``Trace.top_level()`` or of ``self_ns`` count each nanosecond
  once (``Trace.wall_ns()``, ``Trace.self_totals()``).
* the Go counters (``alloc_bytes``, ``alloc_objects``, CUE's evaluator
  counts) are process-wide: Go keeps no per-thread counters. An event's
  ``alone`` says whether any other thread ran a cuepy stage meanwhile; when
  it did, the counters include that thread's work.
* events of another process come back as data: :func:`capture` collects a
  job's events without printing them, :func:`replay` gives them to the
  caller's collectors and structlog (``cuepy.batch`` returns them with each
  job's result, tagged with the job).
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import structlog

from cuepy._native import native

_log = structlog.get_logger("cuepy")
_collectors: contextvars.ContextVar[tuple[Trace, ...]] = contextvars.ContextVar("cuepy_collectors", default=())
_process_collectors: list[Trace] = []
"""Collectors of ``trace(threads=True)``: every thread's stages."""
_isolated: contextvars.ContextVar[bool] = contextvars.ContextVar("cuepy_trace_isolated", default=False)
"""Inside ``capture()``: events go to its collector only (the caller replays them)."""


class _Frame:
    """A running stage: its name, its thread, and the time spent in its nested stages."""

    __slots__ = ("child_ns", "stage", "thread")

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.thread = threading.get_ident()
        self.child_ns = 0


_stack: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar("cuepy_stages", default=())

# Stages running in this process, to tell whether a stage's Go counters are its own.
_overlap_lock = threading.Lock()
_active = 0
_started = 0
_local = threading.local()

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class MemStats:
    """Counters of the Go runtime inside libcuepy (read without stopping the world)."""

    alloc_bytes: int
    """Bytes allocated on the Go heap since the runtime started (cumulative)."""
    alloc_objects: int
    """Heap objects allocated since the runtime started (cumulative)."""
    heap_bytes: int
    """Bytes in heap objects now, live or not yet swept."""
    heap_objects: int
    """Heap objects now, live or not yet swept."""
    total_bytes: int
    """All memory the Go runtime has mapped."""
    gc_cycles: int
    """Completed garbage collection cycles."""
    gc_percent: int
    """The GC target (``GOGC``; -1: off): see :func:`set_gc_percent`."""


def memstats() -> MemStats:
    """Read the Go runtime's memory counters (about a microsecond)."""
    lib, ffi = native()
    out = ffi.new("cue_memstats *")
    lib.cue_read_memstats(out)
    return MemStats(
        out.alloc_bytes, out.alloc_objects, out.heap_bytes, out.heap_objects, out.total_bytes, out.gc_cycles,
        out.gc_percent,
    )


def set_gc_percent(percent: int) -> int:
    """Set the Go runtime's GC target (as ``GOGC``; negative: off) and return the previous one.

    libcuepy starts at 400 unless the environment sets ``GOGC``: CUE's
    evaluation allocates several times its live heap per load, and Go's
    default of 100 spends a fifth of a load collecting. Lower it to trade
    load time for peak memory; ``GOMEMLIMIT`` is honoured either way.
    """
    if not isinstance(percent, int) or isinstance(percent, bool):
        raise TypeError(f"percent must be an int, not {type(percent).__name__}")
    lib, _ffi = native()
    return int(lib.cue_set_gc_percent(max(-1, min(percent, 2**31 - 1))))


@dataclass(frozen=True, slots=True)
class EvalStats:
    """CUE's evaluator counters, cumulative for the process.

    CUE adds an evaluation's counts when it builds a value, as ``cue --stats``
    reports them; evaluation done lazily afterwards (on export, say) is not
    counted. CUE exposes these only to its own command: libcuepy reads the
    same internal total (see docs/benchmarks.md).
    """

    unifications: int
    """Nodes unified."""
    disjuncts: int
    """Disjuncts processed."""
    conjuncts: int
    """Conjuncts processed."""
    notifications: int
    """Notifications sent between nodes."""
    allocs: int
    """Evaluator buffers allocated."""
    reused: int
    """Evaluator buffers reused instead of allocated."""
    freed: int
    """Evaluator buffers returned to the pool."""
    retained: int
    """Evaluator buffers retained on finalization."""


def eval_stats() -> EvalStats:
    """Read CUE's evaluator counters."""
    lib, ffi = native()
    out = ffi.new("cue_eval_stats *")
    lib.cue_read_eval_stats(out)
    return EvalStats(
        out.unifications, out.disjuncts, out.conjuncts, out.notifications,
        out.allocs, out.reused, out.freed, out.retained,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StageEvent:
    """One finished stage as a trace collects it."""

    stage: str
    """Stage name: load, build, unify, fill, extract, export, validate, ..."""
    ok: bool
    """False when the stage raised."""
    duration_ns: int
    """Wall time of the stage."""
    alloc_bytes: int
    """Go heap bytes allocated during the stage (all threads)."""
    alloc_objects: int
    """Go heap objects allocated during the stage (all threads)."""
    unifications: int = 0
    """CUE unifications counted during the stage (see EvalStats)."""
    disjuncts: int = 0
    """CUE disjuncts counted during the stage."""
    conjuncts: int = 0
    """CUE conjuncts counted during the stage."""
    fields: dict[str, Any] = field(default_factory=dict)
    """What the stage was about (path, filename, format, ...) and, on failure, the error;
    ``job`` for an event of a ``cuepy.batch`` job."""
    depth: int = 0
    """How many stages this one runs inside (0: a top-level stage)."""
    parent: str | None = None
    """The stage this one runs inside, if any."""
    self_ns: int = 0
    """The duration less that of the stages nested in it (in the same thread)."""
    alone: bool = True
    """False when another thread ran a cuepy stage during this one: the Go and CUE counters, which
    are process-wide, then include that thread's work too."""


@dataclass
class Trace:
    """Collects the stage events of the code run inside ``with cuepy.trace()``."""

    events: list[StageEvent] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per stage: (number of events, total duration in ns). Nested stages count in their
        parents' durations too: see ``self_totals`` and ``wall_ns``."""
        out: dict[str, tuple[int, int]] = {}
        for e in self.events:
            count, total = out.get(e.stage, (0, 0))
            out[e.stage] = (count + 1, total + e.duration_ns)
        return out

    def self_totals(self) -> dict[str, tuple[int, int]]:
        """Per stage: (number of events, total of ``self_ns``): each nanosecond counted once."""
        out: dict[str, tuple[int, int]] = {}
        for e in self.events:
            count, total = out.get(e.stage, (0, 0))
            out[e.stage] = (count + 1, total + e.self_ns)
        return out

    def top_level(self) -> list[StageEvent]:
        """The events of stages not nested in another one."""
        return [e for e in self.events if e.depth == 0]

    def wall_ns(self) -> int:
        """The summed duration of top-level stages (nested stages not counted again)."""
        return sum(e.duration_ns for e in self.events if e.depth == 0)

    def by_job(self) -> dict[Any, list[StageEvent]]:
        """Events of ``cuepy.batch`` jobs, by job."""
        out: dict[Any, list[StageEvent]] = {}
        for e in self.events:
            if "job" in e.fields:
                out.setdefault(e.fields["job"], []).append(e)
        return out


@contextmanager
def trace(*, threads: bool = False) -> Iterator[Trace]:
    """Collect the stage events of everything run in this block.

    By default, those of this context: this thread or task, and threads
    started with its context (:func:`bind`). With ``threads=True``, those of
    every thread of the process while the block runs.
    """
    collector = Trace()
    if threads:
        with _overlap_lock:
            _process_collectors.append(collector)
        try:
            yield collector
        finally:
            with _overlap_lock:
                _process_collectors[:] = [c for c in _process_collectors if c is not collector]
        return
    token = _collectors.set((*_collectors.get(), collector))
    try:
        yield collector
    finally:
        _collectors.reset(token)


@contextmanager
def capture() -> Iterator[Trace]:
    """Collect this block's stage events apart: not given to enclosing traces nor logged.

    For work whose events travel elsewhere as data (a job in another thread or
    process); the receiving side gives them to its listeners with :func:`replay`.
    """
    collector = Trace()
    token = _collectors.set((collector,))
    quiet = _isolated.set(True)
    stack = _stack.set(())
    try:
        yield collector
    finally:
        _stack.reset(stack)
        _isolated.reset(quiet)
        _collectors.reset(token)


def replay(events: list[StageEvent] | tuple[StageEvent, ...], **fields: Any) -> None:
    """Give events collected elsewhere (:func:`capture`) to this context's listeners, as if the
    stages had run here (nested in the current stage, if any), with ``fields`` added."""
    if not events or not enabled():
        return
    stack = _stack.get()
    logging = structlog.is_configured() and not _isolated.get()
    targets = _targets()
    for e in events:
        event = StageEvent(
            e.stage, e.ok, e.duration_ns, e.alloc_bytes, e.alloc_objects, e.unifications, e.disjuncts,
            e.conjuncts, {**e.fields, **fields}, e.depth + len(stack),
            e.parent if e.parent is not None or not stack else stack[-1].stage, e.self_ns, e.alone,
        )  # fmt: skip
        for collector in targets:
            collector.events.append(event)
        if logging:
            _log_event(event)


def bind(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` to run in another thread with the caller's context variables (its ``trace()``
    collectors, structlog's bound context...): ``pool.submit(cuepy.trace.bind(fn), ...)``.

    Each call runs in a copy of the context captured now, so the result may be
    called from several threads at once.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        return context.copy().run(fn, *args, **kwargs)

    return bound


def enabled() -> bool:
    """Whether anyone listens for stage events (cheap; checked on every call)."""
    return bool(_collectors.get()) or bool(_process_collectors) or structlog.is_configured()


def _targets() -> list[Trace]:
    own = _collectors.get()
    if _isolated.get() or not _process_collectors:
        return list(own)
    return [*own, *(c for c in _process_collectors if not any(c is o for o in own))]


def run(stage: str, fn: Callable[[], T], **fields: Any) -> T:
    """Run ``fn`` as a stage, reporting it when someone listens."""
    logging = structlog.is_configured() and not _isolated.get()
    if not logging and not _collectors.get() and not _process_collectors:
        return fn()
    if logging:
        _log.debug(f"cuepy.{stage}.started", **fields)
    global _active, _started
    frame = _Frame(stage)
    stack = _stack.get()
    token = _stack.set((*stack, frame))
    mine = getattr(_local, "active", 0)
    local_started = getattr(_local, "started", 0) + 1
    _local.started = local_started
    _local.active = mine + 1
    with _overlap_lock:
        alone = _active == mine  # no other thread's stage is running
        _active += 1
        _started += 1
        started = _started
    before = (memstats(), eval_stats())
    start = time.perf_counter_ns()
    ok, extra = True, fields
    try:
        return fn()
    except BaseException as exc:
        ok, extra = False, dict(fields, **failure_fields(exc))
        raise
    finally:
        duration = time.perf_counter_ns() - start
        _local.active -= 1
        with _overlap_lock:
            _active -= 1
            # other threads started stages meanwhile if more started than this thread's own
            alone = alone and (_started - started) == (_local.started - local_started)
        _stack.reset(token)
        parent = stack[-1] if stack else None
        if parent is not None and parent.thread == frame.thread:
            parent.child_ns += duration
        _finish(stage, ok, duration, before, extra, logging, len(stack), parent.stage if parent else None,
                duration - frame.child_ns, alone)  # fmt: skip


def failure_fields(exc: BaseException) -> dict[str, str]:
    """The error of a failed stage: its headline and, for a CUE error, where it is (file:line:col)."""
    text = str(exc)
    out = {"error": text.splitlines()[0] if text else ""}
    positions = getattr(exc, "positions", ())
    if positions:
        out["position"] = str(positions[0])
    return out


def _finish(
    stage: str,
    ok: bool,
    duration: int,
    before: tuple[MemStats, EvalStats],
    fields: dict[str, Any],
    logging: bool,
    depth: int,
    parent: str | None,
    self_ns: int,
    alone: bool,
) -> None:
    mem, evals = memstats(), eval_stats()
    event = StageEvent(
        stage=stage,
        ok=ok,
        duration_ns=duration,
        alloc_bytes=mem.alloc_bytes - before[0].alloc_bytes,
        alloc_objects=mem.alloc_objects - before[0].alloc_objects,
        unifications=evals.unifications - before[1].unifications,
        disjuncts=evals.disjuncts - before[1].disjuncts,
        conjuncts=evals.conjuncts - before[1].conjuncts,
        fields=fields,
        depth=depth,
        parent=parent,
        self_ns=self_ns,
        alone=alone,
    )
    for collector in _targets():
        collector.events.append(event)
    if not logging:
        return  # only a trace() collector listens: don't print through structlog's defaults
    _log_event(event)


def _log_event(event: StageEvent) -> None:
    fields = event.fields
    log = _log.debug if event.ok else _log.warning
    log(
        f"cuepy.{event.stage}.{'complete' if event.ok else 'failed'}",
        duration_ns=event.duration_ns,
        alloc_bytes=event.alloc_bytes,
        alloc_objects=event.alloc_objects,
        unifications=event.unifications,
        disjuncts=event.disjuncts,
        conjuncts=event.conjuncts,
        depth=event.depth,
        **fields,
    )
