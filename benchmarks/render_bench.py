"""Render benchmark: cuepy.opm.render (Kubernetes objects) hit, miss and through CUE; ratios from one run.

    PYTHONPATH=. .venv/bin/python benchmarks/render_bench.py [--rounds 7] [--example large]

Rounds are interleaved (each round measures every path once, in turn) and the
median per path is reported; a ratio is the median of its per-round ratios. Paths:

* ``hit``: ``render`` of an unchanged module, values and namespace (the
  manifests read back from the cache);
* ``json_loads``: ``json.loads`` of the same manifests' cached payload;
* ``through_cue``: ``render(..., cache=False)``: flatten, release, transformers;
* ``miss`` / ``release_miss``: ``render`` and ``render_release`` with a new
  namespace each round (render cache miss, compiled-module cache warm);
* ``miss_definition`` / ``miss_flattened`` / ``miss_compiled``: render misses of
  module_definition.cue (flattened behind the scenes, its compiled module cached),
  of the same module flattened by ``cuepy.flatten`` and written to a file, and of
  the hand-compiled module_compiled.cue;
* ``match_cue`` / ``match_python``: the render step alone (release data
  through the kept template) with matching in CUE or in Python.

Goals (issue 14): hit <= 2x json_loads; through_cue >= 500x hit; miss <= 1.5x
release_miss; definition/flattened miss within 1.05x (the automatic path costs no
more than rendering the flattened module yourself; definition/compiled is shown too).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cuepy
import cuepy.opm
from cuepy.cache import Cache
from cuepy.examples import path
from cuepy.flatten import flatten
from cuepy.opm import _render

DEF = "module_definition.cue"
COMPILED = "module_compiled.cue"
FLATTENED = "module_flattened.cue"


def _time(fn: Callable[[], Any], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--example", default="large")
    args = parser.parse_args()

    directory = path(args.example)
    values = cuepy.load(directory, files=["values.cue"]).lookup("values").to_python()
    cache = Cache(tempfile.mkdtemp(prefix="cuepy-render-bench-"))
    flat_dir = Path(tempfile.mkdtemp(prefix="cuepy-render-bench-flat-")) / args.example
    shutil.copytree(directory, flat_dir)
    flatten(flat_dir, file=DEF).write(flat_dir / FLATTENED)
    cuepy.opm.render(flat_dir, values, namespace="bench", file=FLATTENED, cache=cache)
    warm = cuepy.opm.render(directory, values, namespace="bench", file=DEF, cache=cache)
    cuepy.opm.render(directory, values, namespace="bench", file=COMPILED, cache=cache)
    cuepy.opm.render_release(directory, values, namespace="bench", file=DEF, cache=cache)
    payload = json.dumps(warm.to_data())
    data = cuepy.opm.release(directory, values, namespace="bench", file=DEF).model_dump(mode="json")
    template = _render.template(str(directory), None, cuepy.LoadOptions())

    counter = iter(range(1 << 30))
    paths: dict[str, Callable[[], float]] = {
        "hit": lambda: _time(lambda: cuepy.opm.render(directory, values, namespace="bench", file=DEF, cache=cache),
                             200),
        "json_loads": lambda: _time(lambda: json.loads(payload), 200),
        "through_cue": lambda: _time(lambda: cuepy.opm.render(directory, values, namespace="bench", file=DEF,
                                                               cache=False)),
        "miss": lambda: _time(lambda: cuepy.opm.render(directory, values, namespace=f"m{next(counter)}", file=DEF,
                                                        cache=cache)),
        "release_miss": lambda: _time(lambda: cuepy.opm.render_release(directory, values,
                                                                        namespace=f"r{next(counter)}", file=DEF,
                                                                        cache=cache)),
        "miss_definition": lambda: _time(lambda: cuepy.opm.render(directory, values, namespace=f"d{next(counter)}",
                                                                   file=DEF, cache=cache)),
        "miss_flattened": lambda: _time(lambda: cuepy.opm.render(flat_dir, values, namespace=f"f{next(counter)}",
                                                                  file=FLATTENED, cache=cache)),
        "miss_compiled": lambda: _time(lambda: cuepy.opm.render(directory, values, namespace=f"c{next(counter)}",
                                                                 file=COMPILED, cache=cache)),
        "match_cue": lambda: _time(lambda: _render.render_release(data, template, match="cue")),
        "match_python": lambda: _time(lambda: _render.render_release(data, template, match="python")),
    }  # fmt: skip
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, run in paths.items():
            samples[name].append(run())
    med = {name: statistics.median(s) for name, s in samples.items()}

    print(f"render benchmark: example {args.example!r}, {len(warm.objects)} objects, {args.rounds} interleaved rounds"
          f" (median)")  # fmt: skip
    for name, seconds in med.items():
        print(f"  {name:16s} {seconds * 1e3:10.3f} ms")

    def ratio(a: str, b: str) -> float:  # median of per-round ratios: the two ran in the same round
        return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))

    ratios = [
        ("hit / json_loads", ratio("hit", "json_loads"), "<= 2"),
        ("through_cue / hit", ratio("through_cue", "hit"), ">= 500"),
        ("miss / release_miss", ratio("miss", "release_miss"), "<= 1.5"),
        ("miss_definition / miss_flattened", ratio("miss_definition", "miss_flattened"), "<= 1.05"),
        ("miss_definition / miss_compiled", ratio("miss_definition", "miss_compiled"), "(hand-compiled)"),
        ("match_cue / match_python", ratio("match_cue", "match_python"), "(which is faster)"),
    ]
    print("ratios:")
    for label, value, goal in ratios:
        print(f"  {label:34s} {value:10.2f}   goal {goal}")


if __name__ == "__main__":
    main()
