"""Blueprint flattener: a ModuleDefinition in, the equivalent compiled Module out.

``cuepy.flatten.flatten(source)`` (or, once this module is imported,
``cuepy.flatten(source)``) rewrites the CUE source of a ModuleDefinition:
each blueprint a component embeds becomes the mixins of the resources and
traits it composes, its spec moves up to the component spec, its labels are
copied, ``#ModuleDefinition`` becomes ``#Module``. Expressions are kept as
written, so values bound at release time still flow in. See docs/catalog.md.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from cuepy.flatten._catalog import FlattenError
from cuepy.flatten._flatten import CompiledModule, Provenance, flatten

__all__ = ["CompiledModule", "FlattenError", "Provenance", "flatten"]


class _CallableModule(types.ModuleType):
    """Lets ``cuepy.flatten(...)`` call the function although ``cuepy.flatten`` names this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> CompiledModule:
        return flatten(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
