"""What the blueprints compose, read from evaluated values (docs/catalog.md, section 2).

Nothing here knows a particular catalog: mixin names and import paths are
derived from FQNs (``<apiVersion>#<Name>``, apiVersion = package path, mixin
``#<Name>`` in that package), spec keys from each definition's ``#spec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cuepy.errors import CueError
from cuepy.value import Value


class FlattenError(CueError):
    """The flattener cannot expand a blueprint or produce an equivalent Module."""


@dataclass(frozen=True, slots=True)
class Mixin:
    """The component mixin of a resource, trait or blueprint: ``<package>.#<Name>``."""

    fqn: str

    @property
    def package(self) -> str:
        """The import path of the mixin's package (the definition's apiVersion)."""
        return self.fqn.rpartition("#")[0]

    @property
    def name(self) -> str:
        """The mixin's definition name, ``#<Name>``."""
        return "#" + self.fqn.rpartition("#")[2]


@dataclass(frozen=True, slots=True)
class Blueprint:
    fqn: str
    spec_key: str
    labels: dict[str, str]
    mixins: tuple[Mixin, ...]
    """Mixins of the composed resources, then traits (convention 4)."""
    children: tuple[Blueprint, ...] = field(default=())
    """Composed blueprints."""

    def expansion(self) -> list[Mixin]:
        """All mixins the blueprint stands for, composed blueprints expanded in place."""
        out = list(self.mixins)
        for child in self.children:
            out += child.expansion()
        return out

    def all_labels(self) -> dict[str, str]:
        """The labels the blueprint mixin gives a component: its own and its children's."""
        labels = dict(self.labels)
        for child in self.children:
            labels.update(child.all_labels())
        return labels

    def descendants(self) -> set[str]:
        out: set[str] = set()
        for child in self.children:
            out |= {child.fqn} | child.descendants()
        return out

    @property
    def mixin(self) -> Mixin:
        return Mixin(self.fqn)


class Catalog:
    """Blueprints read once per FQN from the evaluated module (reading is cheap, repeating it is not)."""

    def __init__(self) -> None:
        self._blueprints: dict[str, Blueprint] = {}

    def blueprint(self, fqn: str, value: Value) -> Blueprint:
        found = self._blueprints.get(fqn)
        if found is None:
            found = self._blueprints[fqn] = self._read(fqn, value)
        return found

    def blueprints(self) -> list[Blueprint]:
        """Every blueprint read so far."""
        return list(self._blueprints.values())

    def _read(self, fqn: str, value: Value) -> Blueprint:
        try:
            spec_key, fields = _spec(value, fqn)
            resources = [_definition(r, fqn) for r in value.lookup("composedResources").elements()]
            traits = [_definition(t, fqn) for t in _elements(value, "composedTraits")]
            children = [self.blueprint(_fqn(b), b) for b in _elements(value, "composedBlueprints")]
            labels = value.lookup("metadata.labels").to_python()
        except FlattenError:
            raise
        except CueError as exc:
            raise FlattenError(f"blueprint {fqn}: cannot read what it composes: {exc}", exc.errors) from exc
        composed = [key for key, _ in resources + traits] + [c.spec_key for c in children]
        if sorted(composed) != sorted(fields):
            raise FlattenError(
                f"blueprint {fqn} does not follow the catalog convention: its spec "
                f"{spec_key}: {{{', '.join(fields)}}} is not exactly the spec keys of what it "
                f"composes ({', '.join(composed)})"
            )
        mixins = tuple(Mixin(f) for _, f in resources + traits)
        return Blueprint(fqn, spec_key, labels, mixins, tuple(children))


def _fqn(value: Value) -> str:
    fqn = value.lookup("metadata.fqn").to_python()
    if not isinstance(fqn, str) or "#" not in fqn:
        raise FlattenError(f"definition has no usable metadata.fqn: {fqn!r}")
    return fqn


def _elements(value: Value, path: str) -> list[Value]:
    found = value.get(path)
    return list(found.elements()) if found is not None else []


def _spec(value: Value, fqn: str) -> tuple[str, list[str]]:
    """A definition's single spec key (convention 1) and, for a blueprint, the fields under it."""
    keys = [k for k, _ in value.lookup("#spec").fields()]
    if len(keys) != 1:
        raise FlattenError(f"{fqn}: #spec must declare exactly one key (convention 1), not {keys}")
    inner = value.lookup("#spec").lookup(_path_label(keys[0]))
    return keys[0], [k for k, _ in inner.fields(optional=True)]


def _definition(value: Value, blueprint: str) -> tuple[str, str]:
    """(spec key, fqn) of a composed resource or trait."""
    fqn = _fqn(value)
    keys = [k for k, _ in value.lookup("#spec").fields()]
    if len(keys) != 1:
        raise FlattenError(f"{fqn} (composed by {blueprint}): #spec must declare exactly one key, not {keys}")
    return keys[0], fqn


def _path_label(label: str) -> str:
    """``label`` as one CUE path element."""
    if label.replace("_", "a").isalnum() and not label[0].isdigit() and not label.startswith("_"):
        return label
    return '"' + label.replace("\\", "\\\\").replace('"', '\\"') + '"'
