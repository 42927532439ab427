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
* :func:`load` and :func:`render_release` go through cuepy's caches: a
  ModuleDefinition is flattened once and its compiled Module reused; a
  release with the same module, values and namespace is read back as JSON
  (see docs/cache.md);
* :func:`render` takes a module instance through its catalog's transformers
  and gives Kubernetes objects (cached by content too; docs/render.md);
* :func:`values_schema` gives the JSON Schema of a module's values.

Errors are CUE's (:class:`cuepy.CueError` subclasses, messages naming the
component, the path and the user's file:line:column) or cuepy.opm's own
(:class:`OPMError`: :class:`OPMLayoutError`, :class:`OPMModelError`,
:class:`OPMIncompleteError`). See docs/catalog.md for the computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cuepy.api import LoadOptions
from cuepy.opm import _cached
from cuepy.opm._errors import OPMError, OPMIncompleteError, OPMLayoutError, OPMModelError
from cuepy.opm._layout import detect_layout
from cuepy.opm._read import read
from cuepy.opm._release import release
from cuepy.opm._render import OPMConflictError, OPMRenderError, OPMUnmatchedError, Render, TransformerMatch
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
    - ``registry=``, ``modules=``, ``cache_dir=``, ``options=`` (a
      :class:`cuepy.LoadOptions`; the keywords given replace its fields): as
      for ``cuepy.load``.
    - ``verify=`` (default True): let the flattener check its result.
    - ``context=``: load into this context (e.g. to release the value with
      ``cuepy.opm.release(..., context=)``).
    - ``cache=``: a ``cuepy.cache.Cache``; None or True for the default one;
      False to bypass it.

    Without ``context``, the loaded Value is kept in the process too: loading
    the same unchanged module again returns a new handle on it (close yours
    freely). See docs/cache.md.
    """
    return _cached.load(path, **options)


def render_release(path: Any, values: Any = None, **options: Any) -> dict[str, Any]:
    """The concrete release of the module at ``path`` as JSON data, through the render cache.

    ``cuepy.opm.release(...).model_dump(mode="json")`` of the module with
    ``values`` (JSON data, or None for the defaults) and ``namespace=`` (and
    ``name=``); the same module bytes, values, namespace and name are read back
    without evaluating CUE. Takes ``load``'s options too (``file=``,
    ``cache=``, ``registry=``, ``options=``...). See docs/cache.md.
    """
    return _cached.render_release(path, values, **options)


def render(
    module: Any,
    values: Any = None,
    *,
    namespace: str,
    name: str | None = None,
    file: Any = None,
    registry: Any = None,
    modules: Any = None,
    cache: Any = None,
    transformers: Sequence[str] | str | None = None,
    directory: Any = None,
    match: Literal["cue", "python"] = "cue",
    options: LoadOptions | None = None,
) -> Render:
    """The Kubernetes objects of a module instance, through its catalog's transformers.

    ``module`` is a module directory (with ``file=``), a ``CompiledModule``
    (``cuepy.flatten(...)``) or a loaded Value (with ``directory=``, where
    its ``cue.mod`` is). The module is released with ``values`` (JSON data,
    or None for its defaults), ``namespace`` and ``name`` (strictly: every
    component concrete), then each component is given to every transformer
    whose ``requiredResources``, ``requiredTraits`` and ``requiredLabels`` it
    has, in one CUE evaluation. ``transformers``: import paths of the
    packages holding the transformers; by default ``<dep>/transformers@vN``
    for each dependency of the module. ``registry``, ``modules`` and
    ``options`` (a :class:`cuepy.LoadOptions`) resolve the module's and the
    transformers' imports as for ``cuepy.load``; for a ``CompiledModule``
    they default to its ``load_options``.

    Returns a :class:`Render`: ``objects`` (Kubernetes objects, stable
    order), ``matches`` (component, transformer FQN, objects written);
    ``to_yaml()``, ``file_names()``. A directory is rendered through the
    cache: the same module files, transformer files, values, namespace and
    name are read back without CUE (``cache=False`` bypasses it).

    Raises :class:`OPMUnmatchedError` (a component matches no transformer),
    :class:`OPMConflictError` (two transformers write the same apiVersion,
    kind, namespace and name), CUE's errors (a transformer's output does
    not fit the Kubernetes schema, values rejected...), and
    :class:`OPMIncompleteError` for a component that is not concrete.
    """
    from cuepy.opm import _render

    return _render.render(module, values, namespace=namespace, name=name, file=file, registry=registry,
                          modules=modules, cache=cache, transformers=[transformers] if isinstance(transformers, str)
                          else transformers, directory=directory, match=match, options=options)  # fmt: skip


def values_schema(module: Any, **options: Any) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a module's values (see ``cuepy.opm._values_schema``)."""
    from cuepy.opm import _values_schema

    return _values_schema.values_schema(module, **options)


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
    "OPMConflictError",
    "OPMError",
    "OPMIncompleteError",
    "OPMLayoutError",
    "OPMModel",
    "OPMModelError",
    "OPMRenderError",
    "OPMUnmatchedError",
    "ReleaseMetadata",
    "ReleasedComponent",
    "ReleasedComponentMetadata",
    "Render",
    "Resource",
    "Trait",
    "TransformerMatch",
    "detect_layout",
    "json_schema",
    "load",
    "read",
    "release",
    "render",
    "render_release",
    "values_schema",
]
