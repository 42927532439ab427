"""Open Platform Model modules as Python models: read them, release them.

Works on any OPM-style catalog (cuepy's own ``cuepy.dev/opm@v0``, the
upstream OPM catalog, ...): where the module sits in its file, the name of
its components map and values schema are detected from the module's shape
(:func:`detect_layout`) or given as a :class:`Layout` (``layout=``).

* :func:`read` loads a module and returns a :class:`ModuleDefinition` (some
  component attaches a blueprint) or a :class:`Module` (compiled): metadata,
  components with the FQNs of their resources, traits and blueprints, the
  definitions they use, the values schema;
* :func:`release` binds a module to values and a namespace and returns a
  :class:`ModuleRelease` with each component's spec as data (fields that are
  not concrete are listed, or raise with ``strict=True``);
* :func:`json_schema` gives the JSON Schema of the models;
* :func:`load` and :func:`render` go through cuepy's caches: a
  ModuleDefinition is flattened once and its compiled Module reused; a
  release with the same module, values and namespace is read back as JSON
  (see docs/cache.md).

Errors are CUE's (:class:`cuepy.CueError` subclasses, messages naming the
component, the path and the user's file:line:column) or cuepy.opm's own
(:class:`OPMError`: :class:`OPMLayoutError`, :class:`OPMModelError`,
:class:`OPMIncompleteError`). See docs/catalog.md for the computation.
"""

from __future__ import annotations

from typing import Any

from cuepy.opm._errors import OPMError, OPMIncompleteError, OPMLayoutError, OPMModelError
from cuepy.opm._layout import detect_layout
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
    IncompleteField,
    Layout,
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
from cuepy.value import Value


def load(path: Any, **options: Any) -> Value:
    """The module at ``path`` as a Value, through the compiled-module cache.

    A ModuleDefinition is flattened (``cuepy.flatten``) on the first load and
    the compiled Module's source stored in the cache; later loads, in this
    process or another, load the stored Module without flattening.

    - ``file=``, ``package=``: the module file in ``path`` (or the package).
    - ``registry=``, ``modules=``, ``cache_dir=``: as for ``cuepy.load``.
    - ``verify=`` (default True): let the flattener check its result.
    - ``context=``: load into this context (e.g. to release the value with
      ``cuepy.opm.release(..., context=)``).
    - ``cache=``: a ``cuepy.cache.Cache``; None or True for the default one;
      False to bypass it.

    Without ``context``, the loaded Value is kept in the process too: loading
    the same unchanged module again returns a new handle on it (close yours
    freely). See docs/cache.md.
    """
    from cuepy.opm import _cached

    return _cached.load(path, **options)


def render(path: Any, values: Any = None, **options: Any) -> dict[str, Any]:
    """The concrete release of the module at ``path`` as JSON data, through the render cache.

    ``cuepy.opm.release(...).model_dump(mode="json")`` of the module with
    ``values`` (JSON data, or None for the defaults) and ``namespace=`` (and
    ``name=``); the same module bytes, values, namespace and name are read back
    without evaluating CUE. Takes ``load``'s options too (``file=``,
    ``cache=``...). See docs/cache.md.
    """
    from cuepy.opm import _cached

    return _cached.render(path, values, **options)


__all__ = [
    "CORE_API_VERSION",
    "AnyDefinition",
    "AnyModule",
    "Blueprint",
    "Component",
    "ComponentMetadata",
    "DefinitionMetadata",
    "IncompleteField",
    "Layout",
    "Module",
    "ModuleDefinition",
    "ModuleMetadata",
    "ModuleRef",
    "ModuleRelease",
    "ModuleSource",
    "OPMError",
    "OPMIncompleteError",
    "OPMLayoutError",
    "OPMModel",
    "OPMModelError",
    "ReleaseMetadata",
    "ReleasedComponent",
    "ReleasedComponentMetadata",
    "Resource",
    "Trait",
    "detect_layout",
    "json_schema",
    "load",
    "read",
    "release",
    "render",
]
