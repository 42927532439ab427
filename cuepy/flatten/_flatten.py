"""``flatten``: a module whose structs embed composite definitions in, the same module written out.

The work is done in Go on CUE's own syntax trees (go/internal/flatten); this
module hands it the load configuration and wraps what comes back.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cuepy._native import check, interruptible, native, take_bytes
from cuepy.api import LoadInputs, LoadOptions, RegistryLike, load_config, merge_options
from cuepy.api import load as cue_load
from cuepy.errors import CueError, Position
from cuepy.trace import run as trace_run
from cuepy.value import Value

StrPath = str | os.PathLike[str]


class FlattenError(CueError):
    """The flattener was asked something it cannot do (no module file, no package to choose)."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a compiled module comes from, and what in it stayed as written."""

    sha256: str
    """Digest of the rewritten files as the user wrote them, and of ``cue.mod/module.cue``."""
    cuepy_version: str
    """The cuepy that flattened it."""
    cue_version: str
    """The CUE version it was flattened with."""
    sources: tuple[str, ...] = ()
    """The hashed files, relative to the module root."""
    not_flattened: tuple[str, ...] = ()
    """``"<path> (<file:line:col>): <reason>"`` for each struct embedding a composite definition that
    stays as written (the module is still correct; that struct keeps its evaluation cost)."""


@dataclass(frozen=True, slots=True)
class Struct:
    """One struct of the user's files that embeds a composite definition (a component, usually)."""

    path: str
    """Its CUE path from the file's root (``""`` when it is not reachable by plain labels)."""
    position: Position
    """Where it starts in the user's file."""
    flattened: bool
    """Whether its embedded definitions were written out."""
    inlined: tuple[str, ...]
    """The definitions written out in it, ``<import path>.<#Name>``."""
    reason: str
    """Why it was not flattened ("" when it was)."""


Row = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class LineMap:
    """Where the printed lines of one rewritten file come from. Kept packed in one string: a
    cache reads it with every stored module and it is unpacked only to place an error (as
    lists and tuples, the large example's map made a new process's cache hit collect garbage)."""

    sources: tuple[str, ...]
    """The files the lines come from (the user's, or the catalog's for a written-out declaration)."""
    packed: str
    """The rows (see :attr:`rows`), each five integers joined by ``,``, rows joined by ``;``."""

    @classmethod
    def of(cls, sources: tuple[str, ...], rows: Iterable[Row]) -> LineMap:
        return cls(sources, ";".join(",".join(map(str, row)) for row in rows))

    @property
    def rows(self) -> tuple[Row, ...]:
        """In printed order: ``(line, column, index in sources, original line, original column)`` of
        the first node printed on a line, and of each later node on it that the row before does not
        place (the printer aligned it otherwise than the user did)."""
        if not self.packed:
            return ()
        return tuple(cast(Row, tuple(map(int, row.split(",")))) for row in self.packed.split(";"))

    def well_formed(self) -> bool:
        """Whether each row is five integers and names one of the sources (what a load checks)."""
        try:
            return all(len(row) == 5 and 0 <= row[2] < len(self.sources) for row in self.rows)
        except ValueError:
            return False

    def to_json(self, place: Callable[[str], str] = str) -> dict[str, Any]:
        """``place``: how a source's path is written."""
        return {"sources": [place(f) for f in self.sources], "rows": self.packed}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], place: Callable[[str], str] = str) -> LineMap:
        """``place``: where a written path is."""
        sources, rows = tuple(place(f) for f in doc["sources"]), doc["rows"]
        if not isinstance(rows, str):  # an entry stored before rows were packed
            return cls.of(sources, (cast(Row, tuple(r)) for r in rows))
        return cls(sources, rows)

    def original(self, position: Position) -> Position:
        """Where ``position`` (in the rewritten file) was written."""
        rows = self.rows
        i = bisect.bisect_right(rows, (position.line, position.column), key=lambda r: (r[0], r[1])) - 1
        if i < 0:
            return position
        line, column, source, orig_line, orig_column = rows[i]
        moved = orig_column + position.column - column if position.line == line else position.column
        return Position(self.sources[source], orig_line + position.line - line, max(moved, 1))


@dataclass(frozen=True)
class CompiledModule:
    """A module with its composite definitions written out, and how to load it.

    Load it with :meth:`load`: the rewritten files stand in for the user's (an overlay), so
    imports resolve as before and errors name the user's files, at the lines they wrote.
    """

    source: str
    """The rewritten text of the module file (with ``file=``) or of the package's first file."""
    provenance: Provenance
    directory: Path
    """The directory the module was loaded from; its imports resolve from there."""
    filename: str
    """The file name :meth:`write` uses by default (``<stem>_flattened.cue``)."""
    load_options: LoadOptions = field(default_factory=LoadOptions)
    """How the flatten call's load resolved its dependencies (registry, modules, cache_dir,
    offline); :meth:`load` uses them. A mapping of those fields given here is made a LoadOptions."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Absolute path of each rewritten file -> its rewritten text."""
    load_files: tuple[str, ...] | None = None
    """``files=`` of the load (relative to ``directory``); None: the package."""
    package: str | None = None
    structs: tuple[Struct, ...] = ()
    """Every struct that embeds a composite definition, flattened or not."""
    lines: Mapping[str, LineMap] = field(default_factory=dict)
    """For each rewritten file, where its printed lines come from."""
    evaluated: Value | None = field(default=None, compare=False, repr=False)
    """The rewritten module as verification evaluated it (``verify=True``), in a context of its own:
    what :meth:`load` would give, without loading it again. None without verification."""
    inputs: LoadInputs | None = field(default=None, compare=False, repr=False)
    """What the flatten's load read (``cuepy.load_inputs``'s listing, taken from that load); None
    for a module read back with :meth:`from_json`."""

    def __post_init__(self) -> None:
        if not isinstance(self.load_options, LoadOptions):
            if not isinstance(self.load_options, Mapping):
                raise TypeError(f"load_options must be a cuepy.LoadOptions, not {type(self.load_options).__name__}")
            object.__setattr__(self, "load_options", LoadOptions(**self.load_options))

    def write(self, path: StrPath | None = None) -> Path:
        """Write :attr:`source` to ``path`` (default: ``directory / filename``) and return the path."""
        target = Path(path) if path is not None else self.directory / self.filename
        target.write_text(self.source, encoding="utf-8")
        return target

    def load(self, **options: Any) -> Value:
        """Load the rewritten module; ``options`` go to ``cuepy.load``.

        The load resolves dependencies with :attr:`load_options` (the flatten call's), or with
        ``options=`` (a LoadOptions) when given; ``registry=``, ``modules=``, ``cache_dir=``,
        ``offline=`` (not None) replace single fields of that.
        """
        given = options.pop("options", None)
        overlay = {**options.pop("overlay", {}), **self.files}
        origins = {**options.pop("origins", {}), **{name: m.to_json() for name, m in self.lines.items()}}
        options.setdefault("files", list(self.load_files) if self.load_files is not None else None)
        options.setdefault("package", self.package)
        return cue_load(self.directory, overlay=overlay, origins=origins,
                        options=self.load_options if given is None else given, **options)  # fmt: skip

    def original(self, position: Position) -> Position:
        """Where ``position``, a place in a rewritten file, was in the files as written."""
        lines = self.lines.get(position.file)
        return lines.original(position) if lines is not None else position

    def to_json(self, *, relative_to: StrPath | None = None) -> dict[str, Any]:
        """A JSON document :meth:`from_json` reads back (how caches store a compiled module);
        with ``relative_to``, the paths in that directory relative to it (a document that serves
        a copy of the module elsewhere: read it back with the copy's directory; a file outside
        it, a catalog's, keeps its absolute path)."""
        place = _relative(relative_to)
        texts = list(self.files.values())
        return {  # the source is one of the files, as a rule: stored once, as its index among them
            "source": {"file_index": texts.index(self.source)} if self.source in texts else self.source,
            "provenance": {**_asdict(self.provenance)},
            "directory": place(str(self.directory)),
            "filename": self.filename,
            "files": {place(name): text for name, text in self.files.items()},
            "load_files": list(self.load_files) if self.load_files is not None else None,
            "package": self.package,
            "structs": [{**_asdict(s), "position": {**_asdict(s.position), "file": place(s.position.file)}}
                        for s in self.structs],
            "lines": {place(name): lines.to_json(place) for name, lines in self.lines.items()},
        }

    @classmethod
    def from_json(
        cls,
        doc: Mapping[str, Any],
        load_options: LoadOptions | Mapping[str, Any] | None = None,
        *,
        relative_to: StrPath | None = None,
    ) -> CompiledModule:
        """The module :meth:`to_json` wrote (which holds no load options: ``load_options`` gives them,
        as a LoadOptions or a mapping of its fields); ``relative_to``: the directory the document's
        relative paths are relative to. ValueError when ``doc`` is not such a document."""
        options = load_options if isinstance(load_options, LoadOptions) else LoadOptions(**(load_options or {}))
        try:
            return cls._from_document(doc, options, _resolved(relative_to))
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a compiled-module document ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _from_document(
        cls, doc: Mapping[str, Any], options: LoadOptions, place: Callable[[Any], str]
    ) -> CompiledModule:
        # What the load is given is checked here: a wrong type there would be the caller's error.
        files = {place(name): text for name, text in doc["files"].items()}
        load_files, package, source = doc["load_files"], doc["package"], doc["source"]
        if not _strings(files.values()) or (load_files is not None and not _strings(load_files)):
            raise TypeError("files and their texts are strings")
        if not (package is None or type(package) is str) or not _strings((doc["filename"],)):
            raise TypeError("package and filename are strings")
        if not isinstance(source, Mapping) and type(source) is not str:
            raise TypeError("the source is a string or the index of a file")
        p = doc["provenance"]
        return cls(
            source=list(files.values())[source["file_index"]] if isinstance(source, Mapping) else source,
            provenance=Provenance(
                p["sha256"], p["cuepy_version"], p["cue_version"], tuple(p["sources"]), tuple(p["not_flattened"])
            ),
            directory=Path(place(doc["directory"])),
            filename=doc["filename"],
            load_options=options,
            files=files,
            load_files=tuple(load_files) if load_files is not None else None,
            package=package,
            structs=tuple(
                Struct(s["path"], _position(s["position"], place), s["flattened"], tuple(s["inlined"]), s["reason"])
                for s in doc["structs"]
            ),
            lines={place(name): LineMap.from_json(lines, place) for name, lines in doc["lines"].items()},
        )


def _strings(items: Iterable[Any]) -> bool:
    return all(type(item) is str for item in items)


def _relative(base: StrPath | None) -> Callable[[str], str]:
    """How ``to_json`` writes a path: relative to ``base`` if given and the path is in it (a
    catalog's file elsewhere keeps its absolute path: the copy's relative one would not hold)."""
    if base is None:
        return str
    directory = os.fspath(base)
    inside = os.path.join(directory, "")
    return lambda path: os.path.relpath(path, directory) if path.startswith(inside) or path == directory else path


def _resolved(base: StrPath | None) -> Callable[[Any], str]:
    """Where a path ``from_json`` reads is: against ``base``, if given (TypeError if not a string)."""
    directory = os.fspath(base) if base is not None else None

    def place(path: Any) -> str:
        if type(path) is not str:
            raise TypeError(f"a path is a string, not {type(path).__name__}")
        return path if directory is None else os.path.normpath(os.path.join(directory, path))

    return place


def _position(doc: Mapping[str, Any], place: Callable[[str], str]) -> Position:
    return Position(place(doc["file"]), doc["line"], doc["column"])


def _asdict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def flatten(
    source: Value | StrPath,
    *,
    file: StrPath | None = None,
    package: str | None = None,
    registry: str | RegistryLike | None = None,
    modules: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    verify: bool = True,
    options: LoadOptions | None = None,
) -> CompiledModule:
    """Write out the composite definitions a module's structs embed (blueprints, in OPM terms).

    - ``source``: the module's directory (with ``file``: the module file in it; without: its
      package, ``package`` choosing one) or a Value loaded from a single file.
    - ``registry``, ``modules``, ``cache_dir``, ``options``: as for ``cuepy.load`` (``options``: a
      :class:`cuepy.LoadOptions`, the keywords given replacing its fields); kept as the result's
      ``load_options`` for ``.load()``.
    - ``verify``: evaluate the module as written and as rewritten and keep a struct written out
      only where both give the same value (costs one load of each).

    A struct that cannot be written out safely stays as written and is listed in
    ``provenance.not_flattened``; it never fails the module. Raises what ``cuepy.load`` raises
    when the module does not load (and, with ``verify``, when it does not evaluate).
    """
    resolved = merge_options(options, registry=registry, modules=modules, cache_dir=cache_dir)
    directory, files = _inputs(source, file)
    config = load_config(directory, files=files, package=package, options=resolved)
    config["verify"] = bool(verify)

    def call() -> tuple[bytes, Value | None]:
        data = json.dumps(config).encode()
        lib, ffi = native()
        out, value = ffi.new("cue_bytes *"), ffi.new("cue_handle *")
        check(lib.cue_flatten(data, len(data), out, value))
        return take_bytes(out), Value._own(value[0]) if value[0] else None

    def discard(done: tuple[bytes, Value | None]) -> None:
        if done[1] is not None:
            done[1].close()

    def run() -> CompiledModule:
        report, evaluated = interruptible(call, discard)
        return _result(json.loads(report), directory, files, package, resolved, evaluated)

    return trace_run("flatten", run, path=str(directory), files=files or [])


def _inputs(source: Value | StrPath, file: StrPath | None) -> tuple[Path, list[str] | None]:
    if isinstance(source, Value):
        info = source.source()
        if not info.get("file"):
            raise FlattenError("this Value has no single source file (a package of several files?): "
                               "pass the module directory (and file=) instead")  # fmt: skip
        path = Path(info["file"])
        return path.parent, [path.name]
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"source must be a directory path or a cuepy.Value, not {type(source).__name__}")
    directory = Path(source).absolute()  # (a missing one, or a file: the load's CueLoadError)
    if file is not None and not isinstance(file, str | os.PathLike):
        raise TypeError("file must be one path (the module file), not a list")
    return directory, [os.fspath(file)] if file is not None else None


def _result(
    doc: dict[str, Any],
    directory: Path,
    files: list[str] | None,
    package: str | None,
    options: LoadOptions,
    evaluated: Value | None,
) -> CompiledModule:
    structs = tuple(
        Struct(
            c["path"], Position(c["file"], c["line"], c["column"]), c["flattened"], tuple(c["inlined"] or ()),
            c.get("reason", ""),
        )
        for c in doc["components"] or ()
    )
    written = doc["files"]
    main = written[0]
    if files:
        wanted = os.path.normpath(directory / files[0])
        main = next((f for f in written if os.path.normpath(f["name"]) == wanted), main)
    rewritten = {f["name"]: f["source"] for f in written if f["changed"]}
    lines = {f["name"]: LineMap.from_json(f["lines"]) for f in written if f["changed"]}
    stem = Path(main["name"]).stem if files else package or Path(main["name"]).stem
    return CompiledModule(
        source=main["source"],
        provenance=_provenance(directory, [f["name"] for f in written], structs),
        directory=directory,
        filename=f"{stem}_flattened.cue",
        load_options=options,
        files=rewritten,
        load_files=tuple(files) if files is not None else None,
        package=package,
        structs=structs,
        lines=lines,
        evaluated=evaluated,
        inputs=LoadInputs.from_listing(doc["inputs"]) if doc.get("inputs") else None,
    )


def _provenance(directory: Path, names: list[str], structs: tuple[Struct, ...]) -> Provenance:
    import cuepy

    root = next((d for d in (directory, *directory.parents) if (d / "cue.mod" / "module.cue").is_file()), directory)
    paths = [root / "cue.mod" / "module.cue", *map(Path, names)]
    digest = hashlib.sha256()
    hashed = []
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        name = os.path.relpath(path, root)
        hashed.append(name)
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    kept = tuple(f"{s.path or '<struct>'} ({s.position}): {s.reason}" for s in structs if not s.flattened)
    return Provenance(digest.hexdigest(), cuepy.__version__, str(cuepy.__cue_version__), tuple(hashed), kept)
