"""The top-level operations: compile, load, unify, extract, and contexts."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

from cuepy import _native
from cuepy._embedded import embedded_modules
from cuepy._encode import to_cue
from cuepy._native import check, free_handle, interruptible, native, take_bytes, take_error
from cuepy.errors import CueSyntaxError, CueUsageError
from cuepy.stop import bounded, stoppable
from cuepy.trace import run as traced
from cuepy.value import ExportFormat, PathLike, Value, remember_context

StrPath = str | os.PathLike[str]

# A context keeps memory for everything compiled in it (about 2 KB a
# compile); the shared context behind compile() is replaced after this many
# compiles, and each load gets a context of its own, so a long-running
# caller's memory stays bounded. Values keep their own context alive.
COMPILES_PER_CONTEXT = 1000


# The Context owning each live context handle: Context(n) of a handle another
# Context owns is refused (closing either would free the other's handle).
_owners: weakref.WeakValueDictionary[int, Context] = weakref.WeakValueDictionary()
_owners_lock = threading.Lock()


class Context:
    """A CUE evaluation context: what is compiled in it shares one runtime.

    Most callers never need one: ``compile`` uses a shared context that is
    renewed regularly and ``load`` a fresh one per call. Values of different
    contexts unify as long as they do not refer to imported packages that only
    one of the contexts has loaded; to mix such values, build them in one
    context (``value.context.compile(...)``, ``cuepy.load(..., context=...)``).
    """

    __slots__ = ("__weakref__", "_handle", "compiles")

    def __init__(self, _handle: int = 0) -> None:
        lib, ffi = native()
        if type(_handle) is not int:
            raise TypeError("cuepy.Context() takes no arguments")
        self._handle: int = 0
        self.compiles = 0
        if _handle:
            check(lib.cue_context_check(_handle))  # a value, error or registry handle is a CueUsageError
            with _owners_lock:
                if _owners.get(_handle) is not None:
                    raise CueUsageError(
                        f"context handle {_handle} belongs to another cuepy.Context (two owners would free it twice)"
                    )
                _owners[_handle] = self
        else:
            out = ffi.new("cue_handle *")
            check(lib.cue_context_new(out))
            _handle = out[0]
            with _owners_lock:
                _owners[_handle] = self
        self._handle = _handle
        self.compiles = 0

    @property
    def handle(self) -> int:
        if not self._handle:
            raise CueUsageError("this cuepy.Context is closed")
        return self._handle

    def close(self) -> None:
        """Drop this context; values built in it stay usable."""
        handle, self._handle = self._handle, 0
        if handle:
            with _owners_lock:
                if _owners.get(handle) is self:
                    del _owners[handle]
            free_handle(handle)

    def __del__(self) -> None:
        # Not close(): a finalizer may run inside any allocation, also one made while this
        # thread holds _owners_lock (Context.__init__), and would wait for that lock forever.
        # The _owners entry goes with the weak reference.
        handle = getattr(self, "_handle", 0)  # (unset when __init__ failed)
        self._handle = 0
        if handle:
            try:
                free_handle(handle)
            except Exception:  # interpreter shutdown or a forked child: nothing to free into
                pass

    def __reduce__(self) -> Any:
        raise TypeError("a cuepy.Context lives in libcuepy and cannot be pickled or sent to another process")

    def usable(self) -> bool:
        """False once an evaluation in this context was stopped (cuepy.stop): its values may be
        partly evaluated, and libcuepy refuses them."""
        lib, _ = native()
        err = lib.cue_context_check(self.handle)
        if err:
            take_error(err)
        return not err

    def compile(self, source: str | bytes, *, filename: str | None = None, timeout: float | None = None) -> Value:
        """Compile CUE source; errors carry ``filename`` in their positions."""
        if isinstance(source, str):
            try:
                data = source.encode()
            except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 spelling
                where = f"{exc.reason} at character {exc.start}"
                raise CueSyntaxError(f"{filename or '<source>'}: source is not valid Unicode text ({where})") from None
        elif isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
        else:
            raise TypeError(f"source must be str or bytes, not {type(source).__name__}")
        if filename is not None and not isinstance(filename, str):
            raise TypeError(f"filename must be str, not {type(filename).__name__}")
        if filename is not None and "\x00" in filename:
            raise CueUsageError("filename contains a NUL byte")
        if b"\x00" in data:
            raise CueSyntaxError(f"{filename or '<source>'}: source contains a NUL byte")
        lib, ffi = native()
        name = (filename or "<source>").encode()

        def run() -> Value:
            out = ffi.new("cue_handle *")
            check(lib.cue_compile(self.handle, data, len(data), name, out))
            return Value._own(out[0], self)

        remember_context(self)
        self.compiles += 1
        with bounded(timeout):
            return traced("build", run, filename=filename or "<source>", size=len(data))

    def encode(self, data: Any) -> Value:
        """Python data (dict, list, str, int, float, bool, None, bytes) as a CUE value."""
        return self.compile(to_cue(data), filename="<python>")

    def load(self, path: StrPath = ".", **options: Any) -> Value:
        """``cuepy.load`` into this context."""
        return _load(self, path, **options)


class _SharedContext:
    """The context behind compile(), one per thread, renewed every COMPILES_PER_CONTEXT compiles
    and when an evaluation in it was stopped (cuepy.stop: its values may be partly evaluated).
    Per thread because libcuepy evaluates one context at a time (CUE races when two threads
    finish the same value): threads that compile and unify their own data run in parallel.
    Inside a time limit or cancel scope compile() uses a context of its own, so that a stop
    there taints nothing else."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> Context:
        if stoppable():  # a stop taints the context it hits: keep the shared one out of reach
            return Context()
        local = self._local
        context: Context | None = getattr(local, "context", None)
        if getattr(local, "stops", None) != _native.stopped_evaluations:
            local.stops = _native.stopped_evaluations
            if context is not None and not context.usable():
                context = None
        if context is None or context.compiles >= COMPILES_PER_CONTEXT:
            context = local.context = Context()
        return context


_shared = _SharedContext()


def compile(source: str | bytes, *, filename: str | None = None, timeout: float | None = None) -> Value:
    """Compile CUE source (str or bytes) into a Value; ``filename`` names it in error positions;
    ``timeout`` bounds its evaluation in seconds (CueLimitError(limit="time") past it)."""
    with bounded(timeout):
        return _shared.get().compile(source, filename=filename)


def encode(data: Any) -> Value:
    """Python data (dict, list, str, int of any size, float, bool, None, bytes) as a CUE value."""
    return _shared.get().encode(data)


def as_value(x: Any) -> tuple[Value, bool]:
    """``x`` as a Value, and whether the caller owns (and must close) it."""
    if isinstance(x, Value):
        return x, False
    return encode(x), True


class RegistryLike(Protocol):
    @property
    def registry(self) -> str: ...


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How a load resolves what it reads: the registry, modules served from directories, CUE's
    module cache, and whether the network may be used.

    One value for every loading call, instead of the same keywords repeated: ``cuepy.load``,
    ``cuepy.vet``, ``Context.load``, ``cuepy.flatten`` (kept as ``CompiledModule.load_options``
    for ``CompiledModule.load``), ``cuepy.opm.load``, ``read``, ``release``, ``render_release``,
    ``render`` and ``values_schema``, ``cuepy.limits.load_extract`` and ``cuepy.batch.Job``::

        options = cuepy.LoadOptions(registry=reg, cache_dir="/var/cache/cue")
        value = cuepy.load(directory, files=["module.cue"], options=options)
        compiled = cuepy.flatten(directory, file="module.cue", options=options)

    Those calls take the fields as keywords too (``registry=``, ``modules=``, ``cache_dir=``,
    ``offline=``), as before. Given with ``options=``, a keyword that is not None replaces that
    field of the object for the call (``options.replace(registry=None)`` clears one instead).

    What changes the loaded value itself (``files``, ``package``, ``overlay``, ``tags``,
    ``tag_vars``) is not here: those stay per-call arguments.

    Types are checked once, here (TypeError naming the field). The object is immutable
    (``modules`` is kept as a read-only copy), hashable when its fields are, and pickles with a
    served registry replaced by its address, so it crosses process boundaries
    (``cuepy.limits``, ``cuepy.batch``); the registry must stay served meanwhile.
    """

    registry: str | RegistryLike | None = None
    """A CUE_REGISTRY string (``"127.0.0.1:5000+insecure"``) or a served registry (an object with a
    ``registry`` string, as :class:`cuepy.Registry`, kept alive by these options); None: the
    environment's ``CUE_REGISTRY`` at each load."""
    modules: Mapping[str, StrPath] | None = None
    """``"module/path@vX.Y.Z"`` -> a local directory that serves that module without a registry
    (cuepy's embedded catalog is always served too); None: none besides it."""
    cache_dir: StrPath | None = None
    """CUE's module cache directory (as ``CUE_CACHE_DIR``, for these loads only; made absolute at
    each load); None: the environment's."""
    offline: bool = False
    """Contact no registry (``CUEPY_OFFLINE=1`` in the environment does the same): a module neither
    served from a directory nor in the module cache is a CueLoadError naming it."""

    def __post_init__(self) -> None:
        _registry(self.registry)
        if self.modules is not None:
            object.__setattr__(self, "modules", MappingProxyType(_checked_modules(self.modules)))
        if self.cache_dir is not None:
            _path(self.cache_dir, "cache_dir")
        if not isinstance(self.offline, bool):
            raise TypeError(f"offline must be a bool, not {type(self.offline).__name__}")

    def replace(self, **changes: Any) -> LoadOptions:
        """A copy with the given fields replaced (None included: ``replace(registry=None)``)."""
        return dataclasses.replace(self, **changes)

    def to_config(self) -> dict[str, Any]:
        """The fields of libcuepy's load configuration these options decide (see ``load_config``):
        ``registry`` (a string, ``""`` for the environment's), ``cache_dir`` (absolute, ``""`` for
        the environment's), ``modules`` (with cuepy's embedded catalog) and ``offline``."""
        return {
            "registry": _registry(self.registry),
            "cache_dir": str(Path(os.fspath(self.cache_dir)).absolute()) if self.cache_dir is not None else "",
            "modules": _modules(self.modules),
            "offline": self.offline,
        }

    def __repr__(self) -> str:
        shown = {
            "registry": self.registry,
            "modules": dict(self.modules) if self.modules is not None else None,
            "cache_dir": self.cache_dir,
            "offline": self.offline or None,
        }
        return f"LoadOptions({', '.join(f'{k}={v!r}' for k, v in shown.items() if v is not None)})"

    def __hash__(self) -> int:
        modules = frozenset(self.modules.items()) if self.modules is not None else None
        return hash((self.registry, modules, self.cache_dir, self.offline))

    def __reduce__(self) -> Any:
        # A served registry (cuepy.Registry cannot be pickled) travels as its address.
        registry = None if self.registry is None else _registry(self.registry)
        modules = dict(self.modules) if self.modules is not None else None
        return (LoadOptions, (registry, modules, self.cache_dir, self.offline))


def merge_options(
    options: LoadOptions | None = None,
    *,
    registry: str | RegistryLike | None = None,
    modules: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    offline: bool | None = None,
) -> LoadOptions:
    """``options`` (None: the defaults) with each keyword that is not None in place of its field:
    the rule of every call taking both ``options=`` and the keywords."""
    if options is None:
        options = LoadOptions()
    elif not isinstance(options, LoadOptions):
        raise TypeError(f"options must be a cuepy.LoadOptions, not {type(options).__name__}")
    keywords = {"registry": registry, "modules": modules, "cache_dir": cache_dir, "offline": offline}
    given: dict[str, Any] = {name: value for name, value in keywords.items() if value is not None}
    return dataclasses.replace(options, **given) if given else options


def load(
    path: StrPath = ".",
    *,
    package: str | None = None,
    files: Sequence[StrPath] | None = None,
    overlay: Mapping[StrPath, str | bytes] | None = None,
    origins: Mapping[StrPath, Mapping[str, Any]] | None = None,
    tags: Mapping[str, str] | Sequence[str] | None = None,
    registry: str | RegistryLike | None = None,
    cache_dir: StrPath | None = None,
    modules: Mapping[str, StrPath] | None = None,
    context: Context | None = None,
    offline: bool | None = None,
    tag_vars: bool = False,
    options: LoadOptions | None = None,
    timeout: float | None = None,
) -> Value:
    """Load a CUE module directory, a package in it, or a list of files, through cue/load.

    - ``path``: a directory inside a module (the module root is found above it).
    - ``package``: the package to load when the directory holds several.
    - ``files``: load these files (CUE, JSON or YAML, relative to ``path``) instead of the package,
      or with it when ``"."`` (or another package) is among them; data files combine as in ``cue
      export``: each document of a YAML stream is unified in, and a JSON or YAML file that is a JSON
      Schema (``$schema``) or an OpenAPI document is the CUE it translates to (docs/cue-command.md).
    - ``overlay``: file path (relative to ``path``) to content that replaces or adds a file.
    - ``origins``: for overlay files generated from others (a flattened module's), file path to
      where its lines come from, ``{"sources": [file, ...], "rows": "line,column,source,
      source_line,source_column;..."}`` (``cuepy.flatten``'s ``LineMap.to_json()``): every
      position CUE reports in such a file (an error's, at load or later) names the source file,
      line and column.
    - ``tags``: values for ``@tag()`` attributes, as a mapping or ``"name=value"`` strings.
    - ``tag_vars``: inject CUE's tag variables for ``@tag(name,var=...)`` as ``cue -T`` does
      (``now``, ``os``, ``arch``, ``cwd``, ``username``, ``hostname``, ``rand``).
    - ``registry``: a CUE_REGISTRY string (``"127.0.0.1:5000+insecure"``) or a served registry,
      for this call only; ``cache_dir`` likewise for CUE_CACHE_DIR.
    - ``modules``: ``"path@version"`` to a local directory that serves that module without a
      registry (cuepy's embedded catalog is always among them).
    - ``context``: load into this context instead of a fresh one.
    - ``offline``: contact no registry (``CUEPY_OFFLINE=1`` in the environment does the same); a
      module neither served locally nor in the module cache is a CueLoadError naming it.
    - ``options``: a :class:`LoadOptions` holding ``registry``, ``modules``, ``cache_dir`` and
      ``offline`` at once; each of those keywords given (not None) replaces its field.
    - ``timeout``: seconds the evaluation may take (``cuepy.time_limit``): past them it stops and
      CueLimitError(limit="time") is raised.

    The environment variables a load depends on (``CUE_REGISTRY``, ``CUE_CACHE_DIR``, the
    ``*_PROXY`` variables, ``CUEPY_OFFLINE``, ``GOGC``, ``GOMEMLIMIT``, ...) are read from
    ``os.environ`` at each call. ``CUE_EXPERIMENT`` is read by CUE once, from the environment
    the process started with; a value ``cue`` refuses (an unknown experiment, a stable one
    disabled) raises CueUsageError, as does a refused value in ``os.environ`` at a load.
    """
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context must be a cuepy.Context, not {type(context).__name__}")
    with bounded(timeout):
        return _load(context or Context(), path, package=package, files=files, overlay=overlay, origins=origins,
                     tags=tags, registry=registry, cache_dir=cache_dir, modules=modules, offline=offline,
                     tag_vars=tag_vars, options=options)  # fmt: skip


def vet(path: StrPath = ".", *, concrete: bool | None = None, context: Context | None = None,
        timeout: float | None = None, **options: Any) -> None:  # fmt: skip
    """Check what ``load(path, **options)`` names as ``cue vet`` does; raise a CueError on failure.

    - Without data files: the value must be valid and, with ``concrete`` True or None (vet's
      default), concrete. With None, a value that is only incomplete raises CueIncompleteError
      saying ``some instances are incomplete; ...`` as ``cue vet`` does (``concrete=True`` is
      ``cue vet -c``: the incomplete fields named; ``False`` is ``-c=false``).
    - With JSON or YAML data files among ``files``: each document (a YAML stream holds several) is
      unified with the schema (the package or CUE files named, and any JSON Schema or OpenAPI
      file) and must be concrete on its own (``concrete`` changes nothing, as in ``cue``); the
      errors of every document are raised together, in order. Data without a schema is a
      CueUsageError.

    ``timeout`` bounds the evaluation as in ``load``.
    """
    if concrete is not None and not isinstance(concrete, bool):
        raise TypeError(f"concrete must be a bool or None, not {type(concrete).__name__}")
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context must be a cuepy.Context, not {type(context).__name__}")
    config = _load_config(path, **options)
    data = json.dumps(config).encode()
    lib, _ = native()
    ctx = context or Context()
    flag = -1 if concrete is None else int(concrete)

    def run() -> None:
        interruptible(lambda: check(lib.cue_vet(ctx.handle, data, len(data), flag)))

    with bounded(timeout):
        traced("vet", run, path=config["dir"], files=config["args"])


def _load(context: Context, path: StrPath, **options: Any) -> Value:
    config = _load_config(path, **options)
    data = json.dumps(config).encode()
    lib, ffi = native()

    handle = context.handle

    def call() -> Value:
        out = ffi.new("cue_handle *")
        check(lib.cue_load(handle, data, len(data), out))
        return Value._own(out[0])

    def run() -> Value:
        return interruptible(call, Value.close)

    return traced("load", run, path=config["dir"], files=config["args"])


@dataclass(frozen=True, slots=True)
class LoadInputs:
    """What a ``load`` with the same arguments reads from disk (``load_inputs``)."""

    root: str
    """The main module's root directory (the one holding ``cue.mod``)."""
    files: tuple[str, ...]
    """Absolute paths, sorted: the CUE files of the loaded instance and of each package it imports
    from the main module or from a module served from a directory (``modules=`` and the modules
    shipped in cuepy), the other ``.cue`` files of their directories, each such module's
    ``cue.mod/module.cue``, the data files named in ``files`` and the files embedded with
    ``@embed``. Overlays are not among them; modules from a registry are not either (a version's
    content is immutable)."""
    directories: tuple[str, ...]
    """Absolute paths, sorted: the directories whose listing decides which files are read."""
    shipped: tuple[str, ...]
    """The directories of the modules shipped inside cuepy (part of the installed package)."""

    @classmethod
    def from_listing(cls, found: Mapping[str, Any]) -> LoadInputs:
        """From libcuepy's listing: ``cue_load_inputs``'s JSON (or ``cue_flatten``'s ``inputs``)."""
        shipped = tuple(str(Path(d).absolute()) for d in embedded_modules().values())
        return cls(found["root"], tuple(found["files"] or ()), tuple(found["dirs"] or ()), shipped)


def load_inputs(path: StrPath = ".", **options: Any) -> LoadInputs:
    """The files and directories a ``load(path, **options)`` reads (no evaluation).

    Takes ``load``'s arguments except ``context``; loading errors raise as ``load`` does.
    """
    options.pop("context", None)
    config = _load_config(path, **options)
    data = json.dumps(config).encode()
    lib, ffi = native()

    def call() -> bytes:
        out = ffi.new("cue_bytes *")
        check(lib.cue_load_inputs(data, len(data), out))
        return take_bytes(out)

    return LoadInputs.from_listing(json.loads(interruptible(call)))


def load_config(path: StrPath = ".", **options: Any) -> dict[str, Any]:
    """The configuration document libcuepy takes for ``load(path, **options)`` (no ``context``);
    ``LoadOptions.to_config()`` gives the part that ``options=`` decides."""
    return _load_config(path, **options)


def registry_name(registry: str | RegistryLike | None) -> str:
    """The CUE_REGISTRY string a ``registry=`` argument names (``""`` for none: the environment's)."""
    return _registry(registry)


def _load_config(
    path: StrPath,
    *,
    package: str | None = None,
    files: Sequence[StrPath] | None = None,
    overlay: Mapping[StrPath, str | bytes] | None = None,
    origins: Mapping[StrPath, Mapping[str, Any]] | None = None,
    tags: Mapping[str, str] | Sequence[str] | None = None,
    registry: str | RegistryLike | None = None,
    cache_dir: StrPath | None = None,
    modules: Mapping[str, StrPath] | None = None,
    offline: bool | None = None,
    tag_vars: bool = False,
    options: LoadOptions | None = None,
) -> dict[str, Any]:
    resolved = merge_options(options, registry=registry, modules=modules, cache_dir=cache_dir, offline=offline)
    directory = Path(_path(path, "path")).absolute()
    _utf8(str(directory), "path")
    if not isinstance(tag_vars, bool):
        raise TypeError(f"tag_vars must be a bool, not {type(tag_vars).__name__}")
    if package is not None and not isinstance(package, str):
        raise TypeError(f"package must be str, not {type(package).__name__}")
    if isinstance(files, str | os.PathLike):
        raise TypeError("files must be a list of paths, not a single path")
    if files is not None and not isinstance(files, Iterable):
        raise TypeError(f"files must be a list of paths, not {type(files).__name__}")
    args = [_path(f, "files entry") for f in files] if files is not None else []
    resolving = resolved.to_config()
    return {
        "dir": str(directory),
        "args": args,
        "package": package or "",
        "tags": _tags(tags),
        "overlay": _overlay(directory, overlay),
        "registry": resolving["registry"],
        "cache_dir": resolving["cache_dir"],
        "modules": resolving["modules"],
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
        "offline": resolving["offline"],
        "tag_vars": tag_vars,
        "origins": _origins(directory, origins),
    }


# The environment variables a load depends on: sent with each load, as Go
# reads its own environment only once, at start-up (go/internal/runenv).
ENV_KEYS = (
    "CUE_REGISTRY", "CUE_CACHE_DIR", "CUE_CONFIG_DIR", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
    "CUEPY_OFFLINE", "GOGC", "GOMEMLIMIT", "CUE_EXPERIMENT",
)  # fmt: skip


def _utf8(path: str, what: str) -> None:
    """Refuse a path with no UTF-8 spelling (undecodable bytes, kept by Python as surrogates):
    libcuepy would read U+FFFD in their place, which names another file."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise CueUsageError(
            f"{what} is not valid UTF-8 ({path!r}): cue/load reads paths as UTF-8 and cannot name this one"
        ) from None


def _path(p: object, what: str) -> str:
    if not isinstance(p, str | os.PathLike):
        raise TypeError(f"{what} must be a str or os.PathLike, not {type(p).__name__}")
    path = os.fspath(p)
    if not isinstance(path, str):
        raise TypeError(f"{what} must be a str path, not {type(path).__name__}")
    if "\x00" in path:
        raise CueUsageError(f"{what} contains a NUL byte: {path!r}")
    _utf8(path, what)
    return path


def _tags(tags: Mapping[str, str] | Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, Mapping):
        return [f"{k}={v}" for k, v in tags.items()]
    if isinstance(tags, str) or not isinstance(tags, Iterable) or not all(isinstance(t, str) for t in tags):
        raise TypeError("tags must be a mapping or a list of 'name=value' strings")
    return list(tags)


def _origins(directory: Path, origins: Mapping[StrPath, Mapping[str, Any]] | None) -> dict[str, Any]:
    if origins is not None and not isinstance(origins, Mapping):
        raise TypeError(f"origins must be a mapping of path to origin, not {type(origins).__name__}")
    result: dict[str, Any] = {}
    for name, origin in (origins or {}).items():
        try:
            sources, rows = [_path(f, "origin source") for f in origin["sources"]], origin["rows"]
        except (KeyError, TypeError) as exc:
            raise TypeError(f"origins[{name!r}] must hold 'sources' (paths) and 'rows' (a str)") from exc
        if not isinstance(rows, str):
            raise TypeError(f"origins[{name!r}]['rows'] must be a str, not {type(rows).__name__}")
        result[str(directory / _path(name, "origins path"))] = {"sources": sources, "rows": rows}
    return result


def _overlay(directory: Path, overlay: Mapping[StrPath, str | bytes] | None) -> dict[str, str]:
    if overlay is not None and not isinstance(overlay, Mapping):
        raise TypeError(f"overlay must be a mapping of path to source, not {type(overlay).__name__}")
    result: dict[str, str] = {}
    for name, content in (overlay or {}).items():
        target = directory / _path(name, "overlay path")
        if isinstance(content, bytes):
            try:
                content = content.decode()
            except UnicodeDecodeError as exc:
                reason = f"{exc.reason} at byte {exc.start}"
                raise CueSyntaxError(f"{target}: overlay is not valid UTF-8 ({reason})") from None
        if not isinstance(content, str):
            raise TypeError(f"overlay content must be str or bytes, not {type(content).__name__}")
        result[os.path.normpath(target)] = content
    return result


def _registry(registry: str | RegistryLike | None) -> str:
    if registry is None:
        return ""
    if isinstance(registry, str):
        return registry
    if hasattr(registry, "registry"):
        return str(registry.registry)
    raise TypeError(f"registry must be a CUE_REGISTRY string or a served registry, not {type(registry).__name__}")


def _checked_modules(modules: object) -> dict[str, StrPath]:
    """A copy of ``modules=``, its keys and directories checked."""
    if not isinstance(modules, Mapping):
        raise TypeError(f"modules must be a mapping of 'module@version' to directory, not {type(modules).__name__}")
    out: dict[str, StrPath] = {}
    for key, directory in modules.items():
        if not isinstance(key, str):
            raise TypeError(f"modules keys must be str ('module/path@vX.Y.Z'), not {type(key).__name__}")
        _module_key(key)
        _path(directory, f"modules[{key!r}]")
        out[key] = directory
    return out


def _module_key(key: str) -> tuple[str, str]:
    module, sep, version = key.rpartition("@")
    if not sep or not module or not version.startswith("v"):
        raise ValueError(f"modules keys are 'module/path@vX.Y.Z', not {key!r}")
    return module, version


def _modules(modules: Mapping[str, StrPath] | None) -> dict[str, dict[str, str]]:
    merged: dict[str, StrPath] = {**embedded_modules(), **(modules or {})}
    result: dict[str, dict[str, str]] = {}
    for key, directory in merged.items():
        module, version = _module_key(key)
        result[f"{module}@{version.split('.')[0]}"] = {"version": version, "dir": str(Path(directory).absolute())}
    return result


def unify(*values: Any) -> Value:
    """The unification of all ``values`` (Values or Python data)."""
    if not values:
        raise TypeError("unify needs at least one value")
    converted = [as_value(v) for v in values]
    lib, ffi = native()

    def run() -> Value:
        handles = ffi.new("cue_handle[]", [v.handle for v, _ in converted])
        out = ffi.new("cue_handle *")
        check(lib.cue_unify(handles, len(converted), out))
        return converted[0][0]._derived(out[0])  # the first value's context, as Go's Unify

    try:
        return traced("unify", run, count=len(values))
    finally:
        for v, owned in converted:
            if owned:
                v.close()


Format = Literal["python"] | ExportFormat


def extract(value: Value, path: PathLike | None = None, *, format: Format = "python", **options: Any) -> Any:
    """Read ``value`` (or the value at ``path``) as Python data, JSON, YAML or CUE source.

    Raises CueIncompleteError when the value is not concrete and the format needs it,
    CueLookupError when ``path`` names no field. ``options`` go to ``Value.export``.
    """
    if not isinstance(value, Value):
        raise TypeError(f"extract takes a cuepy.Value, not {type(value).__name__}")
    if format not in ("python", "json", "yaml", "cue"):
        raise ValueError(f"format must be one of python, json, yaml, cue, not {format!r}")
    target = value.lookup(path) if path else value

    def run() -> Any:
        if format == "python":
            return target.to_python()
        return target.export(format, **options)

    try:
        return traced("extract", run, path=path if isinstance(path, str) else repr(path or ""), format=format)
    finally:
        if target is not value:
            target.close()
