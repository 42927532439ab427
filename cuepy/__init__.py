"""cuepy: load, unify and extract CUE modules from Python, fast.

The Go library behind it starts on first use, not at import.
"""

from __future__ import annotations

from typing import Any

from cuepy.api import COMPILES_PER_CONTEXT, Context, LoadOptions, compile, encode, extract, load, unify, vet
from cuepy.errors import (
    CueError,
    CueEvalError,
    CueForkError,
    CueIncompleteError,
    CueInternalError,
    CueLimitError,
    CueLoadError,
    CueLookupError,
    CueSyntaxError,
    CueUsageError,
    ErrorDetail,
    Position,
)
from cuepy.registry import Registry, publish
from cuepy.stop import CancelScope, set_max_depth, time_limit
from cuepy.trace import EvalStats, MemStats, StageEvent, Trace, eval_stats, memstats, set_gc_percent, trace
from cuepy.value import Kind, Value

__version__ = "0.1.0"

__all__ = [
    "COMPILES_PER_CONTEXT",
    "CancelScope",
    "Context",
    "CueError",
    "CueEvalError",
    "CueForkError",
    "CueIncompleteError",
    "CueInternalError",
    "CueLimitError",
    "CueLoadError",
    "CueLookupError",
    "CueSyntaxError",
    "CueUsageError",
    "ErrorDetail",
    "EvalStats",
    "Kind",
    "LoadOptions",
    "MemStats",
    "Position",
    "Registry",
    "StageEvent",
    "Trace",
    "Value",
    "__version__",
    "compile",
    "encode",
    "eval_stats",
    "extract",
    "flatten",
    "live_handles",
    "load",
    "memstats",
    "publish",
    "set_gc_percent",
    "set_max_depth",
    "time_limit",
    "trace",
    "unify",
    "vet",
]


def live_handles() -> int:
    """Handles libcuepy has handed out and not had back: values, contexts, registries."""
    from cuepy._native import live_handles as _live

    return _live()


# Subpackages loaded on first use: importing cuepy stays cheap.
_SUBMODULES = {"opm", "examples", "cache", "bench", "limits"}


def __getattr__(name: str) -> Any:
    # Lazy, so that importing cuepy does not start the Go runtime.
    if name == "__cue_version__":
        from cuepy._native import cue_version

        return cue_version()
    if name == "flatten":  # the subpackage is callable: cuepy.flatten(source, ...)
        import importlib

        return importlib.import_module("cuepy.flatten")
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"cuepy.{name}")
    raise AttributeError(f"module 'cuepy' has no attribute {name!r}")
