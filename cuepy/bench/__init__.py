"""Benchmarks and stage reports: the seed's table, reproduced and extended, in one call.

* :func:`report` summarises what a ``cuepy.trace()`` collected, per stage
  (count, total and median time, Go allocations, CUE evaluator counters) as
  a :class:`StageReport` (``str()`` is a table, ``model_dump_json()`` JSON);
  :func:`trace` is ``cuepy.trace()`` that also records which stages ran
  inside which, so the report gives exclusive times.
* :func:`run` times each path (:data:`PATHS`) on the example modules and on
  generated ones, interleaved, and returns :class:`BenchResults`: rows per
  module and path, ratios, scaling, goals. ``cuepy bench`` is its command.
* :func:`plot` and :func:`markdown` render results.

See docs/benchmarks.md.
"""

from __future__ import annotations

from cuepy.bench._models import (
    PATHS,
    BenchConfig,
    BenchResults,
    Goal,
    Machine,
    PathName,
    Ratio,
    Row,
    Scaling,
)
from cuepy.bench._output import markdown, plot, text
from cuepy.bench._report import OUTSIDE, StageReport, StageStats, report, trace
from cuepy.bench._runner import run

__all__ = [
    "OUTSIDE",
    "PATHS",
    "BenchConfig",
    "BenchResults",
    "Goal",
    "Machine",
    "PathName",
    "Ratio",
    "Row",
    "Scaling",
    "StageReport",
    "StageStats",
    "markdown",
    "plot",
    "report",
    "run",
    "text",
    "trace",
]
