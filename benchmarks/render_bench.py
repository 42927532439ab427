"""Render benchmark: cuepy.opm.render (Kubernetes objects) hit, miss and through CUE; ratios from one run.

    PYTHONPATH=. .venv/bin/python benchmarks/render_bench.py [--rounds 7] [--example large]

Rounds are interleaved (each round measures every path once, in turn) and the
median per path is reported. Paths:

* ``hit``: ``render`` of an unchanged module, values and namespace (the
  manifests read back from the cache);
* ``json_loads``: ``json.loads`` of the same manifests' cached payload;
* ``through_cue``: ``render(..., cache=False)``: flatten, release, transformers;
* ``miss`` / ``release_miss``: ``render`` and ``render_release`` with a new
  namespace each round (render cache miss, compiled-module cache warm);
* ``miss_definition`` / ``miss_compiled``: render misses of module_definition.cue
  and of the hand-compiled module_compiled.cue;
* ``match_cue`` / ``match_python``: the render step alone (release data
  through the kept template) with matching in CUE or in Python.

Goals (issue 14): hit <= 2x json_loads; through_cue >= 500x hit; miss <= 1.5x
release_miss; definition/compiled miss within 1.05x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import cuepy
import cuepy.opm
from cuepy.cache import Cache
from cuepy.examples import path
from cuepy.opm import _render

DEF = "module_definition.cue"
COMPILED = "module_compiled.cue"


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
    ratios = [
        ("hit / json_loads", med["hit"] / med["json_loads"], "<= 2"),
        ("through_cue / hit", med["through_cue"] / med["hit"], ">= 500"),
        ("miss / release_miss", med["miss"] / med["release_miss"], "<= 1.5"),
        ("miss_definition / miss_compiled", med["miss_definition"] / med["miss_compiled"], "<= 1.05"),
        ("match_cue / match_python", med["match_cue"] / med["match_python"], "(which is faster)"),
    ]
    print("ratios:")
    for label, ratio, goal in ratios:
        print(f"  {label:34s} {ratio:10.2f}   goal {goal}")


if __name__ == "__main__":
    main()
