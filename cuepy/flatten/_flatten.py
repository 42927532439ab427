"""``flatten``: a ModuleDefinition in, the equivalent compiled Module (CUE source) out."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuepy.api import load as cue_load
from cuepy.errors import CueError
from cuepy.flatten._catalog import Blueprint, FlattenError
from cuepy.flatten._probe import Probe
from cuepy.flatten._rewrite import (
    Component,
    Edit,
    Unit,
    check_spec_selectors,
    find_components,
    module_refs,
    module_structs,
)
from cuepy.flatten._syntax import Decl, Ref, Span
from cuepy.trace import run as trace_run
from cuepy.value import Value

StrPath = str | os.PathLike[str]

_PACKAGE = re.compile(r"^package\s+([\w$#]+)", re.MULTILINE)
_PROVENANCE = re.compile(r'@cuepy\(flattened, sources="sha256:([0-9a-f]{64})", cuepy="([^"]*)", cue="([^"]*)"\)')
_LOAD_OPTIONS = ("registry", "modules", "cache_dir")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a compiled Module comes from."""

    sha256: str
    """Digest of the input sources: cue.mod/module.cue (it pins the catalog) and the module files."""
    cuepy_version: str
    cue_version: str
    sources: tuple[str, ...] = ()
    """The hashed files, relative to the module root."""

    def attribute(self) -> str:
        versions = f'cuepy="{self.cuepy_version}", cue="{self.cue_version}"'
        return f'@cuepy(flattened, sources="sha256:{self.sha256}", {versions})'

    @classmethod
    def parse(cls, source: str) -> Provenance | None:
        """The provenance written into flattened CUE source, if any."""
        m = _PROVENANCE.search(source)
        return cls(m.group(1), m.group(2), m.group(3)) if m else None


@dataclass(frozen=True)
class CompiledModule:
    """The CUE source of a compiled Module and where it belongs."""

    source: str
    provenance: Provenance
    directory: Path
    """The package directory of the ModuleDefinition; the Module's imports resolve from there."""
    filename: str
    """A file name for the Module in ``directory`` (it is not written unless asked)."""
    load_options: Mapping[str, Any] = field(default_factory=dict)
    """registry / modules / cache_dir the ModuleDefinition was loaded with."""

    def write(self, path: StrPath | None = None) -> Path:
        """Write the source to ``path`` (default: ``directory / filename``) and return the path."""
        target = Path(path) if path is not None else self.directory / self.filename
        target.write_text(self.source, encoding="utf-8")
        return target

    def load(self, **options: Any) -> Value:
        """Load the Module inside its original module (as an overlay), so its imports resolve.

        ``options`` go to ``cuepy.load`` and override the ones of the flatten call.
        """
        merged = {**self.load_options, **options}
        overlay = {**merged.pop("overlay", {}), self.filename: self.source}
        return cue_load(self.directory, files=[self.filename], overlay=overlay, **merged)


@dataclass
class _Inputs:
    directory: Path
    files: list[Path]
    texts: list[str]
    load_files: list[str] | None
    """``files=`` for cuepy.load; None to load the package."""
    package: str | None
    options: dict[str, Any]
    value: Value | None = None


def flatten(
    source: Value | StrPath,
    *,
    file: StrPath | None = None,
    package: str | None = None,
    registry: Any = None,
    modules: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    verify: bool = True,
) -> CompiledModule:
    """Compile a ModuleDefinition into the equivalent Module (docs/catalog.md, section 2).

    - ``source``: a directory of the module (with ``file``: the module definition file in it;
      without: its package, ``package`` choosing one) or a ModuleDefinition Value loaded from
      a single file.
    - ``registry``, ``modules``, ``cache_dir``: as for ``cuepy.load``; kept for ``.load()``.
    - ``verify``: load the result (one load of the compiled Module, about a third of a
      ModuleDefinition's) to check it; without it, errors in the module surface at ``.load()``.

    Raises CueEvalError (naming the component and its source position) when the definition does
    not evaluate, FlattenError when a blueprint cannot be expanded.
    """
    options = {k: v for k, v in zip(_LOAD_OPTIONS, (registry, modules, cache_dir), strict=True) if v is not None}
    inputs = _resolve(source, file, package, options)

    def run() -> CompiledModule:
        return _Flattener(inputs).run(verify=verify)

    return trace_run("flatten", run, path=str(inputs.directory), files=[f.name for f in inputs.files])


# Inputs ------------------------------------------------------------------------


def _resolve(source: Value | StrPath, file: StrPath | None, package: str | None, options: dict[str, Any]) -> _Inputs:
    if isinstance(source, Value):
        return _from_value(source, options)
    directory = Path(source).absolute()
    if not directory.is_dir():
        raise FlattenError(f"{directory}: not a directory")
    if file is not None:
        path = directory / file
        files = [path]
        load_files: list[str] | None = [str(path.relative_to(directory))]
    else:
        files, package = _package_files(directory, package)
        load_files = None
    return _Inputs(directory, files, [f.read_text(encoding="utf-8") for f in files], load_files, package, options)


def _from_value(value: Value, options: dict[str, Any]) -> _Inputs:
    info = value.source()
    if not info.get("file"):
        raise FlattenError("this Value has no single source file (a package of several files?): "
                           "pass the module directory (and file=) instead")  # fmt: skip
    path = Path(info["file"])
    # The file on disk is what the user edits (error positions refer to it); the value's own
    # formatted text only stands in for files that were never on disk (overlays).
    text = path.read_text(encoding="utf-8") if path.is_file() else str(info["text"])
    return _Inputs(path.parent, [path], [text], [path.name], None, options, value)


def _package_files(directory: Path, package: str | None) -> tuple[list[Path], str]:
    by_package: dict[str, list[Path]] = {}
    for path in sorted(directory.glob("*.cue")):
        if path.name.startswith(("_", ".")):
            continue  # cue/load ignores these
        m = _PACKAGE.search(path.read_text(encoding="utf-8"))
        by_package.setdefault(m.group(1) if m else "_", []).append(path)
    if package is None and len(by_package) == 1:
        package = next(iter(by_package))
    if package is None or package not in by_package:
        raise FlattenError(f"{directory}: choose a package ({', '.join(sorted(by_package)) or 'none found'}) "
                           "or a file")  # fmt: skip
    return by_package[package], package


def _module_root(directory: Path) -> Path | None:
    for d in (directory, *directory.parents):
        if (d / "cue.mod" / "module.cue").is_file():
            return d
    return None


def _provenance(inputs: _Inputs) -> Provenance:
    import cuepy

    root = _module_root(inputs.directory) or inputs.directory
    entries = [(f, t.encode()) for f, t in zip(inputs.files, inputs.texts, strict=True)]
    if (root / "cue.mod" / "module.cue").is_file():
        entries.insert(0, (root / "cue.mod" / "module.cue", (root / "cue.mod" / "module.cue").read_bytes()))
    digest = hashlib.sha256()
    names = []
    for path, data in entries:
        name = os.path.relpath(path, root)
        names.append(name)
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return Provenance(digest.hexdigest(), cuepy.__version__, str(cuepy.__cue_version__), tuple(names))


# The flattener ------------------------------------------------------------------


class _Flattener:
    def __init__(self, inputs: _Inputs) -> None:
        self.inputs = inputs
        self._units: list[Unit] | None = None
        self._imports: dict[str, None] = {}
        """The import specs of the output, in order (a dict as an ordered set)."""

    @property
    def units(self) -> list[Unit]:
        if self._units is None:
            self._units = [
                Unit(text, str(path), os.path.relpath(path, self.inputs.directory))
                for path, text in zip(self.inputs.files, self.inputs.texts, strict=True)
            ]
        return self._units

    def run(self, *, verify: bool) -> CompiledModule:
        if self.inputs.value is not None:
            self._check(self.inputs.value)
        probe = Probe(self.units, self.inputs.directory, self.inputs.options)
        kind = self._rename_kind()
        ids = self._flatten_components(probe)
        self._check_blueprint_references(probe)
        result = self._result()
        if verify:
            self._verify(result, ids, kind)
        return result

    # Errors -----------------------------------------------------------------------

    def _check(self, definition: Value) -> None:
        try:
            definition.validate()
        except CueError as exc:
            raise self._name_component(exc) from exc

    def _verify(self, result: CompiledModule, ids: set[str], kind: str) -> None:
        """The Module loads, as a Module, with every component the source writes.

        When it does not, the definition tells whose fault it is: an error there is the
        user's (reported against their source), none means the flattening went wrong.
        """
        try:
            module = result.load()
            got_kind = module.lookup("kind").to_python()
            got = {cid for cid, _ in module.lookup("#components").fields()}
        except CueError as exc:
            self._check(self.inputs.value or self._load_definition())
            raise FlattenError(f"the flattened module does not load although the definition does (a catalog "
                               f"breaking docs/catalog.md's conventions, or a flattener bug): {exc}",
                               exc.errors) from exc  # fmt: skip
        if got_kind != "Module" or not ids <= got:
            raise FlattenError(f"the flattened {kind} is a {got_kind!r} without components {sorted(ids - got)}")

    def _load_definition(self) -> Value:
        inputs = self.inputs
        try:
            return cue_load(inputs.directory, files=inputs.load_files, package=inputs.package, **inputs.options)
        except CueError as exc:
            raise self._name_component(exc) from exc

    def _name_component(self, exc: CueError) -> CueError:
        """The same error, its headline naming the component and the user's source line."""
        ids = [e.path[1] for e in exc.errors if len(e.path) > 1 and e.path[0] == "#components"]
        if not ids:
            return exc
        where = self._user_position(ids[0], exc)
        prefix = f"component {ids[0]!r}" + (f" ({where})" if where else "")
        return type(exc)(f"{prefix}: {exc.text}", exc.errors)

    def _user_position(self, component: str, exc: CueError) -> str:
        files = {str(f) for f in self.inputs.files}
        mine = [p for p in exc.positions if p.file in files]
        try:
            parts = find_components(self.units).get(component, [])
            lines = {(p.unit.src.filename, line) for p in parts for s in p.structs for line in _lines(p.unit, s.span)}
            inside = [p for p in mine if (p.file, p.line) in lines]
            mine = inside or mine
        except CueError:
            pass  # a file the flattener cannot parse: fall back to any position in the user's files
        return str(mine[-1]) if mine else ""

    # Components ---------------------------------------------------------------

    def _flatten_components(self, probe: Probe) -> set[str]:
        """Rewrite every component that embeds blueprints; returns the component ids written."""
        found = find_components(self.units)
        taken = self._taken_names(found)

        def resolve(unit: Unit, ref: Ref) -> Blueprint | None:
            spec = unit.import_of(ref)
            return probe.blueprint((spec.path, ref.names[1])) if spec is not None else None

        components = [Component(cid, parts, taken, resolve) for cid, parts in found.items()]
        for component in components:
            component.flatten()
        for component in components:
            component.check_references()
        check_spec_selectors(self.units, set().union(*(c.stripped for c in components)))
        return set(found)

    def _taken_names(self, found: dict[str, list[Any]]) -> set[str]:
        """Names an import alias added to a file could be shadowed by, seen from a component."""
        taken = set(found)
        for unit in self.units:
            for struct in module_structs(unit):
                taken |= {d.labels[0].name or "" for d in struct.decls if d.kind == "field"}
        for parts in found.values():
            taken |= {f.labels[0].name or "" for p in parts for f in p.fields}
        return taken

    # Module level ---------------------------------------------------------------

    def _rename_kind(self) -> str:
        """core.#ModuleDefinition -> core.#Module, kind: "ModuleDefinition" -> "Module"; the input's kind."""
        kinds: set[str] = set()
        for unit in self.units:
            for ref in module_refs(unit):
                if unit.import_of(ref) is not None and ref.names[1] in ("#ModuleDefinition", "#Module"):
                    kinds.add(ref.names[1][1:])
                    if ref.names[1] == "#ModuleDefinition":
                        unit.replace(Span(ref.span.stop - 1, ref.span.stop), "#Module")
            for struct in module_structs(unit):
                for decl in struct.decls:
                    kinds |= _rename_kind_field(unit, decl)
        if not kinds:
            raise FlattenError(f"{self.inputs.files[0]}: not a ModuleDefinition: found no top-level "
                               "`<core>.#ModuleDefinition` embedding (or `kind` field)")  # fmt: skip
        return "ModuleDefinition" if "ModuleDefinition" in kinds else "Module"

    def _check_blueprint_references(self, probe: Probe) -> None:
        """No blueprint may survive: a reference left to one would need the blueprint import."""
        for unit in self.units:
            toks = unit.src.tokens
            for i in unit.references():
                spec = unit.by_alias.get(toks[i].text)
                name = toks[i + 2].text if i + 2 < len(toks) and toks[i + 1].text == "." else ""
                if spec is not None and probe.is_blueprint((spec.path, name)):
                    raise FlattenError(f"{unit.position(i)}: {toks[i].text}.{name} is still referred to: the "
                                       "flattener only expands blueprint mixins embedded in components")  # fmt: skip

    # Output -----------------------------------------------------------------------

    def _result(self) -> CompiledModule:
        provenance = _provenance(self.inputs)
        texts = [self._unit_text(unit, first=i == 0) for i, unit in enumerate(self.units)]
        prelude = self._prelude(provenance)
        body = "\n".join(texts).replace(_MARKER, prelude, 1)
        header = _header(self.units)
        stem = self.inputs.files[0].stem if self.inputs.load_files else self.inputs.package or "module"
        filename = f"{stem}_flattened.cue"
        return CompiledModule(header + body, provenance, self.inputs.directory, filename, dict(self.inputs.options))

    def _unit_text(self, unit: Unit, *, first: bool) -> str:
        """The file with its package clause and imports swapped for a marker (first file) or nothing."""
        prelude = [d for d in unit.tree.decls if d.kind in ("package", "import")]
        if not prelude:
            raise FlattenError(f"{unit.src.filename}: no package clause")
        self._imports.update(dict.fromkeys(unit.import_block()))
        start = unit.src.tokens[prelude[0].span.first].start
        end = unit.src.tokens[prelude[-1].span.stop - 1].end
        unit.edits.append(Edit(start, end, _MARKER if first else ""))
        text = unit.apply()
        if not first:
            text = f"\n// From {unit.relname}.\n" + text.lstrip("\n")
        return text

    def _prelude(self, provenance: Provenance) -> str:
        package = _PACKAGE.search(self.units[0].src.text)
        name = package.group(1) if package else "module"
        lines = list(self._imports)
        aliases = [line.split()[0] for line in lines if " " in line]
        if len(aliases) != len(set(aliases)):
            raise FlattenError(f"the files import different packages under one name: {', '.join(lines)}")
        block = "\nimport (\n" + "".join(f"\t{line}\n" for line in lines) + ")\n" if lines else ""
        return f"package {name}\n{block}\n{provenance.attribute()}"


_MARKER = "\x00cuepy-prelude\x00"


def _header(units: list[Unit]) -> str:
    names = ", ".join(u.relname for u in units)
    return (
        "// Code generated by cuepy flatten; DO NOT EDIT.\n"
        f"// The compiled Module of {names}: every blueprint replaced by the resources\n"
        "// and traits it composes. Its sources and versions: the @cuepy attribute.\n\n"
    )


def _rename_kind_field(unit: Unit, decl: Decl) -> set[str]:
    if decl.kind != "field" or [label.name for label in decl.labels] != ["kind"] or decl.value is None:
        return set()
    span = decl.value.span
    tok = unit.src.tokens[span.first]
    if span.stop - span.first != 1 or tok.text not in ('"ModuleDefinition"', '"Module"'):
        return set()
    if tok.text == '"ModuleDefinition"':
        unit.replace(span, '"Module"')
    return {json.loads(tok.text)}


def _lines(unit: Unit, span: Span) -> range:
    toks = unit.src.tokens
    return range(unit.src.position(toks[span.first].start).line, unit.src.position(toks[span.stop - 1].end).line + 1)
