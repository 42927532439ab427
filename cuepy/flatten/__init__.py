"""Blueprint flattener: a module in, the same module with its blueprints written out.

``cuepy.flatten.flatten(source)`` (or, once this module is imported,
``cuepy.flatten(source)``) rewrites, with CUE's own parser and formatter (in
Go), every struct that embeds a composite definition (a blueprint: a
definition that unifies other definitions with declarations of its own):
the definitions it composes are embedded once each and its declarations
are written into the struct. The module evaluates to the same value, for
any catalog, without the repeated copies. See docs/flatten.md.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from cuepy.flatten._flatten import CompiledModule, FlattenError, Provenance, Struct, flatten

__all__ = ["CompiledModule", "FlattenError", "Provenance", "Struct", "flatten"]


class _CallableModule(types.ModuleType):
    """Lets ``cuepy.flatten(...)`` call the function although ``cuepy.flatten`` names this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> CompiledModule:
        return flatten(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
