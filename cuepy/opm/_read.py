"""read(): a module directory, or a loaded module Value, as a ModuleDefinition or Module model."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter

from cuepy.api import Context
from cuepy.errors import CueError, CueIncompleteError, CueUsageError
from cuepy.opm._errors import clarify
from cuepy.opm.models import (
    AnyDefinition,
    Component,
    ComponentMetadata,
    Module,
    ModuleDefinition,
    ModuleMetadata,
    ModuleSource,
)
from cuepy.trace import run as run_stage
from cuepy.value import Value

StrPath = str | os.PathLike[str]
#: One file, several files, or None for the package in the directory.
Files = StrPath | Sequence[StrPath] | None

T = TypeVar("T")

_MODULE_KINDS = ("ModuleDefinition", "Module")
_DEFINITION_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyDefinition)
# Exporting a definition as CUE wraps it in a reference to a hidden field.
_DEF_WRAPPER = "_#def\n_#def: "


def read(module: StrPath | Value, *, file: Files = None) -> ModuleDefinition | Module:
    """Read an OPM module as a :class:`ModuleDefinition` or :class:`Module` model.

    Args:
        module: the module's directory (inside a CUE module depending on
            ``cuepy.dev/opm@v0``), or a module Value already loaded.
        file: the file(s) to load, relative to the directory, e.g.
            ``"module_definition.cue"`` or ``["module_compiled.cue",
            "values.cue"]``; None loads the package in the directory.
            Ignored for a Value.

    Raises:
        CueError: the module does not load or evaluate; the message names
            the component and the path, with the position in the module's
            files (the class and ``errors`` are CUE's).
        CueUsageError: the value is not a ModuleDefinition or Module.
    """
    if isinstance(module, Value):
        return run_stage("read", lambda: guarded(lambda: module_model(module), "cannot read module value"))
    source = module_source(module, file)

    def run() -> ModuleDefinition | Module:
        return module_model(load_module(Context(), source), source)

    headline = f"cannot read module {describe(source)}"
    return run_stage("read", lambda: guarded(run, headline), path=source.directory, files=list(source.files))


def module_source(directory: StrPath, file: Files) -> ModuleSource:
    """The directory made absolute and the files as a tuple of strings."""
    if file is None:
        files: tuple[str, ...] = ()
    elif isinstance(file, str | os.PathLike):
        files = (os.fspath(file),)
    else:
        files = tuple(os.fspath(f) for f in file)
    return ModuleSource(directory=str(Path(directory).absolute()), files=files)


def describe(source: ModuleSource) -> str:
    """``/dir (a.cue, b.cue)`` for messages."""
    return f"{source.directory} ({', '.join(source.files)})" if source.files else source.directory


def load_module(context: Context, source: ModuleSource) -> Value:
    """Load the module's files (or package) into ``context``."""
    return context.load(source.directory, files=list(source.files) or None)


def guarded(fn: Callable[[], T], headline: str) -> T:
    """Run ``fn``; re-raise a CueError with a message about components, paths and user lines."""
    try:
        return fn()
    except CueError as exc:
        raise clarify(exc, headline) from exc


def module_kind(value: Value) -> str:
    """``ModuleDefinition`` or ``Module``; CueUsageError for anything else."""
    kind_value = value.get("kind")
    kind = kind_value.to_python() if kind_value is not None and kind_value.is_concrete() else None
    if kind not in _MODULE_KINDS:
        raise CueUsageError(
            f"not an OPM module: kind is {kind!r}, expected ModuleDefinition or Module "
            "(a module file embeds core.#ModuleDefinition or core.#Module)"
        )
    return str(kind)


def module_model(value: Value, source: ModuleSource | None = None) -> ModuleDefinition | Module:
    """Build the model of a loaded module value."""
    kind = module_kind(value)
    all_components = value.lookup("#components")
    # Loading reports errors already; this also catches those a Value built
    # by other means may hide in a component (about 1 ms for 12 components).
    all_components.validate(all_errors=True)
    definitions: dict[str, Any] = {}
    components = {cid: _component(c, definitions) for cid, c in all_components.fields()}
    schema = value.lookup("#values")
    cls = ModuleDefinition if kind == "ModuleDefinition" else Module
    return cls(
        metadata=ModuleMetadata.model_validate(value.lookup("metadata").to_python()),
        components=components,
        definitions=definitions,
        values_schema=_schema_text(schema),
        default_values=_defaults(schema),
        values=_own_values(value),
        source=source,
    )


def _component(value: Value, definitions: dict[str, Any]) -> Component:
    """The component model; adds the definitions it attaches to ``definitions``."""
    fqns: dict[str, tuple[str, ...]] = {}
    for key in ("resources", "traits", "blueprints"):
        attached = list(value.lookup(f"#{key}").fields())
        for fqn, definition in attached:
            if fqn not in definitions:  # definitions are shared: convert each once
                definitions[fqn] = _definition(definition)
        fqns[key] = tuple(sorted(fqn for fqn, _ in attached))
    return Component(
        metadata=ComponentMetadata.model_validate(value.lookup("metadata").to_python()),
        resources=fqns["resources"],
        traits=fqns["traits"],
        blueprints=fqns["blueprints"],
    )


def _definition(value: Value) -> Any:
    """A Resource, Trait or Blueprint model; composed definitions become their FQNs."""
    data = value.to_python()
    for key in ("composedResources", "composedTraits", "composedBlueprints"):
        if key in data:
            data[key] = [d["metadata"]["fqn"] for d in data[key]]
    data["specKey"] = _spec_key(value, data["metadata"]["fqn"])
    return _DEFINITION_ADAPTER.validate_python(data)


def _spec_key(value: Value, fqn: str) -> str:
    keys = [label for label, _ in value.lookup("#spec").fields()]
    if len(keys) != 1:  # catalog convention 1 (docs/catalog.md), relied upon by flatteners
        raise CueUsageError(f"{fqn}: #spec must declare exactly one key, it declares {keys}")
    return keys[0]


def _schema_text(schema: Value) -> str:
    text = schema.export("cue").strip()
    return text[len(_DEF_WRAPPER) :] if text.startswith(_DEF_WRAPPER) else text


def _defaults(schema: Value) -> dict[str, Any] | None:
    """The schema's defaults as data; None when some field has no default."""
    try:
        data = schema.to_python()
    except CueIncompleteError:
        return None
    return data if isinstance(data, dict) else None


def _own_values(value: Value) -> dict[str, Any] | None:
    own = value.get("values")
    if own is None:
        return None
    data = own.to_python()
    return data if isinstance(data, dict) else None
