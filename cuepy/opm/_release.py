"""release(): bind a module to values and a namespace through the catalog's #ModuleRelease."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

from cuepy._embedded import CATALOG_DIR
from cuepy.api import Context
from cuepy.errors import CueUsageError
from cuepy.opm._read import Files, StrPath, describe, guarded, load_module, module_kind, module_source
from cuepy.opm.models import Module, ModuleDefinition, ModuleRef, ModuleRelease, ReleasedComponent, ReleaseMetadata
from cuepy.trace import run as run_stage
from cuepy.value import Value

ModuleInput = StrPath | Value | ModuleDefinition | Module
ValuesInput = Mapping[str, Any] | Value | None

# CUE resolves the imports of a module value in the runtime it is evaluated
# in, so #ModuleRelease must live in the module's own context: a module
# loaded elsewhere fails with 'cannot find package'. The core package is
# loaded once per context and forgotten with it.
_release_definitions: weakref.WeakKeyDictionary[Context, Value] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def release(
    module: ModuleInput,
    values: ValuesInput = None,
    *,
    namespace: str,
    name: str | None = None,
    file: Files = None,
    context: Context | None = None,
) -> ModuleRelease:
    """Release a module: its components made concrete with ``values`` in ``namespace``.

    Computed by the catalog's ``core.#ModuleRelease`` (docs/catalog.md, section 3).

    Args:
        module: a module directory (with ``file``), a model returned by
            :func:`cuepy.opm.read` (loaded again from its ``source``), or a
            module Value loaded in ``context``.
        values: the values, as Python data or a Value (e.g. values.cue
            loaded and looked up at ``values``); they are checked against the
            module's ``#values`` and missing ones take its defaults. None
            uses the module's own ``values`` if it has them, else the
            defaults alone; a module loaded with its own values only
            releases with values that agree with them.
        namespace: namespace of the release (a DNS-1123 label).
        name: release name; the module's name by default.
        file: the module file(s) to load when ``module`` is a directory.
        context: the context to load into; required for a Value, which must
            have been loaded in it.

    Raises:
        CueError: values missing, of the wrong type or rejected, or a
            component not concrete; the message names the component and the
            path (``values.<path>`` for values) with the positions in the
            user's files. The class and ``errors`` are CUE's.
        CueUsageError: a Value without its context, a model without source,
            or not a module.
    """
    headline = f"cannot release {_what(module, file)} into namespace {namespace!r}"

    def run() -> ModuleRelease:
        context_, value = _module_value(module, file, context)
        return _release(context_, value, values, namespace, name)

    return run_stage("release", lambda: guarded(run, headline), namespace=namespace, module=_what(module, file))


def _what(module: ModuleInput, file: Files) -> str:
    if isinstance(module, Value):
        return "module value"
    if isinstance(module, ModuleDefinition | Module):
        return f"module {module.metadata.name!r}"
    return f"module {describe(module_source(module, file))}"


def _module_value(module: ModuleInput, file: Files, context: Context | None) -> tuple[Context, Value]:
    if isinstance(module, Value):
        if context is None:
            raise CueUsageError(
                "release() of a Value needs the cuepy.Context it was loaded in (context=): "
                "CUE resolves the module's imports in that context"
            )
        return context, module
    if isinstance(module, ModuleDefinition | Module):
        if module.source is None:
            raise CueUsageError("this module model was not read from files; release its Value with context=")
        source = module.source
    else:
        source = module_source(module, file)
    context = context or Context()
    return context, load_module(context, source)


def _release_definition(context: Context) -> Value:
    """``core.#ModuleRelease`` loaded in ``context`` (cached per context)."""
    with _lock:
        cached = _release_definitions.get(context)
    if cached is None:
        cached = context.load(CATALOG_DIR / "core").lookup("#ModuleRelease")
        with _lock:
            _release_definitions[context] = cached
    return cached


def _values_value(context: Context, module: Value, values: ValuesInput) -> Value:
    if isinstance(values, Value):
        return values
    if values is None:
        own = module.get("values")
        return own if own is not None else context.encode({})
    return context.encode(dict(values))


def _release(context: Context, module: Value, values: ValuesInput, namespace: str, name: str | None) -> ModuleRelease:
    kind = module_kind(module)
    values_value = _values_value(context, module, values)
    _check_values(module, values_value)
    patch = context.compile("{}").fill("values", values_value).fill("metadata.namespace", namespace)
    if name is not None:
        patch = patch.fill("metadata.name", name)
    # One unification of a prepared patch: filling #ModuleRelease field by
    # field re-evaluates the whole release at each step (3x slower).
    released = _release_definition(context).unify(patch.fill("#module", module))
    components = released.lookup("components")
    components.validate(concrete=True, all_errors=True)
    metadata = module.lookup("metadata")
    return ModuleRelease(
        metadata=ReleaseMetadata.model_validate(released.lookup("metadata").to_python()),
        module=ModuleRef.model_validate({"kind": kind, **_name_version(metadata)}),
        values=released.lookup("#resolvedValues").to_python(),
        components={cid: ReleasedComponent.model_validate(c) for cid, c in components.to_python().items()},
    )


def _check_values(module: Value, values: Value) -> None:
    """Check the values against ``#values`` alone, for errors at ``values.<path>``.

    #ModuleRelease checks them too, but inside json.Marshal, whose errors
    lose the path of the offending value.
    """
    module.lookup("#values").unify(values).validate(concrete=True, all_errors=True)


def _name_version(metadata: Value) -> dict[str, Any]:
    return {"name": metadata.lookup("name").to_python(), "version": metadata.lookup("version").to_python()}
