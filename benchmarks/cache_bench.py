"""What the caches buy: compiled-module hits, render hits, cold misses; warm loads against Go.

Measures in one run (interleaved rounds, medians; the machine may be shared,
so the cache-versus-baseline ratios are medians of per-round ratios, each
round running both back to back):

1. a ModuleDefinition loaded through a warm compiled-module cache against the
   hand-written compiled Module loaded directly (goal <= 1.05x; the two run
   alternately, call by call, and each round gives a ratio): in a warm
   process (the loaded Module kept), and as a new process sees it (the
   stored Module's source loaded: the same CUE work), for the
   simple (2 components), moderate (4), large (12) examples and a generated
   module of 96 components (its "hand-written" Module is the flattened one,
   written to a file);
2. a render-cache hit against json.loads of the same bytes (goal <= 2x) and
   against a release through CUE (goal >= 200x faster);
3. a cold miss (flatten + store + load) against a plain ModuleDefinition load;
   and a new process's hit (the call timed inside fresh processes: the stored
   manifest checked, the entry read from disk, loaded) against the flattened
   module loaded from a file in another fresh process (goal <= 1.05x);
4. load + extract of the large compiled Module (module_compiled.cue alone) in a warm process
   against a Go program doing the
   same with cuelang.org/go (go/cmd/cuepy-native, run with libcuepy's GC
   target): started for each load, as a tool shelling out to Go does (the
   goal, <= 0.7x), and, for information, its first load alone, a warm
   loop of loads in one process, and cuepy.opm.load through the module
   cache (which keeps the loaded Module in a warm process).

Run: python benchmarks/cache_bench.py [--rounds N] [--ops N] [--skip-go] [--only compiled,render,cold,process,warm]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cuepy
import cuepy.cache
import cuepy.examples as ex
import cuepy.opm
from cuepy._embedded import CATALOG_DIR, CATALOG_MODULE, CATALOG_VERSION
from cuepy.flatten import flatten

ROOT = Path(__file__).resolve().parent.parent
DEF = "module_definition.cue"
COMPILED = "module_compiled.cue"
NS = "production"


MIN_SAMPLE_NS = 200_000_000  # a sample lasts at least 0.2 s: short ones are mostly noise here


def per_op(fn: Callable[[], object], ops: int, warmup: int = 1) -> tuple[float, float]:
    """Mean wall and CPU time (all threads, Go's included) of one call, over at least
    ``ops`` calls and ``MIN_SAMPLE_NS``."""
    for _ in range(warmup):
        fn()
    done = 0
    start, cpu = time.perf_counter_ns(), time.process_time_ns()
    while True:
        fn()
        done += 1
        elapsed = time.perf_counter_ns() - start
        if done >= ops and elapsed >= MIN_SAMPLE_NS:
            return elapsed / done, (time.process_time_ns() - cpu) / done


def per_op_ns(fn: Callable[[], object], ops: int, warmup: int = 1) -> float:
    """Mean wall time of one call (see ``per_op``)."""
    return per_op(fn, ops, warmup)[0]


def samples(fns: dict[str, Callable[[], float]], n: int) -> dict[str, list[float]]:
    """``n`` interleaved rounds of each measurement."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            out[name].append(fn())
    return out


def rounds(fns: dict[str, Callable[[], float]], n: int) -> dict[str, float]:
    """Median of ``n`` interleaved rounds of each measurement."""
    return {name: statistics.median(values) for name, values in samples(fns, n).items()}


def paired(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios a/b: rounds run back to back share the machine's load."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def fmt(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} µs"


def values_of(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cuepy.load(directory, files=["values.cue"]).lookup("values").export("json"))
    return data


def modules(workdir: Path) -> list[tuple[str, Path]]:
    out = [(name, ex.path(name)) for name in ("simple", "moderate", "large")]
    generated = ex.generate(96, seed=0, directory=workdir / "generated-96")
    flatten(generated, file=DEF).write(generated / COMPILED)  # its hand-written stand-in
    out.append(("generated-96", generated))
    return out


Rows = list[tuple[str, ...]]


def alternated(a: Callable[[], None], b: Callable[[], None], n_rounds: int) -> tuple[list[float], list[float]]:
    """Per round, a and b alternately (a b, then b a, ...) until one has run ``MIN_SAMPLE_NS``:
    the per-round ratios of wall and of CPU time, a over b. Alternating call by call
    exposes both to the same load of a shared machine."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(n_rounds):
        spent = {a: [0, 0], b: [0, 0]}
        turn = 0
        while turn < 2 or max(spent[a][0], spent[b][0]) < MIN_SAMPLE_NS:
            for fn in (a, b) if turn % 2 == 0 else (b, a):
                start, cpu = time.perf_counter_ns(), time.process_time_ns()
                fn()
                spent[fn][0] += time.perf_counter_ns() - start
                spent[fn][1] += time.process_time_ns() - cpu
            turn += 1
        walls.append(spent[a][0] / spent[b][0])
        cpus.append(spent[a][1] / max(1, spent[b][1]))
    return walls, cpus


@dataclass(frozen=True)
class Anatomy:
    """Go heap allocations of one call (medians): a measure of CUE's work that noise does not move."""

    bytes: float
    objects: float


def anatomy(fn: Callable[[], None], n: int) -> Anatomy:
    allocated, objects = [], []
    for _ in range(max(n, 5)):
        before = cuepy.memstats()
        fn()
        after = cuepy.memstats()
        allocated.append(after.alloc_bytes - before.alloc_bytes)
        objects.append(after.alloc_objects - before.alloc_objects)
    return Anatomy(statistics.median(allocated), statistics.median(objects))


def compiled_cache(rows: Rows, name: str, directory: Path, cache: cuepy.cache.Cache, n_rounds: int, ops: int) -> None:
    cuepy.opm.load(directory, file=DEF, cache=cache)  # warm it

    stored = cuepy.cache.Cache(cache.directory, loaded_modules=0)
    cuepy.opm.load(directory, file=DEF, cache=stored)

    def kept() -> None:  # a warm process: the loaded Module kept in memory
        cuepy.opm.load(directory, file=DEF, cache=cache).close()

    def entry() -> None:  # the stored Module's source in memory, loaded each time
        cuepy.opm.load(directory, file=DEF, cache=stored).close()

    def disk_hit() -> None:  # a new process's view: the entry read from disk, then loaded
        cuepy.opm.load(directory, file=DEF, cache=cuepy.cache.Cache(cache.directory, loaded_modules=0)).close()

    def compiled() -> None:
        cuepy.load(directory, files=[COMPILED]).close()

    base = anatomy(compiled, n_rounds)
    layers = (("loaded module kept", kept, "<= 1.05x"), ("stored source, memory", entry, "(info: same work)"),
              ("stored source, disk", disk_hit, "(info: same work)"))  # fmt: skip
    for layer, fn, goal in layers:
        fn()
        compiled()
        walls, cpus = alternated(fn, compiled, n_rounds)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        rows.append((f"compiled cache, {name}: hit ({layer}) / Module", f"{wall:.3f}x",
                     f"CPU {cpu:.3f}x", f"rounds {min(walls):.3f}-{max(walls):.3f}x", goal))  # fmt: skip
        if fn is not kept:
            parts = anatomy(fn, n_rounds)
            rows.append(("  the same CUE work: Go allocations, hit / Module", f"{parts.bytes / base.bytes:.3f}x bytes",
                         f"{parts.objects / base.objects:.3f}x objects", "", "(info)"))  # fmt: skip


def render_cache(rows: Rows, name: str, directory: Path, cache: cuepy.cache.Cache, n_rounds: int, ops: int) -> None:
    values = values_of(directory)
    data = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    payload = json.dumps(data).encode()

    def hit() -> float:
        return per_op_ns(lambda: cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache),
                         ops * 50)  # fmt: skip

    def model_hit() -> float:
        def model() -> cuepy.opm.ModuleRelease:
            data = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
            return cuepy.opm.ModuleRelease.model_validate(data)

        return per_op_ns(model, ops * 50)

    def loads() -> float:
        return per_op_ns(lambda: json.loads(payload), ops * 50)

    def through_cue() -> float:
        return per_op_ns(lambda: cuepy.opm.release(directory, values, namespace=NS, file=DEF), max(1, ops // 2))

    s = samples({"hit": hit, "loads": loads, "model": model_hit, "cue": through_cue}, n_rounds)
    r = {k: statistics.median(v) for k, v in s.items()}
    size = f"{len(payload) // 1024} KiB"
    rows.append((f"render cache, {name}: hit / json.loads ({size})", fmt(r["hit"]), fmt(r["loads"]),
                 f"{paired(s['hit'], s['loads']):.2f}x", "<= 2x"))  # fmt: skip
    rows.append((f"render cache, {name}: release() model hit / json.loads", fmt(r["model"]), fmt(r["loads"]),
                 f"{r['model'] / r['loads']:.2f}x", "(info)"))  # fmt: skip
    rows.append((f"render cache, {name}: release through CUE / hit", fmt(r["cue"]), fmt(r["hit"]),
                 f"{r['cue'] / r['hit']:.0f}x faster", ">= 200x"))  # fmt: skip


def cold_miss(rows: Rows, name: str, directory: Path, workdir: Path, n_rounds: int) -> None:
    counter = iter(range(10**6))

    def miss() -> float:
        cache = cuepy.cache.Cache(workdir / f"cold-{name}-{next(counter)}")
        start = time.perf_counter_ns()
        cuepy.opm.load(directory, file=DEF, cache=cache)
        return time.perf_counter_ns() - start

    def plain() -> float:
        return per_op_ns(lambda: cuepy.load(directory, files=[DEF]), 1, warmup=0)

    r = rounds({"miss": miss, "plain": plain}, n_rounds)
    rows.append((f"cold miss, {name}: flatten+store+load / ModuleDefinition load", fmt(r["miss"]),
                 fmt(r["plain"]), f"{r['miss'] / r['plain']:.2f}x", "(report)"))  # fmt: skip


# A fresh process times one call: cuepy imported and libcuepy loaded first, as in any process
# that has used cuepy before; the time is the call's alone.
_FRESH_PROCESS = """
import sys, time
import cuepy, cuepy.cache, cuepy.opm
cuepy.live_handles()
directory, what, cache = sys.argv[1:4]
start = time.perf_counter_ns()
if what == "hit":
    cuepy.opm.load(directory, file="module_definition.cue", cache=cuepy.cache.Cache(cache)).close()
else:
    cuepy.load(directory, files=["module_flattened.cue"]).close()
print(time.perf_counter_ns() - start)
"""


def new_process(rows: Rows, name: str, directory: Path, workdir: Path, n_rounds: int) -> None:
    """A new process's disk hit against the flattened module loaded in a new process."""
    module = workdir / f"process-{name}"
    shutil.copytree(directory, module)
    flatten(module, file=DEF).write(module / "module_flattened.cue")
    cache = workdir / f"process-cache-{name}"
    cuepy.opm.load(module, file=DEF, cache=cuepy.cache.Cache(cache)).close()

    def fresh(what: str) -> float:
        out = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(module), what, str(cache)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        return float(out)

    hits: list[float] = []
    flats: list[float] = []
    for i in range(max(n_rounds, 9)):
        for what, out in (("hit", hits), ("flat", flats))[:: 1 if i % 2 else -1]:
            out.append(fresh(what))
    rows.append((f"new process, {name}: disk hit / flattened module", fmt(statistics.median(hits)),
                 fmt(statistics.median(flats)), f"{paired(hits, flats):.3f}x", "<= 1.05x"))  # fmt: skip


def build_anchor() -> Path:
    sys.path.insert(0, str(ROOT))
    build_cue = importlib.import_module("build_cue")
    out = Path(tempfile.mkdtemp()) / "cuepy-native"
    subprocess.run([build_cue.find_go(), "build", "-o", str(out), "./cmd/cuepy-native"], cwd=ROOT / "go", check=True)
    return out


def warm_loads(rows: Rows, n_rounds: int, ops: int, skip_go: bool, workdir: Path) -> None:
    large = ex.path("large")
    files = [COMPILED]
    module_cache = cuepy.cache.Cache(workdir / "warm-section")

    def op() -> None:
        with cuepy.load(large, files=files) as v:
            cuepy.extract(v, format="json")

    def through_module_cache() -> float:  # cuepy.opm.load: the loaded Module kept by the process
        def run() -> None:
            with cuepy.opm.load(large, file=COMPILED, cache=module_cache) as v:
                cuepy.extract(v, format="json")

        return per_op_ns(run, ops)

    def warm() -> float:
        op()
        return per_op_ns(op, ops)

    fns: dict[str, Callable[[], float]] = {"warm": warm, "kept": through_module_cache}
    if not skip_go:
        anchor = build_anchor()
        flag = f"{CATALOG_MODULE.split('@')[0]}@{CATALOG_VERSION}={CATALOG_DIR}"

        command = [str(anchor), "load", "-module", flag, str(large), *files]
        env = dict(os.environ, GOGC=str(cuepy.memstats().gc_percent))  # the anchor gets libcuepy's GC target

        def go() -> float:  # a warm Go process: n loads in a loop
            out = subprocess.run([*command[:2], "-n", str(ops), *command[2:]], capture_output=True, text=True,
                                 check=True, env=env).stdout  # fmt: skip
            return float(json.loads(out)["ns_per_op"])

        cold_loads: list[float] = []

        def go_cold() -> float:  # a Go program started for each load: the process, start to exit
            walls = []
            for _ in range(ops):
                start = time.perf_counter_ns()
                out = subprocess.run([*command[:2], "-n", "1", "-warmup", "0", *command[2:]], capture_output=True,
                                     text=True, check=True, env=env).stdout  # fmt: skip
                walls.append(time.perf_counter_ns() - start)
                cold_loads.append(float(json.loads(out)["ns_per_op"]))
            return statistics.median(walls)

        fns["go"] = go
        fns["go_cold"] = go_cold
    s = samples(fns, n_rounds)
    r = {k: statistics.median(v) for k, v in s.items()}
    if "go" in r:
        cold_load = statistics.median(cold_loads)
        rows.append(("load+extract large compiled: cuepy warm / Go process started per load", fmt(r["warm"]),
                     fmt(r["go_cold"]), f"{paired(s['warm'], s['go_cold']):.2f}x", "<= 0.7x"))  # fmt: skip
        rows.append(("load+extract large compiled: cuepy.opm.load (kept Module) / Go process per load", fmt(r["kept"]),
                     fmt(r["go_cold"]), f"{paired(s['kept'], s['go_cold']):.3f}x", "(info)"))  # fmt: skip
        rows.append(("load+extract large compiled: cuepy warm / Go first load in a fresh process", fmt(r["warm"]),
                     fmt(cold_load), f"{r['warm'] / cold_load:.2f}x", "(info)"))  # fmt: skip
        rows.append(("load+extract large compiled: cuepy warm / warm Go loop", fmt(r["warm"]), fmt(r["go"]),
                     f"{paired(s['warm'], s['go']):.2f}x", "(info)"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per measurement (median)")
    parser.add_argument("--ops", type=int, default=4, help="operations per round of a CUE load")
    parser.add_argument("--skip-go", action="store_true", help="do not build and run the Go anchor")
    parser.add_argument("--only", default="compiled,render,cold,process,warm",
                        help="comma-separated sections to run (default: all five)")  # fmt: skip
    args = parser.parse_args()
    only = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="cuepy-cache-bench-"))
    try:
        cache = cuepy.cache.Cache(workdir / "cache")
        mods = modules(workdir) if only - {"warm"} else []
        rows: Rows = []
        for name, directory in mods if "compiled" in only else []:
            compiled_cache(rows, name, directory, cache, args.rounds, args.ops)
        for name, directory in mods if "render" in only else []:
            render_cache(rows, name, directory, cache, args.rounds, args.ops)
        for name, directory in mods if "cold" in only else []:
            cold_miss(rows, name, directory, workdir, args.rounds)
        for name, directory in mods if "process" in only else []:
            new_process(rows, name, directory, workdir, args.rounds)
        if "warm" in only:
            warm_loads(rows, args.rounds, args.ops * 2, args.skip_go, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"cuepy {cuepy.__version__}, CUE {cuepy.__cue_version__}; medians of {args.rounds} interleaved rounds")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    header = ("measurement", "time", "baseline", "ratio", "goal")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
