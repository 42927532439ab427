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
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from cuepy._native import native

_log = structlog.get_logger("cuepy")
_collectors: contextvars.ContextVar[tuple[Trace, ...]] = contextvars.ContextVar("cuepy_collectors", default=())

T = TypeVar("T")


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
    """What the stage was about (path, filename, format, ...) and, on failure, the error."""


@dataclass
class Trace:
    """Collects the stage events of the code run inside ``with cuepy.trace()``."""

    events: list[StageEvent] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per stage: (number of events, total duration in ns)."""
        out: dict[str, tuple[int, int]] = {}
        for e in self.events:
            count, total = out.get(e.stage, (0, 0))
            out[e.stage] = (count + 1, total + e.duration_ns)
        return out


@contextmanager
def trace() -> Iterator[Trace]:
    """Collect the stage events of everything run in this block (this thread or task)."""
    collector = Trace()
    token = _collectors.set((*_collectors.get(), collector))
    try:
        yield collector
    finally:
        _collectors.reset(token)


def enabled() -> bool:
    """Whether anyone listens for stage events (cheap; checked on every call)."""
    return bool(_collectors.get()) or structlog.is_configured()


def run(stage: str, fn: Callable[[], T], **fields: Any) -> T:
    """Run ``fn`` as a stage, reporting it when someone listens."""
    logging = structlog.is_configured()
    if not logging and not _collectors.get():
        return fn()
    if logging:
        _log.debug(f"cuepy.{stage}.started", **fields)
    before = (memstats(), eval_stats())
    start = time.perf_counter_ns()
    try:
        result = fn()
    except BaseException as exc:
        _finish(stage, False, start, before, dict(fields, **failure_fields(exc)), logging)
        raise
    _finish(stage, True, start, before, fields, logging)
    return result


def failure_fields(exc: BaseException) -> dict[str, str]:
    """The error of a failed stage: its headline and, for a CUE error, where it is (file:line:col)."""
    text = str(exc)
    out = {"error": text.splitlines()[0] if text else ""}
    positions = getattr(exc, "positions", ())
    if positions:
        out["position"] = str(positions[0])
    return out


def _finish(
    stage: str, ok: bool, start: int, before: tuple[MemStats, EvalStats], fields: dict[str, Any], logging: bool
) -> None:
    duration = time.perf_counter_ns() - start
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
    )
    for collector in _collectors.get():
        collector.events.append(event)
    if not logging:
        return  # only a trace() collector listens: don't print through structlog's defaults
    log = _log.debug if ok else _log.warning
    log(
        f"cuepy.{stage}.{'complete' if ok else 'failed'}",
        duration_ns=event.duration_ns,
        alloc_bytes=event.alloc_bytes,
        alloc_objects=event.alloc_objects,
        unifications=event.unifications,
        disjuncts=event.disjuncts,
        conjuncts=event.conjuncts,
        **fields,
    )
