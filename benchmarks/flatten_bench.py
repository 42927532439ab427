"""Flattener benchmark: load time of flattened Modules and the cost of flattening.

For each example module and generated modules of n components it measures,
as the median of interleaved rounds (so drift on a shared machine hits every
variant alike):

- ``def``: loading the ModuleDefinition (module_definition.cue),
- ``flat``: loading the flattened Module (written beside it),
- ``compiled``: loading the hand-written module_compiled.cue (examples only),
- ``flatten``: ``cuepy.flatten.flatten`` itself (with and without ``verify``).

and prints the ratios: flat/compiled, def/flat (the speed-up the seed analysis
measured as def/compiled), flatten/def (goal <= 1.0). The flattened module keeps
the definition's value and module_compiled.cue is another one, so flat/compiled
is for information; a verified flatten evaluates the definition itself, so only
the flatten without ``verify`` can meet its goal (docs/flatten.md, "What it
saves, and what it costs").

Run: ``.venv/bin/python benchmarks/flatten_bench.py [--rounds 5] [--sizes 24 48 96]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cuepy
import cuepy.examples as ex
from cuepy.flatten import CompiledModule, flatten

DEF, COMPILED = "module_definition.cue", "module_compiled.cue"


@dataclass
class Case:
    name: str
    directory: Path
    components: int
    compiled: bool
    flat: CompiledModule | None = None
    times: dict[str, list[float]] = field(default_factory=dict)

    def measure(self, label: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        fn()
        self.times.setdefault(label, []).append(time.perf_counter() - start)

    def median(self, label: str) -> float:
        return statistics.median(self.times[label]) if label in self.times else float("nan")


def _round(case: Case) -> None:
    flat = case.flat
    assert flat is not None
    case.measure("def", lambda: cuepy.load(case.directory, files=[DEF]))
    case.measure("flat", lambda: cuepy.load(case.directory, files=[flat.filename]))
    if case.compiled:
        case.measure("compiled", lambda: cuepy.load(case.directory, files=[COMPILED]))
    case.measure("flatten", lambda: flatten(case.directory, file=DEF))
    case.measure("flatten-noverify", lambda: flatten(case.directory, file=DEF, verify=False))


def _cases(sizes: list[int], workdir: Path) -> list[Case]:
    # Copies, so that the flattened file sits on disk beside the others: every variant loads alike.
    cases = []
    for name in ex.EXAMPLES:
        directory = Path(shutil.copytree(ex.path(name), workdir / name))
        cases.append(Case(name, directory, _count(directory), compiled=True))
    for n in sizes:
        directory = ex.generate(n, directory=workdir / f"generated-{n}")
        cases.append(Case(f"generated-{n}", directory, n, compiled=False))
    for case in cases:
        case.flat = flatten(case.directory, file=DEF)
        case.flat.write()
    return cases


def _count(directory: Path) -> int:
    return len(list(cuepy.load(directory, files=[DEF]).lookup("#components").fields()))


def _table(cases: list[Case]) -> str:
    head = (
        f"{'module':<14} {'n':>4} {'def ms':>8} {'flat ms':>8} {'compiled':>9} {'flat/comp':>9} "
        f"{'def/flat':>9} {'def/comp':>9} {'flatten ms':>10} {'flatten/def':>11} {'(no verify)':>11}"
    )
    rows = [head, "-" * len(head)]
    for c in cases:
        d, f, k = c.median("def"), c.median("flat"), c.median("compiled")
        fl, nv = c.median("flatten"), c.median("flatten-noverify")
        comp = f"{k * 1e3:9.1f}" if c.compiled else f"{'-':>9}"
        flat_comp = f"{f / k:8.2f}x" if c.compiled else f"{'-':>9}"
        def_comp = f"{d / k:8.2f}x" if c.compiled else f"{'-':>9}"
        rows.append(
            f"{c.name:<14} {c.components:>4} {d * 1e3:8.1f} {f * 1e3:8.1f} {comp} {flat_comp} "
            f"{d / f:8.2f}x {def_comp} {fl * 1e3:10.1f} {fl / d:10.2f}x {nv / d:10.2f}x"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per module (median reported)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[24, 48, 96], help="generated module sizes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cuepy-flatten-bench-") as tmp:
        cases = _cases(args.sizes, Path(tmp))
        for i in range(args.rounds):
            for case in cases:
                _round(case)
            print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
        print(f"cuepy {cuepy.__version__}, CUE {cuepy.__cue_version__}; median of {args.rounds} interleaved rounds")
        print(_table(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
