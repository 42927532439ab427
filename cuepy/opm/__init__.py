"""Open Platform Model modules as Python models: read them, release them.

* :func:`read` loads a module (a ``core.#ModuleDefinition`` or a compiled
  ``core.#Module``) and returns a :class:`ModuleDefinition` or
  :class:`Module`: metadata, components with the FQNs of their resources,
  traits and blueprints, the definitions they use, the values schema;
* :func:`release` binds a module to values and a namespace through the
  catalog's ``core.#ModuleRelease`` and returns a :class:`ModuleRelease`
  with concrete component specs;
* :func:`json_schema` gives the JSON Schema of the models;
* :func:`load` and :func:`render` go through cuepy's caches: a
  ModuleDefinition is flattened once and its compiled Module reused; a
  release with the same module, values and namespace is read back as JSON
  (see docs/cache.md).

See docs/catalog.md for the catalog and the release computation.
"""

from __future__ import annotations

from typing import Any

from cuepy.opm._read import read
from cuepy.opm._release import release
from cuepy.opm.models import (
    CORE_API_VERSION,
    AnyDefinition,
    AnyModule,
    Blueprint,
    Component,
    ComponentMetadata,
    DefinitionMetadata,
    Module,
    ModuleDefinition,
    ModuleMetadata,
    ModuleRef,
    ModuleRelease,
    ModuleSource,
    OPMModel,
    ReleasedComponent,
    ReleasedComponentMetadata,
    ReleaseMetadata,
    Resource,
    Trait,
    json_schema,
)


def load(path: Any, **options: Any) -> Any:
    """The module at ``path`` as a Value, through the compiled-module cache.

    Same arguments as :func:`cuepy.cache.load_module` (``file=``, ``cache=``, ...).
    """
    from cuepy.cache import load_module  # the cache builds on this package

    return load_module(path, **options)


def render(path: Any, values: Any, **options: Any) -> Any:
    """The concrete release of the module at ``path`` as JSON data, through the render cache.

    Same arguments as :func:`cuepy.cache.render` (``namespace=``, ``file=``, ``cache=``, ...).
    """
    from cuepy.cache import render as cached_render

    return cached_render(path, values, **options)


__all__ = [
    "CORE_API_VERSION",
    "AnyDefinition",
    "AnyModule",
    "Blueprint",
    "Component",
    "ComponentMetadata",
    "DefinitionMetadata",
    "Module",
    "ModuleDefinition",
    "ModuleMetadata",
    "ModuleRef",
    "ModuleRelease",
    "ModuleSource",
    "OPMModel",
    "ReleaseMetadata",
    "ReleasedComponent",
    "ReleasedComponentMetadata",
    "Resource",
    "Trait",
    "json_schema",
    "load",
    "read",
    "release",
    "render",
]
