"""Pydantic models of the OPM objects: definitions, components, modules, releases.

The models hold what every OPM-style catalog has in common, read from the
module as it is: cuepy's own catalog (``cuepy.dev/opm@v0``), the upstream
Open Platform Model catalog and any catalog laid out the same way
(docs/catalog.md, section 5). Nothing catalog-specific is a literal here:
``kind`` and ``apiVersion`` are the strings the module carries, labels are
whatever the module and its catalog set, and where the module, its
components and its values schema sit is a :class:`Layout`.

Attributes are snake_case with the catalogs' camelCase keys as aliases, so
``model_dump()`` gives back CUE field names.

What CUE keeps in definition fields (the components map, the attachment maps
``#resources``/``#traits``/``#blueprints``, the values schema) becomes plain
data here:

* a :class:`Component` of a module lists the FQNs of what it attaches; the
  definitions themselves are in the module's ``definitions``, once each;
* a component of a module has **no spec**: before values are bound, a spec is
  a CUE schema with references to the values schema, not data. Only a
  :class:`ReleasedComponent` (from :func:`cuepy.opm.release`) has a ``spec``;
* the values schema is kept as CUE source text (``values_schema``), with its
  defaults as data when they are complete (``default_values``).

Whether a module is a definition or a compiled module is told by structure
(a component attaches a blueprint), not by its ``kind``: the ``form`` tag
(``"definition"`` / ``"compiled"``) picks :class:`ModuleDefinition` or
:class:`Module` in :data:`AnyModule`; ``role`` picks the class of a
definition in :data:`AnyDefinition`.

Every model is frozen (assigning an attribute raises). Models of cuepy's own
results forbid unknown keys; metadata read from a catalog keeps keys it does
not know (``model_extra``), since catalogs add their own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

__all__ = [
    "CORE_API_VERSION",
    "AnyDefinition",
    "AnyModule",
    "Blueprint",
    "Component",
    "ComponentMetadata",
    "DefinitionMetadata",
    "IncompleteField",
    "LabelValue",
    "Layout",
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
]

#: apiVersion of the objects of cuepy's own catalog (``cuepy.dev/opm/core@v0``).
#: Other catalogs carry their own; the models take whatever the module says.
CORE_API_VERSION = "cuepy.dev/opm/core@v0"

#: A label or annotation value: catalogs allow strings, and some numbers, booleans or lists of them.
LabelValue = str | bool | int | float | list[str | bool | int | float]
Labels = dict[str, LabelValue]

#: A Kubernetes namespace / DNS-1123 label.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class OPMModel(BaseModel):
    """Base of the OPM models: frozen, closed, camelCase on the wire, documented fields."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )


class _CatalogModel(OPMModel):
    """A model of data a catalog shapes: keys the model does not know are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


# Layout -----------------------------------------------------------------------


class Layout(OPMModel):
    """Where the parts of an OPM module sit, as CUE field names and paths.

    :func:`cuepy.opm.read` and :func:`cuepy.opm.release` detect it from the
    evaluated module (:func:`cuepy.opm.detect_layout`); pass one as
    ``layout=`` when detection fails or to skip it. Fields left out keep
    their defaults, which are the names cuepy's catalog and the upstream OPM
    catalog share.
    """

    module: str = ""
    """CUE path of the module inside the loaded value: ``""`` when the file's top level is the module,
    e.g. ``simpleModuleDefinition`` when the module is that field of the file."""
    components: str = "#components"
    """Field of the module holding the components, by id."""
    values: str = "#values"
    """Field of the module holding the values schema (``#values``, ``#config``, ``#spec``, ...)."""
    own_values: str | None = "values"
    """Regular field of the module that may hold concrete values (e.g. from a values file loaded with it);
    None if the module has none."""
    resources: str = "#resources"
    """Field of a component mapping FQNs to the resources it attaches."""
    traits: str = "#traits"
    """Field of a component mapping FQNs to the traits it attaches."""
    blueprints: str = "#blueprints"
    """Field of a component mapping FQNs to the blueprints it attaches."""
    spec: str = "spec"
    """Field of a component holding its spec."""
    definition_spec: str = "#spec"
    """Field of a resource, trait or blueprint declaring its spec key(s) and their schema."""

    def module_field(self, field: str) -> str:
        """The CUE path of ``field`` of the module, from the loaded value's root."""
        return f"{self.module}.{field}" if self.module else field


# Definitions ------------------------------------------------------------------


class DefinitionMetadata(_CatalogModel):
    """Metadata of a Resource, Trait or Blueprint, as the catalog writes it."""

    api_version: str | None = None
    """Package the definition lives in, e.g. ``cuepy.dev/opm/resources@v0``."""
    name: str
    """Name of the definition, e.g. ``Container``."""
    fqn: str
    """Fully qualified name: the key a component attaches the definition under."""
    description: str | None = None
    """What the definition is for."""
    labels: Labels = Field(default_factory=dict)
    """Labels every component the definition is attached to inherits (if the catalog says so)."""
    annotations: Labels | None = None
    """Free-form annotations."""


class _DefinitionBase(OPMModel):
    """What Resources, Traits and Blueprints share."""

    api_version: str | None = None
    """The definition object's own ``apiVersion``, as the catalog sets it."""
    kind: str | None = None
    """The definition object's ``kind``, as the catalog sets it (e.g. ``Resource``)."""
    metadata: DefinitionMetadata
    """Name, FQN, labels of the definition."""
    spec_keys: tuple[str, ...]
    """The keys the definition's spec field declares: usually one, e.g. ``container``."""
    links: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Every list field of the definition that names other definitions (as definitions or FQN strings),
    by field name, as FQNs: e.g. ``composedResources``, ``appliesTo``."""

    @property
    def spec_key(self) -> str | None:
        """The one spec key, or None when the definition declares none or several."""
        return self.spec_keys[0] if len(self.spec_keys) == 1 else None


class Resource(_DefinitionBase):
    """What exists in a component: a container, volumes, configuration files."""

    role: Literal["resource"] = "resource"
    """Discriminator: attached through the components' resources map."""


class Trait(_DefinitionBase):
    """How a component behaves: replicas, health checks, restart policy, ..."""

    role: Literal["trait"] = "trait"
    """Discriminator: attached through the components' traits map."""
    applies_to: tuple[str, ...] = ()
    """FQNs of the resources the trait names in its links (informational)."""


class Blueprint(_DefinitionBase):
    """A named composition of resources, traits and other blueprints."""

    role: Literal["blueprint"] = "blueprint"
    """Discriminator: attached through the components' blueprints map."""
    composed_resources: tuple[str, ...] = ()
    """FQNs of the resources the blueprint composes."""
    composed_traits: tuple[str, ...] = ()
    """FQNs of the traits the blueprint composes."""
    composed_blueprints: tuple[str, ...] = ()
    """FQNs of the blueprints the blueprint composes (nested blueprints)."""


AnyDefinition = Annotated[Resource | Trait | Blueprint, Field(discriminator="role")]
"""A Resource, Trait or Blueprint, chosen by ``role``."""


# Components -------------------------------------------------------------------


class IncompleteField(OPMModel):
    """A field that is not concrete, so its value is left out of the model."""

    path: str
    """CUE path of the field, from the component (``spec.container``, ``metadata.labels."x/y"``)."""
    message: str
    """What CUE says, e.g. ``field is required but not present``."""
    positions: tuple[str, ...] = ()
    """``file:line:column`` of the source CUE names, the user's files first."""


class ComponentMetadata(_CatalogModel):
    """Metadata of a component of a module."""

    name: str
    """The component's name (the catalog may default it to the component's id)."""
    labels: Labels = Field(default_factory=dict)
    """The component's concrete labels: its own plus those its catalog adds."""
    annotations: Labels | None = None
    """Free-form annotations."""


class Component(OPMModel):
    """A component of a module, before values are bound: what it attaches, not its spec.

    The spec of an unreleased component is a CUE schema that may refer to the
    values schema, so it is not data; release the module to get its spec.
    """

    api_version: str | None = None
    """The component's ``apiVersion``, as the catalog sets it."""
    kind: str | None = None
    """The component's ``kind``, as the catalog sets it."""
    metadata: ComponentMetadata
    """Name, labels and annotations."""
    resources: tuple[str, ...] = ()
    """FQNs of the attached resources, sorted."""
    traits: tuple[str, ...] = ()
    """FQNs of the attached traits, sorted."""
    blueprints: tuple[str, ...] = ()
    """FQNs of the attached blueprints, sorted; empty in a compiled Module."""
    incomplete: tuple[IncompleteField, ...] = ()
    """Metadata fields (e.g. a required label) that are not concrete, left out of ``metadata``."""


class ReleasedComponentMetadata(ComponentMetadata):
    """Metadata of a released component: the component's, plus the namespace."""

    namespace: str
    """Namespace of the release."""


class ReleasedComponent(OPMModel):
    """A component of a release: its metadata and its spec as concrete data.

    ``spec`` holds every key of the component's spec that is concrete, except
    blueprint keys whose data is verifiably copied to the resource and trait
    keys they name (catalog convention 4, docs/catalog.md). Keys that are not
    concrete are listed in ``incomplete`` with CUE's reason, and blueprint
    fields that were not copied are listed in ``unforwarded``; a release
    with ``strict=True`` raises instead of returning either.
    """

    api_version: str | None = None
    """The component's ``apiVersion``, as the catalog sets it."""
    kind: str | None = None
    """The component's ``kind``, as the catalog sets it."""
    metadata: ReleasedComponentMetadata
    """Name, namespace, labels (the component's and the release's) and annotations."""
    resources: tuple[str, ...] = ()
    """FQNs of the component's resources, sorted."""
    traits: tuple[str, ...] = ()
    """FQNs of the component's traits, sorted."""
    spec: dict[str, Any]
    """Concrete spec keys (blueprint keys that are copies of resource and trait keys are left out)."""
    incomplete: tuple[IncompleteField, ...] = ()
    """Spec keys and metadata fields that are not concrete, left out of ``spec`` / ``metadata``."""
    unforwarded: tuple[str, ...] = ()
    """Fields of blueprint keys (``statelessWorkload.replicas``) whose data the spec key of the same name
    does not hold (the blueprint did not forward it); their blueprint key is then kept in ``spec``.
    Empty when the catalog forwards, as catalog convention 4 requires."""


# Modules ----------------------------------------------------------------------


class ModuleMetadata(_CatalogModel):
    """Metadata of a module, as the module writes it."""

    name: str
    """Name of the module."""
    version: str | None = None
    """Version of the module."""
    api_version: str | None = None
    """The module's own apiVersion in its metadata, where the catalog has one."""
    fqn: str | None = None
    """Fully qualified name of the module, where the catalog has one."""
    description: str | None = None
    """What the module deploys."""
    labels: Labels = Field(default_factory=dict)
    """Labels of the module."""
    annotations: Labels | None = None
    """Free-form annotations."""
    default_namespace: str | None = None
    """Namespace hint for tools; a release always states its namespace."""


class ModuleSource(OPMModel):
    """Where a module was read from, so that it can be loaded again (e.g. to release it)."""

    directory: str
    """Directory the module was loaded from (absolute)."""
    files: tuple[str, ...] = ()
    """Files loaded, relative to ``directory``; empty means the package in the directory."""
    package: str | None = None
    """The package loaded, when ``files`` is empty and the directory holds several."""


class _ModuleBase(OPMModel):
    """What ModuleDefinition and Module share."""

    api_version: str | None = None
    """The module's ``apiVersion``, as written."""
    kind: str | None = None
    """The module's ``kind``, as written (e.g. ``ModuleDefinition``, ``Module``)."""
    metadata: ModuleMetadata
    """Name, version and labels of the module."""
    components: dict[str, Component]
    """Components by id, in source order."""
    definitions: dict[str, AnyDefinition] = Field(default_factory=dict)
    """Every resource, trait and blueprint attached to a component, by FQN."""
    values_schema: str
    """The values schema (with its defaults) as CUE source."""
    default_values: dict[str, Any] | None = None
    """The values the schema's defaults give, or None when some value has no default."""
    values: dict[str, Any] | None = None
    """The module's own concrete values (e.g. when values.cue was loaded with it), if any."""
    layout: Layout = Field(default_factory=Layout)
    """Where the module and its parts were found (pass it as ``layout=`` to skip detection)."""
    source: ModuleSource | None = None
    """Where the module was read from; None when it was built from a Value."""


class ModuleDefinition(_ModuleBase):
    """What a developer writes: components built from blueprints (some component attaches one)."""

    form: Literal["definition"] = "definition"
    """Discriminator: some component attaches a blueprint."""


class Module(_ModuleBase):
    """A compiled (flattened) module: no component attaches a blueprint."""

    form: Literal["compiled"] = "compiled"
    """Discriminator: no component attaches a blueprint."""


AnyModule = Annotated[ModuleDefinition | Module, Field(discriminator="form")]
"""A ModuleDefinition or a Module, chosen by ``form``."""


# Releases ---------------------------------------------------------------------


class ReleaseMetadata(OPMModel):
    """Metadata of a release."""

    name: str
    """Release name; defaults to the module's name."""
    namespace: str = Field(pattern=_DNS_LABEL, max_length=63)
    """Namespace every component is released into (a DNS-1123 label)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """The labels given to :func:`cuepy.opm.release` (``labels=``), also set on every component."""
    annotations: dict[str, str] | None = None
    """Free-form annotations."""


class ModuleRef(OPMModel):
    """The module a release was computed from."""

    kind: str | None = None
    """The module's ``kind``, as written."""
    name: str
    """The module's name."""
    version: str | None = None
    """The module's version."""


class ModuleRelease(OPMModel):
    """A module bound to values and a namespace: its components as data."""

    api_version: str | None = None
    """The released module's ``apiVersion``."""
    kind: Literal["ModuleRelease"] = "ModuleRelease"
    """Tag of this model."""
    metadata: ReleaseMetadata
    """Name, namespace and labels of the release."""
    module: ModuleRef
    """Which module was released."""
    values: dict[str, Any]
    """The values the components were bound to: the given values with the schema defaults filled in."""
    components: dict[str, ReleasedComponent]
    """Components by id."""

    @property
    def complete(self) -> bool:
        """Whether every component is fully concrete and every blueprint key was forwarded."""
        return not any(c.incomplete or c.unforwarded for c in self.components.values())


def json_schema(model: Any = AnyModule) -> dict[str, Any]:
    """The JSON Schema of an OPM model class or union (by default :data:`AnyModule`)."""
    return TypeAdapter(model).json_schema(by_alias=True)
