"""Ratios between paths, scaling between modules, and the goals."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cuepy.bench._models import PATHS, Goal, PathName, Ratio, Row, Scaling
from cuepy.bench._report import OUTSIDE, StageReport

RATIO_KEYS: tuple[tuple[PathName, PathName], ...] = (
    ("definition", "compiled"),  # the seed's overhead of blueprints
    ("flattened", "compiled"),
    ("cached", "compiled"),
    ("definition", "flattened"),
    ("definition", "cached"),
    ("cached", "flattened"),
    ("definition", "go_native"),
    ("cue_cli", "definition"),
    ("cue_cli", "go_native"),
)
RELEASE_KEY = "release/render_hit"
"""Speedup of a render-cache hit over the same release computed through CUE."""

GO_LIMIT = 1.10
CACHED_LIMIT = 1.05
RENDER_LIMIT = 200.0
FLAT_LIMIT = 1.3
FLAT_FROM = 24
CACHED_PATHS: tuple[PathName, ...] = ("cached", "render_hit")


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or a < 0:
        return None
    return a / b


def _by_module(rows: Sequence[Row]) -> dict[str, dict[str, Row]]:
    out: dict[str, dict[str, Row]] = {}
    for r in rows:
        out.setdefault(r.module, {})[r.path] = r
    return out


def ratios(rows: Sequence[Row]) -> dict[str, dict[str, Ratio]]:
    """Per module, ``"a/b"``: path a's time, Go bytes and allocations over path b's."""
    out: dict[str, dict[str, Ratio]] = {}
    for module, paths in _by_module(rows).items():
        found: dict[str, Ratio] = {}
        for a, b in RATIO_KEYS:
            if a in paths and b in paths:
                ra, rb = paths[a], paths[b]
                found[f"{a}/{b}"] = Ratio(time=_div(ra.ns_per_op, rb.ns_per_op),
                                          bytes=_div(ra.bytes_per_op, rb.bytes_per_op),
                                          allocs=_div(ra.allocs_per_op, rb.allocs_per_op),
                                          cpu=_div(ra.cpu_ns_per_op, rb.cpu_ns_per_op))  # fmt: skip
        hit = paths.get("render_hit")
        if hit is not None and hit.baseline_ns_per_op is not None:
            found[RELEASE_KEY] = Ratio(time=_div(hit.baseline_ns_per_op, hit.ns_per_op),
                                       cpu=_div(hit.baseline_cpu_ns_per_op, hit.cpu_ns_per_op))
        out[module] = found
    return out


def _groups(rows: Sequence[Row]) -> list[list[tuple[str, int]]]:
    """Modules by family (examples, generated), smallest first."""
    seen: dict[str, int] = {}
    for r in rows:
        seen.setdefault(r.module, r.components)
    examples = sorted(((m, n) for m, n in seen.items() if not m.startswith("generated-")), key=lambda x: x[1])
    generated = sorted(((m, n) for m, n in seen.items() if m.startswith("generated-")), key=lambda x: x[1])
    return [g for g in (examples, generated) if len(g) > 1]


def scaling(rows: Sequence[Row]) -> tuple[Scaling, ...]:
    """Per path, growth between consecutive modules of a family and from its smallest to its largest."""
    by_module = _by_module(rows)
    out: list[Scaling] = []
    for group in _groups(rows):
        pairs = list(itertools.pairwise(group))
        if len(group) > 2:
            pairs.append((group[0], group[-1]))
        for path in PATHS:
            for (m1, n1), (m2, n2) in pairs:
                r1, r2 = by_module[m1].get(path), by_module[m2].get(path)
                if r1 is None or r2 is None:
                    continue
                out.append(Scaling(path=path, from_module=m1, to_module=m2, from_components=n1, to_components=n2,
                                   time=r2.ns_per_op / r1.ns_per_op, bytes=_div(r2.bytes_per_op, r1.bytes_per_op),
                                   allocs=_div(r2.allocs_per_op, r1.allocs_per_op)))  # fmt: skip
    return tuple(out)


# Goals --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """A goal's ratio on one module (or pair of sizes)."""

    value: float
    where: str
    cpu: float | None
    low: float
    """the ratio from the rounds' quartiles, at its least..."""
    high: float
    """...and at its most"""


def _case(a: Row, b: Row, where: str, scale: float = 1.0) -> _Case:
    """a / b (times ``scale``), with its CPU-time value and its spread from the quartiles of the rounds."""
    return _Case(a.ns_per_op / b.ns_per_op * scale, where, _mul(_div(a.cpu_ns_per_op, b.cpu_ns_per_op), scale),
                 a.ns_q1 / b.ns_q3 * scale, a.ns_q3 / b.ns_q1 * scale)  # fmt: skip


def _mul(x: float | None, k: float) -> float | None:
    return None if x is None else x * k


def _ok(x: float, limit: float, comparison: Literal["<=", ">="]) -> bool:
    return x <= limit if comparison == "<=" else x >= limit


def _goal(name: str, target: str, comparison: Literal["<=", ">="], limit: float, worst: _Case | None,
          held_back_by: str = "", why_not: str = "") -> Goal:  # fmt: skip
    if worst is None:
        return Goal(name=name, target=target, comparison=comparison, limit=limit, measured=None,
                    margin=f"not measured: {why_not}")  # fmt: skip
    x = worst.value
    met = _ok(x, limit, comparison)
    if comparison == "<=":
        margin = f"met ({100 * (1 - x / limit):.0f}% to spare)" if met else f"missed by {100 * (x / limit - 1):.0f}%"
    else:
        margin = f"met ({x / limit:.1f}x the target)" if met else f"missed by {100 * (1 - x / limit):.0f}%"
    conclusive = not (worst.low <= limit <= worst.high)
    if not conclusive:
        margin += (f"; inconclusive: the limit lies within the spread of the rounds "
                   f"({worst.low:.3g}x-{worst.high:.3g}x)")  # fmt: skip
    met_cpu = None if worst.cpu is None else _ok(worst.cpu, limit, comparison)
    if met_cpu is not None and met_cpu != met:
        margin += f"; {'met' if met_cpu else 'missed'} on CPU time ({worst.cpu:.3g}x)"
    return Goal(name=name, target=target, comparison=comparison, limit=limit, measured=x, where=worst.where,
                measured_cpu=worst.cpu, spread=(worst.low, worst.high), met=met, met_cpu=met_cpu,
                conclusive=conclusive, margin=margin, held_back_by="" if met else held_back_by)  # fmt: skip


def _t(ns: float) -> str:
    from cuepy.bench._output import fmt_time

    return fmt_time(ns)


_OUTSIDE_WHAT = {
    "render_hit": "Python: the cache key, then the stored release JSON validated into a ModuleRelease",
    "render": "Python: the cache key, then the stored objects and matches read back into a Render",
    "cached": "Python: the cache key (the sources' stat signatures checked), the kept Module's lookup",
}


def _name(stage: str, path: str) -> str:
    if stage != OUTSIDE:
        return f"stage {stage!r}"
    return f"{OUTSIDE} ({_OUTSIDE_WHAT.get(path, 'Python between the calls into Go')})"


def _split(stages: StageReport | None) -> dict[str, float]:
    return stages.self_ns_per_op() if stages is not None else {}


def _traced_wall(row: Row) -> float:
    st = row.stages
    return st.wall_ns / st.ops if st is not None and st.wall_ns else row.ns_per_op


def _excess(a: Row, b: Row) -> str:
    """The stage where row a spends the most time beyond row b (exclusive times per traced operation)."""
    sa, sb = _split(a.stages), _split(b.stages)
    if not sa or not sb:
        return f"no stage split for {a.path if not sa else b.path}"
    deltas = {k: sa.get(k, 0.0) - sb.get(k, 0.0) for k in set(sa) | set(sb)}
    stage = max(deltas, key=lambda k: deltas[k])
    gap, traced_gap = a.ns_per_op - b.ns_per_op, _traced_wall(a) - _traced_wall(b)
    text = (f"{_name(stage, a.path)}: {a.path} {_t(sa.get(stage, 0.0))}/op vs {b.path} "
            f"{_t(sb.get(stage, 0.0))}/op in the traced operations")  # fmt: skip
    if a.bytes_per_op and b.bytes_per_op:
        text += (f" (Go allocations {a.bytes_per_op / 1e6:.1f} vs {b.bytes_per_op / 1e6:.1f} MB/op: "
                 f"{'about the same work' if abs(a.bytes_per_op / b.bytes_per_op - 1) < 0.1 else 'different work'})")
    if deltas[stage] < 0.25 * gap:
        text = (f"no stage: the traced operations differ by {_t(traced_gap)} ({a.path} - {b.path}), the medians by "
                f"{_t(gap)}; the largest stage difference is {text}, so the gap is in the rounds' variation "
                f"({a.path} {_t(a.ns_q1)}-{_t(a.ns_q3)}, {b.path} {_t(b.ns_q1)}-{_t(b.ns_q3)})")  # fmt: skip
    return text


def _top(row: Row) -> str:
    top = row.stages.top() if row.stages is not None else None
    if top is None:
        return f"no stage split for {row.path}"
    stage, ns = top
    wall = _traced_wall(row)
    return f"{_name(stage, row.path)}: {_t(ns)} of a traced {row.path} operation of {_t(wall)} ({100 * ns / wall:.0f}%)"


def goals(rows: Sequence[Row]) -> tuple[Goal, ...]:
    """The four goals, each over every module measured (its worst case)."""
    by_module = _by_module(rows)
    out: list[Goal] = []

    # 1. cuepy load + extract within 10% of the Go program doing the same on the same files.
    cases = [_case(p["definition"], p["go_native"], m) for m, p in by_module.items()
             if "definition" in p and "go_native" in p]  # fmt: skip
    worst = max(cases, key=lambda c: c.value) if cases else None
    held = ""
    if worst is not None:
        d, g = by_module[worst.where]["definition"], by_module[worst.where]["go_native"]
        held = _top(d)
        if d.bytes_per_op is not None and g.bytes_per_op:
            held += (f"; Go allocations {d.bytes_per_op / 1e6:.1f} MB/op in cuepy vs {g.bytes_per_op / 1e6:.1f} "
                     f"MB/op in the Go program")  # fmt: skip
    out.append(_goal("cuepy load + extract vs the Go program", "definition / go_native <= 1.10 on every module",
                     "<=", GO_LIMIT, worst, held, "needs definition and go_native"))  # fmt: skip

    # 2. A ModuleDefinition through the warm compiled cache costs what its compiled Module costs.
    cases, refs = [], {}
    for m, p in by_module.items():
        ref = p.get("compiled") or p.get("flattened")
        if "cached" in p and ref is not None:
            cases.append(_case(p["cached"], ref, m))
            refs[m] = ref
    worst = max(cases, key=lambda c: c.value) if cases else None
    held = _excess(by_module[worst.where]["cached"], refs[worst.where]) if worst is not None else ""
    out.append(_goal("definition through the warm cache vs compiled",
                     "cached / compiled <= 1.05 at every size (compiled: the hand-written module_compiled.cue "
                     "where there is one, else the flattener's Module)",
                     "<=", CACHED_LIMIT, worst, held, "needs cached and compiled or flattened"))  # fmt: skip

    # 3. A render-cache hit at least 200x faster than the release through CUE.
    cases = []
    for m, p in by_module.items():
        hit = p.get("render_hit")
        if hit is not None and hit.baseline_ns_per_op:
            base = hit.baseline_ns_per_op
            cases.append(_Case(base / hit.ns_per_op, m, _div(hit.baseline_cpu_ns_per_op, hit.cpu_ns_per_op),
                               base / hit.ns_q3, base / hit.ns_q1))  # fmt: skip
    worst = min(cases, key=lambda c: c.value) if cases else None
    held = _top(by_module[worst.where]["render_hit"]) if worst is not None else ""
    out.append(_goal("render hit vs release through CUE", "release / render_hit >= 200 on every module",
                     ">=", RENDER_LIMIT, worst, held, "needs render_hit and its release baseline"))  # fmt: skip

    # 4. Time per component flat from 24 to 384 components on the cached paths.
    for path in CACHED_PATHS:
        series = sorted((r for r in rows if r.path == path and r.module.startswith("generated-")
                         and r.components >= FLAT_FROM), key=lambda r: r.components)  # fmt: skip
        growth: _Case | None = None
        pair: tuple[Row, Row] | None = None
        for i, small in enumerate(series):
            for large in series[i + 1 :]:
                case = _case(large, small, f"{small.components} -> {large.components} components",
                             small.components / large.components)  # fmt: skip
                if growth is None or case.value > growth.value:
                    growth, pair = case, (small, large)
        held = _per_component_growth(*pair) if pair is not None else ""
        out.append(_goal(f"time per component flat ({path})",
                         f"{path}: time per component grows at most 1.3x from any size to a larger one, "
                         f"{FLAT_FROM}..384 components",
                         "<=", FLAT_LIMIT, growth, held, f"needs {path} on two generated sizes"))  # fmt: skip
    return tuple(out)


def _per_component_growth(small: Row, large: Row) -> str:
    """The stage whose time per component grew the most from ``small`` to ``large``."""
    s, g = _split(small.stages), _split(large.stages)
    if not s or not g:
        return f"no stage split for {large.path}"
    per = {k: g.get(k, 0.0) / large.components - s.get(k, 0.0) / small.components for k in set(s) | set(g)}
    stage = max(per, key=lambda k: per[k])
    a, b = s.get(stage, 0.0) / small.components, g.get(stage, 0.0) / large.components
    text = (f"{_name(stage, large.path)}: {_t(a)} per component at {small.components}, {_t(b)} at "
            f"{large.components} in the traced operations")  # fmt: skip
    growth = large.ns_per_component - small.ns_per_component
    if per[stage] < 0.25 * growth:
        traced = _traced_wall(large) / large.components, _traced_wall(small) / small.components
        text = (f"no stage: per component, the traced operations took {_t(traced[1])} at {small.components} and "
                f"{_t(traced[0])} at {large.components}; the medians {_t(small.ns_per_component)} and "
                f"{_t(large.ns_per_component)}, so the growth is in the rounds' variation (largest stage growth: "
                f"{text})")  # fmt: skip
    return text
