"""The results as text tables, markdown, and a log-log plot."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

from cuepy.bench._models import PATHS, BenchResults, Goal, Row, Scaling
from cuepy.bench._report import OUTSIDE

StrPath = str | os.PathLike[str]

PATH_LABELS = {
    "definition": "ModuleDefinition loaded directly",
    "compiled": "hand-written module_compiled.cue",
    "flattened": "cuepy.flatten output",
    "cached": "ModuleDefinition through the warm compiled cache",
    "render_hit": "release from the render cache",
    "render": "Kubernetes objects from the render cache",
    "go_native": "the Go program (cuepy-native)",
    "cue_cli": "cue eval, whole process",
}


WIDTH = 100
"""Columns of the text report: every line fits."""

DOCS = "docs/benchmarks.md (in cuepy's source tree)"

PATH_LEGEND = {
    "definition": "cuepy loads module_definition.cue (blueprints and all) and exports it as JSON",
    "compiled": "the same on module_compiled.cue, the Module written out by hand (examples only)",
    "flattened": "the same on the Module cuepy.flatten writes from the ModuleDefinition",
    "cached": "the ModuleDefinition through cuepy's warm compiled-module cache, exported",
    "render_hit": "a release (module + values) served from cuepy's render cache",
    "render": "the Kubernetes objects of the module + values (cuepy.opm.render) from the render cache",
    "go_native": "definition's work in a plain Go program on the same CUE version, no Python",
    "cue_cli": "one `cue eval module_definition.cue` process, from start to exit",
}
"""One line per path for the text report's legend (PATH_LABELS: the plot's shorter labels)."""


def fmt_time(ns: float | None) -> str:
    if ns is None:
        return "-"
    if ns < 0:
        return "-" + fmt_time(-ns)
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.0f} ns"


def fmt_bytes(b: float | None) -> str:
    if b is None:
        return "-"
    if b >= 1e6:
        return f"{b / 1e6:.3g} MB"
    if b >= 1e3:
        return f"{b / 1e3:.3g} kB"
    return f"{b:.0f} B"


def fmt_count(n: float | None) -> str:
    if n is None:
        return "-"
    if n >= 1e6:
        return f"{n / 1e6:.3g}M"
    if n >= 1e3:
        return f"{n / 1e3:.3g}k"
    return f"{n:.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}x" if x >= 100 else f"{x:.3g}x"


def top_stages(row: Row, k: int = 2) -> str:
    """The k stages with the most exclusive time per operation, as shares of it."""
    if row.stages is None:
        return ""
    split = row.stages.self_ns_per_op()
    wall = (row.stages.wall_ns or 0) / row.stages.ops or row.ns_per_op
    best = sorted(split.items(), key=lambda kv: -kv[1])[:k]
    names = {OUTSIDE: "python"}
    return ", ".join(f"{names.get(s, s)} {100 * ns / wall:.0f}%" for s, ns in best if wall > 0)


def _spread(r: Row) -> tuple[str, str]:
    return f"{fmt_time(r.ns_q1)}-{fmt_time(r.ns_q3)}", f"{fmt_time(r.ns_min)}-{fmt_time(r.ns_max)}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        cells = [c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(cells, widths, right, strict=True)]
        return "  ".join(cells).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _md(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    align = ["---:" if r else "---" for r in right]
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |",
            *("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows)]  # fmt: skip


def _results_rows(results: BenchResults) -> tuple[list[str], list[list[str]], list[bool]]:
    head = ["module", "n", "path", "time/op", "IQR", "min-max", "roundsxops", "CPU/op", "Go mem/op", "Go allocs/op",
            "per component", "where the time goes (self)"]  # fmt: skip
    right = [False, True, False, True, True, True, True, True, True, True, True, False]
    rows = []
    for r in results.results:
        iqr, span = _spread(r)
        rows.append([r.module, str(r.components), r.path, fmt_time(r.ns_per_op), iqr, span,
                     f"{r.rounds}x{r.ops_per_round}", fmt_time(r.cpu_ns_per_op), fmt_bytes(r.bytes_per_op),
                     fmt_count(r.allocs_per_op),
                     fmt_time(r.ns_per_component), top_stages(r)])  # fmt: skip
    return head, rows, right


def _baseline_rows(results: BenchResults) -> list[list[str]]:
    return [[r.module, str(r.components), fmt_time(r.baseline_ns_per_op), fmt_time(r.ns_per_op),
             fmt_ratio(r.baseline_ns_per_op / r.ns_per_op if r.baseline_ns_per_op else None),
             fmt_ratio(r.baseline_cpu_ns_per_op / r.cpu_ns_per_op
                       if r.baseline_cpu_ns_per_op and r.cpu_ns_per_op else None)]
            for r in results.results if r.path == "render_hit"]  # fmt: skip


def fmt_times(x: float | None, more: str = "slower", less: str = "faster") -> str:
    """A ratio a/b in words, always >= 1: ``2.5x slower`` (a/b = 2.5) or ``4x faster`` (a/b = 0.25)."""
    if x is None or x <= 0:
        return "-"
    if 0.995 <= x <= 1.005:
        return "same"
    return f"{fmt_ratio(x)} {more}" if x > 1 else f"{fmt_ratio(1 / x)} {less}"


def _ratio_rows(results: BenchResults) -> list[list[str]]:
    out = []
    for module, found in results.ratios.items():
        for key, ratio in found.items():
            a, _, b = key.partition("/")
            if key == "release/render_hit":  # stored as a speed-up: said of render_hit, as every other row
                a, b = b, a
                ratio = ratio.model_copy(update={k: None if v is None else 1 / v
                                                 for k, v in ratio.model_dump().items()})  # fmt: skip
            out.append([module, f"{a} vs {b}", fmt_times(ratio.time), fmt_times(ratio.cpu),
                        fmt_times(ratio.bytes, "more", "less"), fmt_times(ratio.allocs, "more", "fewer")])  # fmt: skip
    return out


def _scaling_table(items: Sequence[Scaling], measure: str) -> tuple[list[str], list[list[str]], list[bool]]:
    pairs: list[tuple[int, int]] = []
    for s in items:
        if (s.from_components, s.to_components) not in pairs:
            pairs.append((s.from_components, s.to_components))
    head = ["path", *(f"{a}->{b}" for a, b in pairs)]
    rows = []
    for path in PATHS:
        mine = {(s.from_components, s.to_components): s for s in items if s.path == path}
        if not mine:
            continue
        cells = []
        for pair in pairs:
            found = mine.get(pair)
            value = None if found is None else getattr(found, measure)
            cells.append(fmt_ratio(value))
        rows.append([path, *cells])
    return head, rows, [False, *(True for _ in pairs)]


def _goal_line(g: Goal) -> str:
    """One line per goal (markdown): status, target, measured, margin."""
    status = "met" if g.met else ("MISSED" if g.met is False else "n/a")
    measured = "" if g.measured is None else f"{g.measured:.3g}x" + (f" ({g.where})" if g.where else "")
    if g.measured_cpu is not None:
        measured += f", on CPU time {g.measured_cpu:.3g}x"
    line = f"[{status}] {g.name}: {g.target}. Worst: {measured or '-'}; {g.margin}."
    if g.held_back_by:
        line += f" Held back by {g.held_back_by}."
    return line


_TARGET = re.compile(r"^(\w+) / (\w+) ([<>]=) ")


def _said(g: Goal, x: float) -> str:
    """A goal's ratio in words: ``definition is 1.6x slower than go_native``, else ``1.2x``."""
    match = _TARGET.match(g.target)
    if match is None:
        return f"{x:.3g}x"
    a, b, _ = match.groups()
    if g.comparison == ">=":  # a speed-up: b is x times faster than a
        return f"{b} is {fmt_times(1 / x)} than {a}" if x > 0 else "-"
    return f"{a} is {fmt_times(x)} than {b}"


def _goal_status(g: Goal) -> tuple[str, str]:
    """(status, why) of a goal: met, MISSED, unclear (median and spread or CPU time disagree), not judged."""
    if g.met is None or g.measured is None:
        return "not judged", ""
    cpu_disagrees = g.met_cpu is not None and g.met_cpu != g.met
    if g.conclusive is not False and not cpu_disagrees:
        return ("met" if g.met else "MISSED"), ""
    reasons = []
    if g.conclusive is False and g.spread is not None:
        reasons.append(f"the rounds spread from {g.spread[0]:.3g}x to {g.spread[1]:.3g}x, across the limit")
    if cpu_disagrees and g.measured_cpu is not None:
        reasons.append(f"on CPU time it is {'met' if g.met_cpu else 'missed'} ({g.measured_cpu:.3g}x)")
    return "unclear", (f"The medians say {'met' if g.met else 'missed'}, but {'; and '.join(reasons)}: rerun on an "
                       "idle machine, or with more rounds.")  # fmt: skip


def _goal_lines(g: Goal, quick: bool) -> list[str]:
    status, why = _goal_status(g)
    words = [f"[{status}] {g.name}.", f"Target: {g.target}."]
    if status == "not judged":
        needs = g.margin.removeprefix("not measured: ")
        words.append(f"Not measured here: {needs}" + (" (generated modules: run `cuepy bench` without --quick)."
                                                       if quick and "generated" in needs else "."))  # fmt: skip
    else:
        assert g.measured is not None
        if _TARGET.match(g.target) is None:
            limit = f"{'at most' if g.comparison == '<=' else 'at least'} {g.limit:.3g}x"
        else:
            limit = f"at most {fmt_times(g.limit)}" if g.comparison == "<=" else f"at least {fmt_times(1 / g.limit)}"
        words.append(f"Measured: {_said(g, g.measured)}" + (f" (worst case: {g.where})" if g.where else "")
                     + f"; the goal: {limit}.")  # fmt: skip
        if g.met and status == "met":
            spare = 1 - g.measured / g.limit if g.comparison == "<=" else g.measured / g.limit - 1
            words.append(f"{100 * spare:.0f}% to spare.")
        elif status == "MISSED":
            short = g.measured / g.limit - 1 if g.comparison == "<=" else 1 - g.measured / g.limit
            words.append(f"Missed by {100 * short:.0f}%.")
        if why:
            words.append(why)
        if g.held_back_by and status != "met":
            words.append(f"Held back by {g.held_back_by}.")
    return _wrap(" ".join(words), indent="    ")


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]


def _header(results: BenchResults) -> list[str]:
    m = results.machine
    load = " ".join(f"{x:.2f}" for x in m.load_average) if m.load_average else "?"
    return [
        f"cuepy {m.cuepy_version}, CUE {m.cue_version}, {m.go_version}, Python {m.python}",
        f"machine: {m.cpus} CPUs ({m.cpu_model}), {m.memory_bytes / 2**30:.1f} GiB, {m.platform}; "
        f"load average at the end {load}",
        f"command: {results.command}  ({results.seconds:.0f} s, started {results.started})",
    ]


def busy(results: BenchResults) -> str:
    """A warning when the load average was above the CPU count (wall times unreliable), else ''."""
    m = results.machine
    if not m.load_average or not m.cpus or max(m.load_average[:2]) <= m.cpus:
        return ""
    return (f"WARNING: the machine was busy: load average {m.load_average[0]:.2f} (1 min), {m.load_average[1]:.2f} "
            f"(5 min) on {m.cpus} CPUs. Other work competed for the CPUs, so wall times (time/op and the goals "
            "on them) are unreliable; the CPU columns are steadier. Rerun on an idle machine to judge goals.")


def _time_rows(results: BenchResults) -> tuple[list[str], list[list[str]], list[bool]]:
    head = ["module", "n", "path", "time/op", "IQR", "min-max", "CPU/op", "/component"]
    rows = [[r.module, str(r.components), r.path, fmt_time(r.ns_per_op), *_spread(r), fmt_time(r.cpu_ns_per_op),
             fmt_time(r.ns_per_component)] for r in results.results]  # fmt: skip
    return head, rows, [False, True, False, True, True, True, True, True]


def _work_rows(results: BenchResults) -> tuple[list[str], list[list[str]], list[bool]]:
    head = ["module", "path", "rounds x ops", "Go mem/op", "allocs/op", "where the time goes (self)"]
    rows = [[r.module, r.path, f"{r.rounds} x {r.ops_per_round}", fmt_bytes(r.bytes_per_op),
             fmt_count(r.allocs_per_op), top_stages(r)] for r in results.results]  # fmt: skip
    room = WIDTH - 2 * 5 - sum(max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:5]))
    room = max(room, len(head[5]))
    for row in rows:  # the last column takes what is left of the width
        if len(row[5]) > room:
            row[5] = row[5][: room - 3] + "..."
    return head, rows, [False, False, True, True, True, False]


def text(results: BenchResults) -> str:
    """The full report as fixed-width text (what ``cuepy bench`` prints), every line within 100 columns."""
    out: list[str] = []
    for line in _header(results):
        out += _wrap(line)
    if warning := busy(results):
        out += ["", *_wrap(warning)]
    paths = [p for p in PATHS if any(r.path == p for r in results.results)]
    out += ["", "Paths (one operation each; exactly what each does: docs/benchmarks.md):"]
    out += [f"  {p:<10}  {PATH_LEGEND[p]}" for p in paths]
    out += [""]
    out += _wrap("Columns: n = components in the module; time/op = median over the rounds (a round repeats "
                 "the operation and gives its mean); IQR, min-max = spread of the rounds; CPU/op = CPU time "
                 "(all threads), steadier than wall time on a busy machine; /component = time/op / n.")  # fmt: skip
    out += ["", "Time per operation", ""]
    out += _table(*_time_rows(results))
    out += ["", *_wrap("Work per operation: Go heap allocations; where the time goes = exclusive time of the "
                       "top stages (python: outside any stage)."), ""]  # fmt: skip
    out += _table(*_work_rows(results))
    base = _baseline_rows(results)
    if base:
        out += ["", "Render cache: a hit against the same release computed through CUE (cuepy.opm.release)", ""]
        rows = [[r.module, str(r.components), fmt_time(r.baseline_ns_per_op), fmt_time(r.ns_per_op),
                 fmt_times(r.ns_per_op / r.baseline_ns_per_op if r.baseline_ns_per_op else None),
                 fmt_times(r.cpu_ns_per_op / r.baseline_cpu_ns_per_op
                           if r.cpu_ns_per_op and r.baseline_cpu_ns_per_op else None)]
                for r in results.results if r.path == "render_hit"]  # fmt: skip
        out += _table(["module", "n", "release", "render_hit", "render_hit is", "on CPU time"], rows,
                      [False, True, True, True, True, True])  # fmt: skip
    if results.ratios:
        out += ["", *_wrap("Ratios: \"a vs b: 2.5x slower\" means path a takes 2.5 times path b's time "
                           "(\"4x faster\": a quarter); memory and allocs: Go heap bytes and objects."), ""]
        out += _table(["module", "a vs b", "time", "CPU time", "memory", "allocs"], _ratio_rows(results),
                      [False, False, True, True, True, True])  # fmt: skip
    if results.scaling:
        for measure, title in (("time", "time"), ("bytes", "Go memory")):
            out += ["", f"Growth of {title} per operation from a smaller module to a larger one (2x: doubles)", ""]
            out += _table(*_scaling_table(results.scaling, measure))
    if results.goals:
        judged = [g for g in results.goals if g.measured is not None]
        out += ["", f"Goals ({len(judged)} of {len(results.goals)} judged by this run)", ""]
        if results.config.quick and len(judged) < len(results.goals):
            out += _wrap("--quick runs the three examples only, so it cannot judge the goals on generated "
                         "modules (24 to 384 components); `cuepy bench` (several minutes) judges all of them.")
            out += [""]
        for g in results.goals:
            out += _goal_lines(g, results.config.quick)
    if results.notes:
        out += ["", "Notes", ""]
        for n in results.notes:
            out += _wrap(f"- {n}")
    out += ["", *_wrap(f"More: {DOCS}; `cuepy bench --json` for every figure, --plot FILE for a chart.")]
    return "\n".join(out) + "\n"


def markdown(results: BenchResults) -> str:
    """The report as markdown tables."""
    out = [f"- {line}" for line in _header(results)]
    out += ["", "### Per operation", "",
            "Median of rounds; IQR and min-max of the rounds; Go heap allocations per operation; exclusive time of "
            "the top stages (python: outside any stage).", ""]  # fmt: skip
    out += _md(*_results_rows(results))
    base = _baseline_rows(results)
    if base:
        out += ["", "### Render cache hit against the release through CUE", ""]
        out += _md(["module", "n", "release", "render_hit", "speedup", "CPU speedup"], base,
                      [False, True, True, True, True, True])
    if results.ratios:
        out += ["", "### Ratios", "", "a/b: wall time, CPU time, Go bytes and Go allocations of path a over path b.",
                ""]
        out += _md(["module", "ratio", "time", "CPU", "memory", "allocs"], _ratio_rows(results),
                   [False, False, True, True, True, True])  # fmt: skip
    if results.scaling:
        for measure, title in (("time", "time"), ("bytes", "Go memory")):
            out += ["", f"### Scaling of {title}", "", "Larger module over smaller module, by component count.", ""]
            out += _md(*_scaling_table(results.scaling, measure))
    if results.goals:
        out += ["", "### Goals", ""]
        out += [f"- {_goal_line(g)}" for g in results.goals]
    if results.notes:
        out += ["", "### Notes", ""]
        out += [f"- {n}" for n in results.notes]
    return "\n".join(out) + "\n"


def plot(results: BenchResults, file: StrPath) -> Path:
    """Time per operation against component count, log-log, one line per path, as PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("the plot needs matplotlib: pip install 'cuepy-cue[bench]'") from exc
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=110)
    markers = dict(zip(PATHS, "osD^v*PX", strict=True))
    for path in PATHS:
        rows = sorted((r for r in results.results if r.path == path), key=lambda r: r.components)
        if not rows:
            continue
        xs = [r.components for r in rows]
        ax.plot(xs, [r.ns_per_op / 1e6 for r in rows], marker=markers[path], label=f"{path}: {PATH_LABELS[path]}")
        ax.fill_between(xs, [r.ns_q1 / 1e6 for r in rows], [r.ns_q3 / 1e6 for r in rows], alpha=0.15)
    base = sorted((r for r in results.results if r.path == "render_hit" and r.baseline_ns_per_op),
                  key=lambda r: r.components)  # fmt: skip
    if base:
        ax.plot([r.components for r in base], [(r.baseline_ns_per_op or 0) / 1e6 for r in base], linestyle="--",
                color="grey", marker="x", label="release through CUE (render_hit's baseline)")  # fmt: skip
    anchor = sorted((r for r in results.results if r.path == "cached"), key=lambda r: r.components)
    if len(anchor) > 1:  # a guide: where a path that scales linearly from cached's smallest module would be
        first, last = anchor[0], anchor[-1]
        ax.plot([first.components, last.components],
                [first.ns_per_op / 1e6, first.ns_per_op / 1e6 * last.components / first.components],
                linestyle=":", color="black", linewidth=0.8, label="guide: proportional to components")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("components")
    ax.set_ylabel("time per operation (ms, median; band: IQR)")
    m = results.machine
    ax.set_title(f"cuepy {m.cuepy_version} / CUE {m.cue_version}: time per operation\n"
                 f"{m.cpus} CPUs ({m.cpu_model}), {m.memory_bytes / 2**30:.1f} GiB", fontsize=10)  # fmt: skip
    sizes = sorted({r.components for r in results.results})
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    target = Path(file)
    fig.savefig(target, format="png")
    plt.close(fig)
    return target
