"""release(): bind a module to values and a namespace, and export its components (docs/catalog.md, section 3).

The computation needs nothing from the catalog but the module's shape (a
:class:`Layout`), so it works on any OPM-style catalog:

1. the values are unified with the values schema and made concrete data
   (defaults applied, no default markers left to clash with trait defaults);
2. the module's values field is filled with that data;
3. each component's metadata, attachment FQNs and spec are exported, key by
   key when the whole spec is not concrete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cuepy.api import Context, LoadOptions, merge_options
from cuepy.errors import CueUsageError, ErrorDetail
from cuepy.opm._errors import OPMIncompleteError, OPMLayoutError, OPMModelError
from cuepy.opm._read import (
    Files,
    Modules,
    Registry,
    StrPath,
    Where,
    attachments,
    component_path,
    components_of,
    describe,
    guarded,
    load_module,
    locate,
    module_source,
    partial,
    string,
    validated,
)
from cuepy.opm.models import (
    Layout,
    Module,
    ModuleDefinition,
    ModuleRef,
    ModuleRelease,
    ReleasedComponent,
    ReleasedComponentMetadata,
    ReleaseMetadata,
)
from cuepy.trace import run as run_stage
from cuepy.value import Kind, Value

ModuleInput = StrPath | Value | ModuleDefinition | Module
ValuesInput = Mapping[str, Any] | Value | None


def release(
    module: ModuleInput,
    values: ValuesInput = None,
    *,
    namespace: str,
    name: str | None = None,
    file: Files = None,
    package: str | None = None,
    registry: Registry = None,
    modules: Modules = None,
    context: Context | None = None,
    layout: Layout | None = None,
    labels: Mapping[str, str] | None = None,
    strict: bool = False,
    options: LoadOptions | None = None,
) -> ModuleRelease:
    """Release a module: its components as data, bound to ``values``, in ``namespace``.

    Args:
        module: a module directory (with ``file`` or ``package``), a model
            returned by :func:`cuepy.opm.read` (loaded again from its
            ``source``, with its ``layout``), or a loaded Value (the file's
            value or the module itself).
        values: the values, as Python data or a Value (e.g. values.cue
            loaded and looked up at ``values``); they are checked against the
            module's values schema and missing ones take its defaults. None
            uses the module's own concrete values if it has them, else the
            defaults alone; a module loaded with its own values only
            releases with values that agree with them.
        namespace: namespace of the release (a DNS-1123 label).
        name: release name; the module's name by default.
        file, package: what to load when ``module`` is a directory.
        registry, modules: where the catalog comes from (as for
            :func:`cuepy.load`).
        context: the context to load into (optional; a Value is released in
            its own).
        layout: where the module and its parts are; detected when None.
        labels: labels of the release, also set on every component.
        strict: raise :class:`OPMIncompleteError` if a component has fields
            that are not concrete or blueprint data that was not forwarded,
            instead of listing them in ``incomplete`` / ``unforwarded``.
        options: a :class:`cuepy.LoadOptions` for loading a directory or a
            model's source (``registry`` and ``modules``, when given,
            replace its fields).

    Raises:
        CueError: values missing, of the wrong type or rejected, or a
            component in error; the message names the component and the
            path (``values.<path>`` for values) with the positions in the
            user's files. The class and ``errors`` are CUE's.
        OPMLayoutError: no module found (see ``layout``).
        OPMModelError: a bad namespace or name, or data that does not fit
            the models.
        OPMIncompleteError: with ``strict``, a component that is not
            fully concrete.
        TypeError: ``values`` that are not a mapping, a Value or None; an
            argument of another type.
    """
    headline = f"cannot release {_what(module, file)} into namespace {namespace!r}"
    where = Where.of_call(layout, context)
    if labels is not None and not isinstance(labels, Mapping):
        raise TypeError(f"labels must be a mapping of strings, not {type(labels).__name__}")
    resolved = merge_options(options, registry=registry, modules=modules)

    def run() -> ModuleRelease:
        value = _module_value(module, file, package, resolved, context, where)
        return _release(value, values, namespace, name, labels, strict, where)

    return run_stage("release", lambda: guarded(run, headline, where), namespace=namespace, module=_what(module, file))


def _what(module: ModuleInput, file: Files) -> str:
    if isinstance(module, Value):
        return "module value"
    if isinstance(module, ModuleDefinition | Module):
        return f"module {module.metadata.name!r}"
    return f"module {describe(module_source(module, file))}"


def _module_value(
    module: ModuleInput,
    file: Files,
    package: str | None,
    options: LoadOptions,
    context: Context | None,
    where: Where,
) -> Value:
    if isinstance(module, Value):
        return module
    if isinstance(module, ModuleDefinition | Module):
        if module.source is None:
            raise CueUsageError("this module model was not read from files; release the Value it was read from instead")
        source = module.source
        if where.layout is None:
            where.layout = module.layout
    else:
        source = module_source(module, file, package)
    where.root = source.directory
    return load_module(context or Context(), source, options)


def _values_value(module: Value, layout: Layout, values: ValuesInput) -> Value:
    if isinstance(values, Value):
        return values
    if values is None:
        own: Value | None = module.get(layout.own_values) if layout.own_values else None
        if own is not None and own.is_concrete():
            return own
        values = {}
    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a mapping (a JSON object), a cuepy.Value or None, not {type(values).__name__}")
    return module.context.encode(dict(values))


def _release(
    value: Value,
    values: ValuesInput,
    namespace: str,
    name: str | None,
    labels: Mapping[str, str] | None,
    strict: bool,
    where: Where,
) -> ModuleRelease:
    layout, module = locate(value, where)
    metadata = module.lookup("metadata")
    module_name = string(metadata.get("name"))
    release_labels = dict(labels or {})
    release_metadata = validated(ReleaseMetadata, {
        "name": name if name is not None else module_name,
        "namespace": namespace,
        "labels": release_labels,
    }, "release", at=("metadata",))  # fmt: skip
    resolved = _resolve(module, layout, values)
    # Built in the module's own context: the shared compile context would keep it until renewed.
    bound = module.fill(layout.values, module.context.encode(resolved))
    if layout.own_values and bound.get(layout.own_values) is not None:
        # The module's own values (a values file loaded with it) must agree with the given ones.
        bound.lookup(layout.own_values).validate(all_errors=True)
    components = {
        cid: _component(component, cid, layout, namespace, release_labels, where.root)
        for cid, component in components_of(bound.lookup(layout.components))
    }
    if strict:
        _check_complete(components, layout)
    return validated(ModuleRelease, {
        "api_version": string(module.get("apiVersion")),
        "metadata": release_metadata,
        "module": ModuleRef(kind=string(module.get("kind")), name=module_name or "",
                            version=string(metadata.get("version"))),
        "values": resolved,
        "components": components,
    }, "release")  # fmt: skip


def _resolve(module: Value, layout: Layout, values: ValuesInput) -> dict[str, Any]:
    """The values unified with the schema, as concrete data (defaults applied, default markers gone)."""
    schema = module.lookup(layout.values)
    resolved = schema.unify(_values_value(module, layout, values))
    resolved.validate(concrete=True, all_errors=True)
    data = resolved.to_python()
    if not isinstance(data, dict):
        raise OPMModelError(f"values: the values schema {layout.values} gives {type(data).__name__}, not a struct")
    return data


def _component(
    component: Value, cid: str, layout: Layout, namespace: str, release_labels: dict[str, str], root: str | None
) -> ReleasedComponent:
    what = f'component "{cid}"'
    base = component_path(layout, cid)
    fqns = attachments(component, layout)
    blueprint_keys = _blueprint_keys(component, layout)
    spec_value = component.get(layout.spec)
    if spec_value is None:
        raise OPMLayoutError(f"{what} has no {layout.spec!r} field (layout.spec): is {layout.components!r} "
                             "the map of the module's components?")  # fmt: skip
    spec = partial(spec_value, (layout.spec,), base, root)
    kept, unforwarded = _drop_copies(spec.data, blueprint_keys, complete=not spec.incomplete, given=spec_value)
    metadata = partial(component.lookup("metadata"), ("metadata",), base, root, depth=2)
    meta = dict(metadata.data)
    own_labels = meta.get("labels") or {}
    clashes = {k: (own_labels[k], v) for k, v in release_labels.items() if k in own_labels and own_labels[k] != v}
    if clashes:
        raise OPMModelError(
            f"{what}: metadata.labels: the release labels {sorted(clashes)} clash with the component's "
            f"({', '.join(f'{k}: {a!r} vs {b!r}' for k, (a, b) in clashes.items())})"
        )
    meta["labels"] = {**own_labels, **release_labels}
    meta["namespace"] = namespace
    return validated(ReleasedComponent, {
        "api_version": string(component.get("apiVersion")),
        "kind": string(component.get("kind")),
        "metadata": validated(ReleasedComponentMetadata, meta, f"{what}: metadata"),
        "resources": fqns["resources"],
        "traits": fqns["traits"],
        "spec": kept,
        "incomplete": [*metadata.incomplete, *spec.incomplete],
        "unforwarded": unforwarded,
    }, what)  # fmt: skip


def _blueprint_keys(component: Value, layout: Layout) -> list[str]:
    keys: list[str] = []
    blueprints = component.get(layout.blueprints)
    for _, blueprint in blueprints.fields() if blueprints is not None else ():
        spec = blueprint.get(layout.definition_spec)
        keys += [k for k, _ in spec.fields() if k not in keys] if spec is not None else []
    return keys


def _drop_copies(
    spec: dict[str, Any], blueprint_keys: list[str], complete: bool, given: Value | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The spec without the blueprint keys the resource and trait keys account for, and what they do not.

    A blueprint key is the developer's input, which the blueprint turns into
    the keys of the resources and traits it composes. It is accounted for when
    each of its fields that names a spec key (``statelessWorkload.replicas``
    and ``replicas``) has its data in that key (equal, or a struct holding all
    of it: a nested blueprint may add fields), and, if some fields name
    no spec key (a blueprint that reshapes its input, ``webService.image`` into
    ``container.image``), the rest of the spec is complete. A field the
    developer left to its schema's default (``given``, the spec as a Value,
    says which) is not their data: the blueprint may set it otherwise
    (``container: {input.container, imagePullPolicy: "Always"}``). Keys not
    accounted for stay in the spec, and their fields that did not arrive are
    returned as unforwarded (the whole key if it is not a struct).
    """
    dropped, unforwarded = [], []
    for key in blueprint_keys:
        if key not in spec:
            continue
        data = spec[key]
        if not isinstance(data, dict):
            unforwarded.append(key)
            continue
        missing = [
            f"{key}.{f}"
            for f, v in data.items()
            if (f in spec and not _holds(spec[f], v, given, (key, f))) or (f not in spec and not complete)
        ]
        if missing:
            unforwarded += missing
        else:
            dropped.append(key)
    return {k: v for k, v in spec.items() if k not in dropped}, tuple(unforwarded)


def _holds(target: Any, data: Any, given: Value | None, path: tuple[str, ...]) -> bool:
    """Whether ``target`` holds ``data`` (at ``path`` of the spec ``given``): equal, or a struct with
    all of its fields (others may add more), but for those the developer left to their default
    (looked up only where the data differ)."""
    if target == data:
        return True
    if isinstance(target, dict) and isinstance(data, dict):
        return all(
            (k in target and _holds(target[k], v, given, (*path, k))) or _defaulted(_at(given, (*path, k)))
            for k, v in data.items()
        )
    return _defaulted(_at(given, path))


def _at(given: Value | None, path: tuple[str, ...]) -> Value | None:
    return given.get(path) if given is not None else None


def _defaulted(value: Value | None) -> bool:
    """Whether the developer left ``value`` to its schema: a default, or a struct of them."""
    if value is None:
        return False
    if value.default() is not None:
        return True
    if value.incomplete_kind != Kind.STRUCT:
        return False
    return all(_defaulted(v) for _, v in value.fields())


def _check_complete(components: Mapping[str, ReleasedComponent], layout: Layout) -> None:
    lines: list[str] = []
    details: list[ErrorDetail] = []
    for cid, component in components.items():
        for field in component.incomplete:
            at = f" (at {', '.join(field.positions)})" if field.positions else ""
            lines.append(f'component "{cid}": {field.path}: {field.message}{at}')
            details.append(ErrorDetail(message=field.message, path=(cid, field.path), positions=()))
        for key in component.unforwarded:
            message = "blueprint data not forwarded: the spec key of that name does not hold it"
            lines.append(f'component "{cid}": {layout.spec}.{key}: {message}')
            details.append(ErrorDetail(message=message, path=(cid, key), positions=()))
    if lines:
        raise OPMIncompleteError("components not concrete (strict=True):\n  " + "\n  ".join(lines), tuple(details))
