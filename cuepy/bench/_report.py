"""Stage reports: what a ``cuepy.trace()`` collected, summarised per stage."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from cuepy.trace import StageEvent, Trace
from cuepy.trace import trace as cue_trace

OUTSIDE = "(outside stages)"
"""Pseudo-stage of a report with nesting: wall time that no top-level stage covers (Python work)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageStats(_Frozen):
    """One stage of a report: its events added up.

    Durations, allocations and evaluator counters are inclusive: a stage that
    runs inside another (``export`` inside ``extract``, ``load`` inside
    ``flatten``) counts in both. ``self_ns`` is the exclusive time, when the
    report knows the nesting.
    """

    stage: str
    count: int = Field(description="events of this stage")
    failed: int = Field(default=0, description="events that ended with an error")
    total_ns: int = Field(description="sum of the durations")
    median_ns: float = Field(description="median duration of one event")
    min_ns: int
    max_ns: int
    self_ns: int | None = Field(default=None, description="total minus the stages nested in it (None: nesting unknown)")
    top_level: bool | None = Field(default=None, description="runs outside any other stage (None: nesting unknown)")
    alloc_bytes: int = Field(description="Go heap bytes allocated during the events (all threads)")
    alloc_objects: int = Field(description="Go heap objects allocated during the events")
    unifications: int = Field(default=0, description="CUE evaluator counter (work done while building values)")
    disjuncts: int = 0
    conjuncts: int = 0


class StageReport(_Frozen):
    """Per-stage totals of a trace that covered ``ops`` operations.

    Per-operation figures are the totals divided by ``ops``. ``wall_ns``,
    when known, is the wall time of those operations; ``outside_ns`` the part
    of it that no top-level stage covers (Python work between stages).
    """

    ops: int = Field(default=1, ge=1, description="operations the trace covered")
    wall_ns: int | None = Field(default=None, description="wall time of the ops operations, if measured")
    outside_ns: int | None = Field(
        default=None, description="wall time outside every top-level stage, if nesting is known"
    )
    stages: tuple[StageStats, ...] = ()

    def stage(self, name: str) -> StageStats | None:
        """The stats of stage ``name``, or None."""
        return next((s for s in self.stages if s.stage == name), None)

    def self_ns_per_op(self) -> dict[str, float]:
        """Exclusive time per operation of each stage, plus ``(outside stages)``; inclusive if nesting is unknown."""
        out = {s.stage: (s.self_ns if s.self_ns is not None else s.total_ns) / self.ops for s in self.stages}
        if self.outside_ns is not None:
            out[OUTSIDE] = self.outside_ns / self.ops
        return out

    def top(self) -> tuple[str, float] | None:
        """The stage (or ``(outside stages)``) with the largest exclusive time per op, and that time."""
        shares = self.self_ns_per_op()
        if not shares:
            return None
        name = max(shares, key=lambda k: shares[k])
        return name, shares[name]

    def table(self) -> str:
        """The report as a fixed-width text table, per operation when ``ops`` > 1."""
        per = "/op" if self.ops > 1 else ""
        head = (f"{'stage':<18} {'n' + per:>7} {'total ms' + per:>12} {'median ms':>10} {'self ms' + per:>11} "
                f"{'% wall':>7} {'MB' + per:>9} {'allocs' + per:>10} {'unif' + per:>9} {'disj' + per:>9} "
                f"{'conj' + per:>9}")  # fmt: skip
        lines = [head, "-" * len(head)]
        n = self.ops
        for s in self.stages:
            own = s.self_ns if s.self_ns is not None else None
            share = _pct(own if own is not None else s.total_ns, self.wall_ns)
            name = s.stage if s.top_level in (True, None) else f"  {s.stage}"
            lines.append(
                f"{name:<18} {s.count / n:>7.3g} {s.total_ns / n / 1e6:>12.3f} {s.median_ns / 1e6:>10.3f} "
                f"{_ms(own, n):>11} {share:>7} {s.alloc_bytes / n / 1e6:>9.3f} {s.alloc_objects / n:>10.0f} "
                f"{s.unifications / n:>9.0f} {s.disjuncts / n:>9.0f} {s.conjuncts / n:>9.0f}"
            )
        if self.outside_ns is not None:
            lines.append(f"{OUTSIDE:<18} {'':>7} {'':>12} {'':>10} {_ms(self.outside_ns, n):>11} "
                         f"{_pct(self.outside_ns, self.wall_ns):>7}")  # fmt: skip
        if self.wall_ns is not None:
            lines.append(f"{'wall':<18} {'':>7} {self.wall_ns / n / 1e6:>12.3f}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _ms(ns: int | None, ops: int) -> str:
    return "" if ns is None else f"{ns / ops / 1e6:.3f}"


def _pct(part: int | None, whole: int | None) -> str:
    if part is None or not whole:
        return ""
    return f"{100 * part / whole:.1f}%"


trace = cue_trace
"""``cuepy.trace()``: its events say which stage ran inside which (``depth``, ``self_ns``)."""


def report(
    source: Trace | Sequence[StageEvent],
    *,
    ops: int = 1,
    wall_ns: int | None = None,
) -> StageReport:
    """Summarise the stage events of a trace (or a list of events), per stage in order of first appearance.

    - ``ops``: how many operations the events cover (the table then shows per-op figures).
    - ``wall_ns``: wall time of those operations, for shares and the time outside stages.

    Which stages ran inside which (``self_ns``, ``top_level``, ``outside_ns``) comes from the
    events themselves: each records its ``depth`` and its ``self_ns`` as it runs.
    """
    events: Sequence[StageEvent] = source.events if isinstance(source, Trace) else source
    groups: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        groups.setdefault(event.stage, []).append(i)
    stages = []
    for name, indices in groups.items():
        group = [events[i] for i in indices]
        durations = [e.duration_ns for e in group]
        self_ns = sum(e.self_ns for e in group)
        top_level = all(e.depth == 0 for e in group)
        stages.append(StageStats(
            stage=name,
            count=len(group),
            failed=sum(not e.ok for e in group),
            total_ns=sum(durations),
            median_ns=float(statistics.median(durations)),
            min_ns=min(durations),
            max_ns=max(durations),
            self_ns=self_ns,
            top_level=top_level,
            alloc_bytes=sum(e.alloc_bytes for e in group),
            alloc_objects=sum(e.alloc_objects for e in group),
            unifications=sum(e.unifications for e in group),
            disjuncts=sum(e.disjuncts for e in group),
            conjuncts=sum(e.conjuncts for e in group),
        ))  # fmt: skip
    outside: int | None = None
    if wall_ns is not None:
        outside = max(0, wall_ns - sum(e.self_ns for e in events))
    return StageReport(ops=ops, wall_ns=wall_ns, outside_ns=outside, stages=tuple(stages))


