"""Which references name blueprint mixins, and what those blueprints compose.

Evaluating the whole ModuleDefinition is what flattening exists to avoid (it
is the slow part), so the flattener evaluates only the definitions the
module refers to (``pkg.#Name``), in one small overlay file loaded inside the
module: each one's ``#blueprints`` says whether it is a blueprint mixin and,
with the catalog conventions, everything the rewrite needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cuepy.api import load as cue_load
from cuepy.errors import CueError
from cuepy.flatten._catalog import Blueprint, Catalog, FlattenError
from cuepy.flatten._lexer import Kind
from cuepy.flatten._rewrite import Unit, same_package
from cuepy.value import Value

_PROBE_FILE = "cuepy_flatten_probe.cue"

Target = tuple[str, str]
"""(import path, ``#Name``)."""


class Probe:
    def __init__(self, units: Iterable[Unit], directory: Path, options: dict[str, Any]) -> None:
        self.catalog = Catalog()
        self.targets = _targets(units)
        self._value = _load(self.targets, directory, options) if self.targets else None
        self._index = {t: i for i, t in enumerate(self.targets)}
        self._resolved: dict[Target, Blueprint | None] = {}

    def blueprint(self, target: Target) -> Blueprint | None:
        """The blueprint ``target`` is the mixin of; None for anything else that attaches no blueprint."""
        if target not in self._resolved:
            self._resolved[target] = self._resolve(target)
        return self._resolved[target]

    def is_blueprint(self, target: Target) -> bool:
        """A blueprint mixin, or a blueprint definition itself: what the output must not refer to."""
        value = self._target_value(target)
        if value is None:
            return False
        if self._attached(value):
            return True
        kind = value.get("kind")
        try:
            return kind is not None and kind.is_concrete() and kind.to_python() == "Blueprint"
        except CueError:
            return False

    def _resolve(self, target: Target) -> Blueprint | None:
        value = self._target_value(target)
        attached = self._attached(value) if value is not None else {}
        if not attached:
            return None
        path, name = target
        own = [bp for bp in attached.values() if same_package(path, bp.mixin.package) and bp.mixin.name == name]
        if not own:
            raise FlattenError(f"{path}.{name} attaches blueprint {', '.join(attached)} but is not its mixin "
                               "(docs/catalog.md, convention 5): the flattener cannot expand it")  # fmt: skip
        extra = set(attached) - {own[0].fqn} - own[0].descendants()
        if extra:
            raise FlattenError(f"{path}.{name} attaches blueprints it does not compose ({', '.join(sorted(extra))}): "
                               "the flattener cannot expand it")  # fmt: skip
        return own[0]

    def _target_value(self, target: Target) -> Value | None:
        if self._value is None or target not in self._index:
            return None
        return self._value.lookup(f"r{self._index[target]}")

    def _attached(self, value: Value) -> dict[str, Blueprint]:
        found = value.get("#blueprints")
        if found is None or not found.is_concrete():
            return {}
        return {fqn: self.catalog.blueprint(fqn, bp) for fqn, bp in found.fields()}


def _targets(units: Iterable[Unit]) -> list[Target]:
    """Every ``alias.#Name`` of an imported (non-standard-library) package, in order."""
    found: dict[Target, None] = {}
    for unit in units:
        toks = unit.src.tokens
        for i in unit.references():
            spec = unit.by_alias.get(toks[i].text)
            if spec is None or "." not in spec.path.split("/", 1)[0] or i + 2 >= len(toks):
                continue
            dot, name = toks[i + 1], toks[i + 2]
            if dot.kind is Kind.PUNCT and dot.text == "." and name.kind is Kind.IDENT and name.text.startswith("#"):
                found[(spec.path, name.text)] = None
    return list(found)


def _load(targets: list[Target], directory: Path, options: dict[str, Any]) -> Value:
    paths = list(dict.fromkeys(path for path, _ in targets))
    lines = ["package cuepyprobe", "import ("]
    lines += [f"\tp{i} {json.dumps(path)}" for i, path in enumerate(paths)]
    lines += [")"]
    lines += [f"r{i}: p{paths.index(path)}.{name}" for i, (path, name) in enumerate(targets)]
    try:
        return cue_load(directory, files=[_PROBE_FILE], overlay={_PROBE_FILE: "\n".join(lines) + "\n"}, **options)
    except CueError as exc:
        raise FlattenError(f"cannot evaluate the definitions the module refers to: {exc}", exc.errors) from exc
