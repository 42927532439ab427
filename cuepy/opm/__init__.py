"""Open Platform Model modules as Python models: read them, release them.

* :func:`read` loads a module (a ``core.#ModuleDefinition`` or a compiled
  ``core.#Module``) and returns a :class:`ModuleDefinition` or
  :class:`Module`: metadata, components with the FQNs of their resources,
  traits and blueprints, the definitions they use, the values schema;
* :func:`release` binds a module to values and a namespace through the
  catalog's ``core.#ModuleRelease`` and returns a :class:`ModuleRelease`
  with concrete component specs;
* :func:`json_schema` gives the JSON Schema of the models.

See docs/catalog.md for the catalog and the release computation.
"""

from __future__ import annotations

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
    "read",
    "release",
]
