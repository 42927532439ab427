"""Pydantic models of the OPM objects: definitions, components, modules, releases.

The models mirror the CUE shapes of the ``cuepy.dev/opm/core@v0`` catalog
(docs/catalog.md), with snake_case attributes and the catalog's camelCase
keys as aliases, so ``model_dump()`` gives back the CUE field names and the
output of ``cue export`` validates directly.

What CUE keeps in definition fields (``#resources``, ``#traits``,
``#blueprints``, ``#components``, ``#values``) becomes plain data here:

* a :class:`Component` of a module lists the FQNs of what it attaches; the
  definitions themselves are in the module's ``definitions``, once each;
* a component of a module has **no spec**: before values are bound, a spec is
  a CUE schema with references to ``#values``, not data. Only a
  :class:`ReleasedComponent` (from :func:`cuepy.opm.release`) has a
  ``spec``, fully concrete;
* the values schema ``#values`` is kept as CUE source text
  (``values_schema``), with its defaults as data when they are complete
  (``default_values``).

Every model is frozen (assigning an attribute raises) and forbids unknown
keys: the CUE definitions are closed, so an unknown key means the model and
the catalog have drifted apart, which should fail loudly rather than drop
data. Variants are told apart by their ``kind`` tag: :data:`AnyDefinition`,
:data:`AnyModule`.
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

CoreAPIVersion = Literal["cuepy.dev/opm/core@v0"]
#: apiVersion of every object of the core package.
CORE_API_VERSION: CoreAPIVersion = "cuepy.dev/opm/core@v0"
Labels = dict[str, str]


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


# Definitions ------------------------------------------------------------------


class DefinitionMetadata(OPMModel):
    """Metadata shared by Resources, Traits and Blueprints (CUE ``#DefinitionMetadata``)."""

    api_version: str
    """Package the definition lives in, e.g. ``cuepy.dev/opm/resources@v0``."""
    name: str
    """PascalCase name of the definition, e.g. ``Container``."""
    fqn: str
    """Fully qualified name ``<apiVersion>#<name>``: the key a component attaches it under."""
    description: str | None = None
    """What the definition is for."""
    labels: Labels = Field(default_factory=dict)
    """Labels every component the definition is attached to inherits."""
    annotations: dict[str, str] | None = None
    """Free-form annotations."""


class Resource(OPMModel):
    """What exists in a component: a container, volumes, configuration files."""

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    kind: Literal["Resource"] = "Resource"
    """Discriminator tag."""
    metadata: DefinitionMetadata
    """Name, FQN, labels of the resource."""
    spec_key: str
    """The one camelCase key the resource's ``#spec`` declares, e.g. ``container``."""


class Trait(OPMModel):
    """How a component behaves: replicas, health checks, restart policy, ..."""

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    kind: Literal["Trait"] = "Trait"
    """Discriminator tag."""
    metadata: DefinitionMetadata
    """Name, FQN, labels of the trait."""
    spec_key: str
    """The one camelCase key the trait's ``#spec`` declares, e.g. ``replicas``."""
    applies_to: tuple[str, ...] = ()
    """FQNs of the resources the trait makes sense with (informational)."""


class Blueprint(OPMModel):
    """A named composition of resources, traits and other blueprints."""

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    kind: Literal["Blueprint"] = "Blueprint"
    """Discriminator tag."""
    metadata: DefinitionMetadata
    """Name, FQN, labels of the blueprint."""
    spec_key: str
    """The one camelCase key the blueprint's ``#spec`` declares, e.g. ``statelessWorkload``."""
    composed_resources: tuple[str, ...]
    """FQNs of the resources the blueprint composes (CUE holds the definitions; we keep their FQNs)."""
    composed_traits: tuple[str, ...] = ()
    """FQNs of the traits the blueprint composes."""
    composed_blueprints: tuple[str, ...] = ()
    """FQNs of the blueprints the blueprint composes (nested blueprints)."""


AnyDefinition = Annotated[Resource | Trait | Blueprint, Field(discriminator="kind")]
"""A Resource, Trait or Blueprint, chosen by ``kind``."""


# Components -------------------------------------------------------------------


class ComponentMetadata(OPMModel):
    """Metadata of a component of a module."""

    name: str
    """Component id: the key of the component in the module's ``#components``."""
    labels: Labels = Field(default_factory=dict)
    """The component's own labels plus those of everything attached to it."""
    annotations: dict[str, str] | None = None
    """Free-form annotations."""


class Component(OPMModel):
    """A component of a module, before values are bound: what it attaches, not its spec.

    The spec of an unreleased component is a CUE schema that may refer to
    ``#values``, so it is not data; release the module to get concrete specs.
    """

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    kind: Literal["Component"] = "Component"
    """Discriminator tag."""
    metadata: ComponentMetadata
    """Name, labels and annotations."""
    resources: tuple[str, ...] = ()
    """FQNs of the attached resources, sorted."""
    traits: tuple[str, ...] = ()
    """FQNs of the attached traits, sorted."""
    blueprints: tuple[str, ...] = ()
    """FQNs of the attached blueprints, sorted; always empty in a compiled Module."""


class ReleasedComponentMetadata(ComponentMetadata):
    """Metadata of a released component: the component's, plus the namespace."""

    namespace: str
    """Namespace of the release."""


class ReleasedComponent(OPMModel):
    """A component of a release (CUE ``#ModuleRelease.components.<id>``): fully concrete."""

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    kind: Literal["Component"] = "Component"
    """Discriminator tag."""
    metadata: ReleasedComponentMetadata
    """Name, namespace, labels (with the module.cuepy.dev/* release labels) and annotations."""
    resources: tuple[str, ...] = ()
    """FQNs of the component's resources, sorted."""
    traits: tuple[str, ...] = ()
    """FQNs of the component's traits, sorted."""
    spec: dict[str, Any]
    """Concrete spec: one key per resource and trait (blueprint-level keys are dropped, they are copies)."""


# Modules ----------------------------------------------------------------------


class ModuleMetadata(OPMModel):
    """Metadata of a module (CUE ``#ModuleMetadata``)."""

    name: str
    """DNS-1123 name of the module."""
    version: str
    """Semantic version without a leading ``v``."""
    description: str | None = None
    """What the module deploys."""
    labels: Labels = Field(default_factory=dict)
    """Labels of the module."""
    annotations: dict[str, str] | None = None
    """Free-form annotations."""
    default_namespace: str | None = None
    """Namespace hint for tools; a release always states its namespace."""


class ModuleSource(OPMModel):
    """Where a module was read from, so that it can be loaded again (e.g. to release it)."""

    directory: str
    """Directory the module was loaded from (absolute)."""
    files: tuple[str, ...] = ()
    """Files loaded, relative to ``directory``; empty means the package in the directory."""


class _ModuleBase(OPMModel):
    """What ModuleDefinition and Module share."""

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    metadata: ModuleMetadata
    """Name, version and labels of the module."""
    components: dict[str, Component]
    """Components by id, in source order."""
    definitions: dict[str, AnyDefinition] = Field(default_factory=dict)
    """Every resource, trait and blueprint attached to a component, by FQN."""
    values_schema: str
    """The ``#values`` schema (with its defaults) as CUE source."""
    default_values: dict[str, Any] | None = None
    """The values the schema's defaults give, or None when some value has no default."""
    values: dict[str, Any] | None = None
    """The module's own concrete ``values`` (e.g. when values.cue was loaded with it), if any."""
    source: ModuleSource | None = None
    """Where the module was read from; None when it was built from a Value."""


class ModuleDefinition(_ModuleBase):
    """What a developer writes: components built from blueprints, resources and traits."""

    kind: Literal["ModuleDefinition"] = "ModuleDefinition"
    """Discriminator tag."""


class Module(_ModuleBase):
    """A compiled (flattened) module: components attach resources and traits only."""

    kind: Literal["Module"] = "Module"
    """Discriminator tag."""


AnyModule = Annotated[ModuleDefinition | Module, Field(discriminator="kind")]
"""A ModuleDefinition or a Module, chosen by ``kind``."""


# Releases ---------------------------------------------------------------------


class ReleaseMetadata(OPMModel):
    """Metadata of a release."""

    name: str
    """Release name; defaults to the module's name."""
    namespace: str
    """Namespace every component is released into."""
    labels: Labels = Field(default_factory=dict)
    """module.cuepy.dev/name, module.cuepy.dev/version and module.cuepy.dev/release."""
    annotations: dict[str, str] | None = None
    """Free-form annotations."""


class ModuleRef(OPMModel):
    """The module a release was computed from."""

    kind: Literal["ModuleDefinition", "Module"]
    """Whether a ModuleDefinition or a compiled Module was released."""
    name: str
    """The module's name."""
    version: str
    """The module's version."""


class ModuleRelease(OPMModel):
    """A module bound to values and a namespace: concrete components (CUE ``#ModuleRelease``)."""

    api_version: CoreAPIVersion = CORE_API_VERSION
    """Always ``cuepy.dev/opm/core@v0``."""
    kind: Literal["ModuleRelease"] = "ModuleRelease"
    """Discriminator tag."""
    metadata: ReleaseMetadata
    """Name, namespace and labels of the release."""
    module: ModuleRef
    """Which module was released."""
    values: dict[str, Any]
    """The values the components were bound to: the given values with the schema defaults filled in."""
    components: dict[str, ReleasedComponent]
    """Concrete components by id."""


def json_schema(model: Any = AnyModule) -> dict[str, Any]:
    """The JSON Schema of an OPM model class or union (by default :data:`AnyModule`)."""
    return TypeAdapter(model).json_schema(by_alias=True)
