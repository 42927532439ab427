"""Facts about the third-party-style test catalogs in tests/catalogs/ (see tests/catalogs/README.md).

Two catalogs, written for these tests in the styles real OPM catalogs use, each with a small, a medium and a
large application module:

* ``fieldstyle``: the seed's shape (everything closed, key-by-key spec copies, the module in a named field of
  its file, values schema ``#values``);
* ``embedstyle``: the current upstream shape (primitive specs embedded into the component spec, guards hoisted
  out of ``spec``, the module at the file's top level, values schema ``#config``).

Nothing here needs a registry: :func:`load_module` serves the catalog directory through ``cuepy.load(modules=)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent / "catalogs"
CATALOG_VERSION = "v0.1.0"
SIZES = ("small", "medium", "large")


@dataclass(frozen=True)
class Style:
    name: str
    module: str  # catalog module path with major version, as in the modules' cue.mod deps
    module_file: str  # the file that holds an application module
    module_field: dict[str, str | None]  # size -> field of the file that holds the module (None: top level)
    components_field: str
    values_field: str
    kind: str
    api_version: str
    component_counts: dict[str, int]
    nested_components: dict[str, tuple[str, ...]]  # size -> components on the nested blueprint

    @property
    def catalog_dir(self) -> Path:
        return ROOT / self.name / "catalog"

    @property
    def modules(self) -> dict[str, str]:
        """The ``modules=`` argument of cuepy.load that serves this catalog."""
        # cuepy wants the full version ("acme.test/platform@v0.1.0"); "...@v0" would be looked up in a registry.
        path = self.module.rsplit("@", 1)[0]
        return {f"{path}@{CATALOG_VERSION}": str(self.catalog_dir)}

    def module_dir(self, size: str) -> Path:
        return ROOT / self.name / size

    def path(self, size: str, rest: str) -> str:
        """A CUE path into the loaded module file, e.g. ``path("small", "#components")``."""
        field = self.module_field[size]
        return f"{field}.{rest}" if field else rest

    def values(self, size: str) -> Any:
        """The concrete values (values.json) for the module's values schema."""
        return json.loads((self.module_dir(size) / "values.json").read_text())


STYLES: dict[str, Style] = {
    "fieldstyle": Style(
        name="fieldstyle",
        module="acme.test/platform@v0",
        module_file="app_definition.cue",
        module_field={"small": "blogDefinition", "medium": "shopDefinition", "large": "marketDefinition"},
        components_field="#components",
        values_field="#values",
        kind="AppDefinition",
        api_version="platform.acme.test/v0alpha1",
        component_counts={"small": 2, "medium": 4, "large": 12},
        nested_components={"small": (), "medium": ("docs",), "large": ("help",)},
    ),
    "embedstyle": Style(
        name="embedstyle",
        module="example.org/kit@v0",
        module_file="module.cue",
        module_field={"small": None, "medium": None, "large": None},
        components_field="#components",
        values_field="#config",
        kind="ModuleDefinition",
        api_version="kit.example/v1",
        component_counts={"small": 2, "medium": 4, "large": 12},
        nested_components={"small": (), "medium": ("portal",), "large": ("site",)},
    ),
}


def load_module(style: str, size: str, **options: Any) -> Any:
    """cuepy.load of one application module file, its catalog served from the directory (no registry)."""
    import cuepy

    s = STYLES[style]
    return cuepy.load(s.module_dir(size), files=[s.module_file], modules=s.modules, **options)


def component_specs(style: str, size: str) -> dict[str, Any]:
    """Each component's spec, as Python data, with values.json bound to the values schema."""
    s = STYLES[style]
    module = load_module(style, size)
    bound = module.fill(s.path(size, s.values_field), s.values(size))
    components = bound.lookup(s.path(size, s.components_field))
    return {cid: comp.lookup("spec").to_python() for cid, comp in components.fields()}
