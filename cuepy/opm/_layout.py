"""Find an OPM module and its parts in a loaded value, by structure (docs/catalog.md, section 5).

Catalogs agree on the shape of a module, not on its names: cuepy's catalog
puts the module at the top level of its file with ``#values``, the upstream
OPM benchmark modules put it in a field of the file
(``simpleModuleDefinition: {...}``), other catalogs name the values schema
``#config`` or ``#spec``. :func:`detect_layout` looks for the shape:

* **components map**: a definition field of the module whose entries are
  components, i.e. structs with a struct field (the spec) and at least one
  *attachment map*: a definition field whose entries are definitions (structs
  with a ``metadata`` struct and a field, their spec field such as ``#spec``
  or ``spec``, whose keys reappear in the component's spec);
* **module**: the loaded value itself if it has a components map, else the one
  regular top-level field that has one;
* **values schema**: the module's definition field, other than the components
  map, that holds a struct; if several do, the one the components' specs refer
  to, else the first present of ``#values``, ``#config``, ``#spec``;
* **attachment maps**: the component's attachment maps are taken as the
  resources, traits and blueprints maps when they carry those names (the names
  cuepy's and the OPM catalog share); other names need ``layout=``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cuepy.errors import VALUE_ERRORS, CueError
from cuepy.opm._errors import OPMLayoutError, join_path
from cuepy.opm.models import Layout
from cuepy.value import Kind, Value

__all__ = ["detect_layout", "module_value"]

#: Values schema field names tried, in order, when structure leaves several candidates.
VALUES_CANDIDATES = ("#values", "#config", "#spec")
# How many entries of a map are looked at to recognise its shape.
_SAMPLE = 3
_HOW = (
    "pass layout=cuepy.opm.Layout(module=..., components=..., values=...) to say where they are "
    "(see docs/catalog.md, section 5)"
)


def at_default(value: Value) -> Value:
    """``value``'s default if it has one, as ``cue export`` takes it: a component embedding
    ``*{...} | {...}`` is a disjunction, whose fields a lookup does not see."""
    default = value.default()
    return value if default is None else default


def _is_struct(value: Value) -> bool:
    try:
        return value.is_concrete() and value.kind == Kind.STRUCT
    except VALUE_ERRORS:
        return False


def _definitions(value: Value) -> Iterator[tuple[str, Value]]:
    """The definition fields of a struct (``#x``), skipping any that fail to evaluate."""
    try:
        fields = list(value.fields(definitions=True))
    except VALUE_ERRORS:
        return
    for label, field in fields:
        if label.startswith("#"):
            yield label, field


def _regular(value: Value) -> list[tuple[str, Value]]:
    try:
        return [(label, field) for label, field in value.fields() if not label.startswith(("#", "_"))]
    except VALUE_ERRORS:
        return []


def _sample(value: Value) -> list[Value]:
    try:
        entries = value.fields()
        return [field for _, (_, field) in zip(range(_SAMPLE), entries, strict=False)]
    except VALUE_ERRORS:
        return []


class _Shape:
    """What a component-like struct revealed: its attachment maps, spec field and definitions' spec field."""

    def __init__(self, maps: tuple[str, ...], spec: str, definition_spec: str, composing: tuple[str, ...]) -> None:
        self.maps = maps
        self.spec = spec
        self.definition_spec = definition_spec
        self.composing = composing  # attachment maps whose definitions compose others (blueprints)


def _fields_of(entry: Value) -> list[tuple[str, Value]]:
    """Definition and regular fields of a definition-like struct, but its metadata."""
    return [(label, f) for label, f in [*_definitions(entry), *_regular(entry)] if label != "metadata"]


def _definition_like(entry: Value) -> bool:
    """A struct with a ``metadata`` struct and another struct field (its spec field, ``#spec`` or ``spec``)."""
    if not _is_struct(entry):
        return False
    metadata = entry.get("metadata")
    return metadata is not None and _is_struct(metadata) and any(_is_struct(f) for _, f in _fields_of(entry))


def _composes(entry: Value) -> bool:
    """Whether a definition holds a list of definitions (a blueprint's composition)."""
    for _, field in _regular(entry):
        try:
            if field.is_concrete() and field.kind == Kind.LIST:
                first = next(iter(field.elements()), None)
                if first is not None and _definition_like(first):
                    return True
        except VALUE_ERRORS:
            continue
    return False


def _component_shape(component: Value) -> _Shape | None:
    """The shape of ``component`` if it is a component (see the module docstring), else None."""
    if not _is_struct(component):
        return None
    maps: dict[str, list[Value]] = {}
    for label, field in _definitions(component):
        if _is_struct(field):
            entries = _sample(field)
            if entries and all(_definition_like(e) for e in entries):
                maps[label] = entries
    if not maps:
        return None
    specs = {label: field for label, field in _regular(component) if _is_struct(field)}
    spec_keys = {label: {k for k, _ in field.fields()} for label, field in specs.items()}
    for entries in maps.values():
        for entry in entries:
            for def_label, def_field in _fields_of(entry):
                if not _is_struct(def_field):
                    continue
                keys = {k for k, _ in def_field.fields()}
                for spec_label, present in spec_keys.items():
                    if keys and keys <= present:
                        composing = tuple(label for label, es in maps.items() if any(_composes(e) for e in es))
                        return _Shape(tuple(maps), spec_label, def_label, composing)
    # Attachment maps but no spec: a spec in error reads as no struct at all. Say what CUE says.
    for _, field in _regular(component):
        if field.kind == Kind.BOTTOM:
            field.validate(concrete=True, all_errors=True)
    return None


def _components_of(module: Value) -> tuple[str, _Shape] | None:
    """The components map of a module-like struct: its label and the shape of its components."""
    for label, field in _definitions(module):
        if not _is_struct(field):
            continue
        for entry in _sample(field):
            shape = _component_shape(at_default(entry))
            if shape is not None:
                return label, shape
    return None


def _values_field(module: Value, components: str) -> str:
    candidates = [label for label, field in _definitions(module) if label != components and _is_struct(field)]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        referred = _referred(module, components, candidates)
        if len(referred) == 1:
            return referred[0]
        for pool in (referred, candidates):
            for name in VALUES_CANDIDATES:
                if name in pool:
                    return name
        raise OPMLayoutError(
            f"cannot tell the values schema among the module's definition fields {candidates} "
            f"(looked for the one the components' specs refer to, then for {list(VALUES_CANDIDATES)}); {_HOW}"
        )
    present = [name for name in VALUES_CANDIDATES if module.get(name) is not None]
    if present:
        return present[0]
    raise OPMLayoutError(
        f"no values schema found: looked for a definition field of the module holding a struct, other than "
        f"{components}, and for {list(VALUES_CANDIDATES)}; {_HOW}"
    )


def _referred(module: Value, components: str, candidates: list[str]) -> list[str]:
    """The candidates a component's CUE source refers to (by their label in references or path comments)."""
    entries = _sample(module.lookup(components))
    if not entries:
        return []
    try:
        text = "\n".join(entry.export("cue") for entry in entries)
    except VALUE_ERRORS:
        return []
    return [label for label in candidates if f"{label}." in text or f"{label}\n" in text]


def _check_attachment_names(shape: _Shape) -> None:
    defaults = Layout()
    known = {defaults.resources, defaults.traits, defaults.blueprints}
    unknown = [label for label in shape.maps if label not in known]
    if unknown:
        raise OPMLayoutError(
            f"components attach definitions through {list(shape.maps)}, and cuepy cannot tell which of "
            f"{unknown} holds resources, traits or blueprints (it knows {sorted(known)}); pass "
            "layout=cuepy.opm.Layout(resources=..., traits=..., blueprints=...)"
        )


def detect_layout(value: Value) -> Layout:
    """Detect where the module sits in ``value`` and how it is laid out; OPMLayoutError if it cannot.

    ``value`` is what was loaded (a file, a package); the module is ``value``
    itself or one of its top-level fields.
    """
    found = _components_of(value)
    module = ""
    if found is None:
        matches = []
        for label, field in _regular(value):
            if _is_struct(field):
                inner = _components_of(field)
                if inner is not None:
                    matches.append((label, inner))
        if not matches:
            value.validate(all_errors=True)  # a module in error is reported as such, not as missing
            raise OPMLayoutError(
                "no OPM module found: looked at the top level and at each top-level field for a definition "
                "field holding components (structs with a spec and maps of attached definitions, like "
                f"#components: web: {{#resources: ..., spec: ...}}); {_HOW}"
            )
        if len(matches) > 1:
            labels = [label for label, _ in matches]
            raise OPMLayoutError(
                f"several OPM modules found, in top-level fields {labels}: load one module file, or "
                f"pass layout=cuepy.opm.Layout(module={labels[0]!r}, ...) to pick one"
            )
        (label, found) = matches[0]
        module = join_path([label])
    components, shape = found
    module_value = value.lookup(module) if module else value
    values = _values_field(module_value, components)
    _check_attachment_names(shape)
    return Layout(
        module=module,
        components=components,
        values=values,
        spec=shape.spec,
        definition_spec=shape.definition_spec,
    )


def given_layout(layout: Any) -> Layout | None:
    """``layout`` as a caller gave it (None: detect it); TypeError for anything but a Layout (said
    plainly, not as an AttributeError from deep inside)."""
    if layout is not None and not isinstance(layout, Layout):
        raise TypeError(f"layout must be a cuepy.opm.Layout, not {type(layout).__name__}")
    return layout


def module_value(value: Value, layout: Layout) -> Value:
    """The module inside ``value`` according to ``layout``; OPMLayoutError if it is not there."""
    try:
        module = value.lookup(layout.module) if layout.module else value
    except CueError as exc:
        raise OPMLayoutError(f"layout.module {layout.module!r} names no field of the loaded value ({exc})") from exc
    where = f"field {layout.module!r}" if layout.module else "top level"
    for role, label in (("components", layout.components), ("values", layout.values)):
        if not label or module.get(label) is None:
            raise OPMLayoutError(f"the module at the {where} has no {label!r} field (layout.{role}); {_HOW}")
    return module
