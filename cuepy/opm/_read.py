"""read(): an OPM module, from a directory or a loaded Value, as a ModuleDefinition or Module model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cuepy.api import Context, LoadOptions, RegistryLike, merge_options
from cuepy.errors import VALUE_ERRORS, CueError, CueIncompleteError
from cuepy.opm._errors import (
    OPMError,
    clarify,
    join_path,
    model_error,
    real_positions,
    rephrased,
    split_path,
    user_positions,
)
from cuepy.opm._layout import at_default, detect_layout, given_layout, module_value
from cuepy.opm.models import (
    AnyDefinition,
    Blueprint,
    Component,
    ComponentMetadata,
    IncompleteField,
    Layout,
    Module,
    ModuleDefinition,
    ModuleMetadata,
    ModuleSource,
    Resource,
    Trait,
)
from cuepy.trace import run as run_stage
from cuepy.value import Kind, Value

StrPath = str | os.PathLike[str]
#: One file, several files, or None for the package in the directory.
Files = StrPath | Sequence[StrPath] | None
Registry = str | RegistryLike | None
Modules = Mapping[str, StrPath] | None

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Exporting a definition as CUE wraps it in a reference to a hidden field.
_DEF_WRAPPER = "_#def\n_#def: "
_ROLES = ("resources", "traits", "blueprints")


@dataclass
class Where:
    """What an error message needs to know, filled in as the work proceeds."""

    layout: Layout | None = None
    """The module's layout, once known."""
    root: str | None = None
    """The user's module directory, if the module was loaded from one."""

    @classmethod
    def of_call(cls, layout: Layout | None, context: Context | None) -> Where:
        """A call's Where; TypeError for a ``layout`` or ``context`` of another type (said plainly,
        not as an AttributeError from deep inside)."""
        if context is not None and not isinstance(context, Context):
            raise TypeError(f"context must be a cuepy.Context, not {type(context).__name__}")
        return cls(layout=given_layout(layout))


def read(
    module: StrPath | Value,
    *,
    file: Files = None,
    package: str | None = None,
    registry: Registry = None,
    modules: Modules = None,
    layout: Layout | None = None,
    context: Context | None = None,
    options: LoadOptions | None = None,
) -> ModuleDefinition | Module:
    """Read an OPM module as a :class:`ModuleDefinition` or :class:`Module` model.

    Args:
        module: the module's directory (inside a CUE module depending on its
            catalog), or a Value already loaded (the file's value or the
            module itself).
        file: the file(s) to load, relative to the directory, e.g.
            ``"module_definition.cue"`` or ``["module_compiled.cue",
            "values.cue"]``; None loads the package in the directory.
            Ignored for a Value.
        package: the package to load when ``file`` is None and the directory
            holds several.
        registry: a CUE_REGISTRY string or a served registry for the
            catalog (as for :func:`cuepy.load`).
        modules: ``"module@version"`` to a local directory serving it.
        layout: where the module and its parts are; detected when None
            (see :class:`Layout`).
        context: load into this context.
        options: a :class:`cuepy.LoadOptions` for the load (``registry``
            and ``modules``, when given, replace its fields).

    Raises:
        CueError: the module does not load or evaluate; the message names
            the component and the path, with the position in the module's
            files (the class and ``errors`` are CUE's).
        OPMLayoutError: no module found where ``layout`` says, or none
            detected.
        OPMModelError: the module's data does not fit the models.
    """
    where = Where.of_call(layout, context)
    resolved = merge_options(options, registry=registry, modules=modules)
    if isinstance(module, Value):
        value = module
        return run_stage("read", lambda: guarded(lambda: module_model(value, where), "cannot read module value", where))
    source = module_source(module, file, package)
    where.root = source.directory

    def run() -> ModuleDefinition | Module:
        loaded = load_module(context or Context(), source, resolved)
        return module_model(loaded, where, source)

    headline = f"cannot read module {describe(source)}"
    return run_stage("read", lambda: guarded(run, headline, where), path=source.directory, files=list(source.files))


def module_source(directory: StrPath, file: Files, package: str | None = None) -> ModuleSource:
    """The directory made absolute and the files as a tuple of strings."""
    if file is None:
        files: tuple[str, ...] = ()
    elif isinstance(file, str | os.PathLike):
        files = (os.fspath(file),)
    else:
        try:
            files = tuple(os.fspath(f) for f in file)
        except TypeError:
            raise TypeError(f"file must be a path or a sequence of paths, not {type(file).__name__}") from None
    return ModuleSource(directory=str(Path(directory).absolute()), files=files, package=package)


def describe(source: ModuleSource) -> str:
    """``/dir (a.cue, b.cue)`` for messages."""
    return f"{source.directory} ({', '.join(source.files)})" if source.files else source.directory


def load_module(context: Context, source: ModuleSource, options: LoadOptions | None = None) -> Value:
    """Load the module's files (or package) into ``context``."""
    return context.load(source.directory, files=list(source.files) or None, package=source.package, options=options)


def guarded(fn: Callable[[], T], headline: str, where: Where | None = None) -> T:
    """Run ``fn``; re-raise a CueError with a message about components, paths and user lines."""
    where = where or Where()
    try:
        return fn()
    except OPMError as exc:
        raise rephrased(exc, f"{headline}: {exc.text}") from exc
    except CueError as exc:
        raise clarify(exc, headline, where.layout, where.root) from exc


def locate(value: Value, where: Where) -> tuple[Layout, Value]:
    """The layout (given or detected) and the module value inside ``value``."""
    if where.layout is None:
        where.layout = detect_layout(value)
    return where.layout, module_value(value, where.layout)


def validated(cls: type[M], data: Any, what: str, at: Sequence[str] = ()) -> M:
    """``cls.model_validate(data)``; a ValidationError becomes an OPMModelError about ``what`` (fields under ``at``)."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise model_error(exc, what, at) from None


def string(value: Value | None) -> str | None:
    """The value as a string if it is a concrete string, else None."""
    if value is None:
        return None
    try:
        if value.is_concrete() and value.kind == Kind.STRING:
            text = value.to_python()
            return text if isinstance(text, str) else None
    except VALUE_ERRORS:
        return None
    return None


# Partial data -------------------------------------------------------------------


def incomplete_fields(
    exc: CueIncompleteError, path: str, strip: Sequence[str], root: str | None
) -> list[IncompleteField]:
    """One IncompleteField per CUE error, at its path relative to ``strip`` (else at ``path``)."""
    out = []
    for detail in exc.errors or ():
        at = path
        if tuple(detail.path[: len(strip)]) == tuple(strip) and len(detail.path) > len(strip):
            at = join_path(detail.path[len(strip) :])
        positions = user_positions(detail.positions, root)
        rest = [p for p in real_positions(detail.positions) if p not in positions]
        out.append(IncompleteField(path=at, message=detail.message, positions=tuple(map(str, [*positions, *rest]))))
    return out or [IncompleteField(path=path, message=exc.text)]


@dataclass
class Partial:
    """Data taken key by key: what is concrete, and what is not."""

    data: dict[str, Any] = field(default_factory=dict)
    incomplete: list[IncompleteField] = field(default_factory=list)


def partial(value: Value, path: Sequence[str], base: Sequence[str], root: str | None, depth: int = 1) -> Partial:
    """The struct ``value`` (at ``base + path``) as data, leaving out fields that are not concrete.

    ``depth`` 1 takes or leaves each field whole; 2 goes one level further
    into fields that are structs (e.g. metadata: each label on its own).
    Errors other than incompleteness are raised.
    """
    out = Partial()
    try:
        data = value.to_python()
        out.data = data if isinstance(data, dict) else {}
        return out
    except CueIncompleteError:
        pass
    for label, sub in value.fields():
        here = (*path, label)
        try:
            out.data[label] = sub.to_python()
            continue
        except CueIncompleteError as exc:
            if depth > 1 and _struct(sub):
                inner = partial(sub, here, base, root, depth - 1)
                out.data[label] = inner.data
                out.incomplete += inner.incomplete
                continue
            details = _all_incomplete(sub, exc)
        out.incomplete += incomplete_fields(details, join_path(here), base, root)
    return out


def _struct(value: Value) -> bool:
    try:
        return value.is_concrete() and value.kind == Kind.STRUCT
    except VALUE_ERRORS:
        return False


def _all_incomplete(value: Value, first: CueIncompleteError) -> CueIncompleteError:
    """Every incompleteness of ``value`` (to_python reports the first only)."""
    try:
        value.validate(concrete=True, all_errors=True)
    except CueIncompleteError as exc:
        return exc
    return first


# Modules --------------------------------------------------------------------------


@dataclass
class Attached:
    """The definitions attached to a module's components, by FQN."""

    values: dict[str, Value] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # definition kind -> role, as the module uses them


def attachments(component: Value, layout: Layout, attached: Attached | None = None) -> dict[str, tuple[str, ...]]:
    """FQNs of the resources, traits and blueprints ``component`` attaches, sorted; records them in ``attached``."""
    out: dict[str, tuple[str, ...]] = {}
    for role in _ROLES:
        found = component.get(getattr(layout, role))
        entries = list(found.fields()) if found is not None else []
        out[role] = tuple(sorted(fqn for fqn, _ in entries))
        if attached is not None:
            for fqn, definition in entries:
                if fqn not in attached.values:
                    attached.values[fqn] = definition
                    attached.roles[fqn] = role
                    kind = string(definition.get("kind"))
                    if kind is not None:
                        attached.kinds.setdefault(kind, role)
    return out


def component_path(layout: Layout, cid: str) -> tuple[str, ...]:
    """The labels of component ``cid`` from the loaded value's root."""
    return (*split_path(layout.module), layout.components, cid)


def components_of(components: Value) -> Iterator[tuple[str, Value]]:
    """The components by id, each at its default when it has one (``at_default``)."""
    for cid, component in components.fields():
        yield cid, at_default(component)


def module_model(value: Value, where: Where, source: ModuleSource | None = None) -> ModuleDefinition | Module:
    """Build the model of a loaded module value."""
    layout, module = locate(value, where)
    all_components = module.lookup(layout.components)
    # Loading reports errors already; this also catches those a Value built
    # by other means may hide in a component (about 1 ms for 12 components).
    all_components.validate(all_errors=True)
    attached = Attached()
    components: dict[str, Component] = {}
    for cid, value_ in components_of(all_components):
        components[cid] = _component(value_, cid, layout, attached, where.root)
    definitions = {fqn: _definition(fqn, attached, layout) for fqn in attached.values}
    metadata = partial(module.lookup("metadata"), ("metadata",), (), where.root, depth=2)
    schema = module.lookup(layout.values)
    cls: type[ModuleDefinition | Module] = (
        ModuleDefinition if any(c.blueprints for c in components.values()) else Module
    )
    return validated(cls, {
        "api_version": string(module.get("apiVersion")),
        "kind": string(module.get("kind")),
        "metadata": validated(ModuleMetadata, metadata.data, "module metadata"),
        "components": components,
        "definitions": definitions,
        "values_schema": _schema_text(schema),
        "default_values": _defaults(schema),
        "values": own_values(module, layout),
        "layout": layout,
        "source": source,
    }, "module")  # fmt: skip


def _component(value: Value, cid: str, layout: Layout, attached: Attached, root: str | None) -> Component:
    what = f'component "{cid}"'
    fqns = attachments(value, layout, attached)
    metadata = partial(value.lookup("metadata"), ("metadata",), component_path(layout, cid), root, depth=2)
    return validated(Component, {
        "api_version": string(value.get("apiVersion")),
        "kind": string(value.get("kind")),
        "metadata": validated(ComponentMetadata, metadata.data, f"{what}: metadata"),
        **fqns,
        "incomplete": metadata.incomplete,
    }, what)  # fmt: skip


def _definition(fqn: str, attached: Attached, layout: Layout) -> AnyDefinition:
    """A Resource, Trait or Blueprint model of an attached definition."""
    value, role = attached.values[fqn], attached.roles[fqn]
    what = f"definition {fqn!r}"
    spec = value.get(layout.definition_spec)
    links = dict(_links(value, attached))
    by_role: dict[str, list[str]] = {r: [] for r in _ROLES}
    for linked in links.values():
        for target, target_role in linked:
            if target_role is not None and target not in by_role[target_role]:
                by_role[target_role].append(target)
    data: dict[str, Any] = {
        "api_version": string(value.get("apiVersion")),
        "kind": string(value.get("kind")),
        "metadata": partial(value.lookup("metadata"), ("metadata",), (), None, depth=2).data,
        "spec_keys": tuple(label for label, _ in spec.fields()) if spec is not None else (),
        "links": {name: tuple(t for t, _ in linked) for name, linked in links.items()},
    }
    if role == "resources":
        return validated(Resource, data, what)
    if role == "traits":
        return validated(Trait, {**data, "applies_to": tuple(by_role["resources"])}, what)
    return validated(Blueprint, {
        **data,
        "composed_resources": tuple(by_role["resources"]),
        "composed_traits": tuple(by_role["traits"]),
        "composed_blueprints": tuple(by_role["blueprints"]),
    }, what)  # fmt: skip


def _links(value: Value, attached: Attached) -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """Each list field of a definition naming definitions: (field, [(fqn, role or None)])."""
    for label, field_ in value.fields():
        try:
            if not (field_.is_concrete() and field_.kind == Kind.LIST):
                continue
            elements = list(field_.elements())
        except VALUE_ERRORS:
            continue
        targets: list[tuple[str, str | None]] = []
        for element in elements:
            fqn = string(element.get("metadata.fqn")) if _struct(element) else None
            if fqn is not None:
                kind = string(element.get("kind"))
                targets.append((fqn, attached.roles.get(fqn) or (attached.kinds.get(kind) if kind else None)))
                continue
            name = string(element)
            if name is not None and name in attached.roles:  # an FQN string of an attached definition
                targets.append((name, attached.roles[name]))
                continue
            targets = []
            break
        if targets:
            yield label, targets


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


def own_values(module: Value, layout: Layout) -> dict[str, Any] | None:
    """The module's own concrete values field, if it has one that is concrete."""
    own = module.get(layout.own_values) if layout.own_values else None
    if own is None:
        return None
    try:
        data = own.to_python()
    except CueIncompleteError:
        return None
    return data if isinstance(data, dict) else None
