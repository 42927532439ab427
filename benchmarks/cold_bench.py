"""A cold miss and a flatten against one load of the definition, on any module directory.

    python benchmarks/cold_bench.py DIR [DIR ...] [--file module_definition.cue] [--rounds 9] [--new-process]

For each DIR (a module holding a ModuleDefinition file), alternated in one process, round
by round: a cold miss (``cuepy.opm.load`` with an empty cache: flatten, verify, store, load),
the same miss in a cache directory already in use (the module file edited before each call,
as a user who changed it meets a miss: no directory to create), ``cuepy.flatten`` alone
(rewrite and verification) and a plain ``cuepy.load`` of the definition exported. Each
round edits the file first (a comment), so every call reads the same text. Prints medians
and the median per-round ratios (goals: cold miss at most 2x the definition load; flatten at
most 1x). The module's dependencies come from the environment's CUE_REGISTRY /
CUE_CACHE_DIR, as for any load; each DIR is copied first.

``--new-process``: each call timed in a fresh process instead (cuepy imported first, as in
any process that used it before; an empty cache directory per cold miss), as a command-line
tool meets it: nothing of an earlier call is kept in memory.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cuepy
import cuepy.cache
import cuepy.opm
from cuepy.flatten import flatten


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(directory: Path, file: str, rounds: int) -> None:
    work = Path(tempfile.mkdtemp())
    module = work / directory.name
    shutil.copytree(directory, module)
    fresh = iter(range(10**6))
    in_use = cuepy.cache.Cache(work / "in-use")
    source = (module / file).read_text()
    runs: dict[str, Callable[[], object]] = {
        "cold miss": lambda: cuepy.opm.load(module, file=file, cache=cuepy.cache.Cache(work / f"c{next(fresh)}")),
        "cold miss, cache in use": lambda: cuepy.opm.load(module, file=file, cache=in_use),
        "flatten": lambda: flatten(module, file=file),
        "definition load": lambda: cuepy.load(module, files=[file]).to_python(),
    }

    def edit() -> None:  # a new key for the cache in use; every call of the round reads this text
        (module / file).write_text(f"{source}\n// cold_bench edit {next(fresh)}\n")

    for fn in runs.values():
        edit()
        fn()  # warm: imports, the catalog's packages in CUE's cache
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        edit()
        order = list(runs) if r % 2 else list(reversed(runs))
        for name in order:
            times[name].append(timed(runs[name]))
    base = times["definition load"]

    def ratio(name: str) -> float:
        return statistics.median(a / b for a, b in zip(times[name], base, strict=True))

    parts = [f"{name} {statistics.median(t) * 1e3:.1f} ms" for name, t in times.items()]
    ratios = [f"{name} / definition load {ratio(name):.2f}" for name in runs if name != "definition load"]
    print(f"{directory.name}: {', '.join(parts)}; {', '.join(ratios)}", flush=True)
    shutil.rmtree(work)


# A fresh process times one call: cuepy imported and libcuepy loaded first.
_FRESH_PROCESS = """
import sys, time
import cuepy, cuepy.cache, cuepy.opm
cuepy.live_handles()
what, directory, file, cache = sys.argv[1:5]
start = time.perf_counter_ns()
if what == "cold miss":
    cuepy.opm.load(directory, file=file, cache=cuepy.cache.Cache(cache)).close()
else:
    cuepy.load(directory, files=[file]).to_python()
print(time.perf_counter_ns() - start)
"""


def bench_new_process(directory: Path, file: str, rounds: int) -> None:
    work = Path(tempfile.mkdtemp())
    module = work / directory.name
    shutil.copytree(directory, module)
    fresh = iter(range(10**6))

    def run(what: str) -> float:
        args = [sys.executable, "-c", _FRESH_PROCESS, what, str(module), file, str(work / f"c{next(fresh)}")]
        return int(subprocess.run(args, capture_output=True, text=True, check=True).stdout) / 1e9

    names = ("cold miss", "definition load")
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 else reversed(names):
            times[name].append(run(name))
    ratio = statistics.median(a / b for a, b in zip(times["cold miss"], times["definition load"], strict=True))
    parts = [f"{name} {statistics.median(t) * 1e3:.1f} ms" for name, t in times.items()]
    print(f"{directory.name} (new processes): {', '.join(parts)}; cold miss / definition load {ratio:.2f}", flush=True)
    shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--file", default="module_definition.cue")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--new-process", action="store_true", help="time each call in a fresh process")
    args = parser.parse_args()
    for directory in args.directories:
        (bench_new_process if args.new_process else bench)(directory, args.file, args.rounds)


if __name__ == "__main__":
    main()
