"""Loading and releasing OPM modules through the cache."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cuepy.api import Context, RegistryLike, _registry
from cuepy.api import load as cue_load
from cuepy.cache import keys
from cuepy.cache._store import Cache, resolve
from cuepy.errors import CueError
from cuepy.value import Value

if TYPE_CHECKING:
    from cuepy.opm import ModuleRelease

StrPath = str | os.PathLike[str]
T = TypeVar("T")
ModuleKind = str  # "ModuleDefinition" or "Module"


@dataclass(frozen=True)
class _Request:
    """One module to load: where, which file or package, and how dependencies resolve."""

    directory: str
    """Absolute path of the module's directory."""
    file: str | None
    package: str | None
    registry: str
    registry_obj: str | RegistryLike | None
    modules: Mapping[str, StrPath] | None
    cache_dir: StrPath | None
    verify: bool

    def load_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.registry_obj is not None:
            out["registry"] = self.registry_obj
        if self.modules is not None:
            out["modules"] = self.modules
        if self.cache_dir is not None:
            out["cache_dir"] = self.cache_dir
        return out

    def sources(self) -> keys.SourceSet:
        return keys.source_set(self.directory, modules=self.modules)

    def key_parts(self) -> dict[str, Any]:
        """What, besides the sources, decides the compiled module."""
        return {
            "file": self.file,
            "package": self.package,
            # A module fetched from a registry is pinned by path and version in
            # cue.mod/module.cue; the registry it comes from is named here.
            "registry": self.registry or os.environ.get("CUE_REGISTRY", ""),
            "flatten": {"verify": self.verify},
        }


def _request(
    path: StrPath,
    file: StrPath | None,
    package: str | None,
    registry: str | RegistryLike | None,
    modules: Mapping[str, StrPath] | None,
    cache_dir: StrPath | None,
    verify: bool,
) -> _Request:
    _check_file(file)
    return _Request(
        directory=os.path.abspath(path),
        file=os.fspath(file) if file is not None else None,
        package=package,
        registry=_registry(registry),
        registry_obj=registry,
        modules=modules,
        cache_dir=cache_dir,
        verify=verify,
    )


def _check_file(file: object) -> None:
    if file is not None and not isinstance(file, str | os.PathLike):
        raise TypeError("file must be one path (the module file), not a list")


# Compiled modules ---------------------------------------------------------------


def load_module(
    path: StrPath,
    *,
    file: StrPath | None = None,
    package: str | None = None,
    registry: str | RegistryLike | None = None,
    modules: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    verify: bool = True,
    context: Context | None = None,
    cache: Cache | bool | None = None,
) -> Value:
    """Load an OPM module, paying for its blueprints once.

    A ModuleDefinition is flattened (``cuepy.flatten``) on the first load and
    the compiled Module's source stored in the cache; later loads, in this
    process or another, load the stored Module without flattening. A module
    that is already a compiled Module (``kind: "Module"``) is loaded as is.

    - ``path``, ``file``, ``package``: the module's directory and its module
      file (or, without ``file``, the package in the directory).
    - ``registry``, ``modules``, ``cache_dir``: as for ``cuepy.load``.
    - ``verify``: let the flattener check its result (one more load on a miss).
    - ``context``: load into this context (e.g. to release the value with
      ``cuepy.opm.release(..., context=)``).
    - ``cache``: a :class:`Cache`; None or True for the default one
      (``CUEPY_CACHE_DIR``, ``CUEPY_CACHE=off``); False to bypass it.

    Returns the module Value: the compiled Module for a ModuleDefinition.
    Without ``context``, the cache also keeps the loaded Value in memory
    (``Cache(loaded_modules=)``): loading the same unchanged module again in
    this process returns it at once, as a new handle on the same immutable
    value (close yours freely).
    """
    request = _request(path, file, package, registry, modules, cache_dir, verify)
    store = resolve(cache)
    if context is not None or store is None:
        value, _kind = _load(request, store, context or Context())
        return value
    key = _module_key(request)
    kept = store.loaded(key)
    if kept is not None:
        return kept
    value, _kind = _load(request, store, Context(), key=key)
    if _module_key(request) == key:  # (a source that changed while loading: returned, not kept)
        store.keep_loaded(key, value)
    return value


def _module_key(request: _Request) -> str:
    return keys.digest("module", request.sources(), **request.key_parts())


def _load(
    request: _Request, cache: Cache | None, context: Context, *, key: str | None = None
) -> tuple[Value, ModuleKind]:
    """The module Value and the kind of the module the user wrote."""
    if cache is None:
        return _compile(request, None, "", context)
    key = key or _module_key(request)
    payload = cache.get("module", key)
    if payload is not None:
        entry = _module_entry(payload)
        if entry is None:
            cache.discard("module", key, "not a compiled-module entry")
        else:
            try:
                return _load_compiled(request, entry, context), entry["source_kind"]
            except CueError as exc:
                # A stored Module that does not load cannot be right for these
                # sources (a module that fails is never stored): recompute it.
                cache.discard("module", key, f"does not load: {str(exc).splitlines()[0] if str(exc) else exc}")
    return _compile(request, cache, key, context)


def _module_entry(payload: str) -> dict[str, str] | None:
    try:
        entry = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in _ENTRY_FIELDS):
        return None
    return {k: entry[k] for k in _ENTRY_FIELDS}


_ENTRY_FIELDS = ("source_kind", "filename", "source")


def _load_compiled(request: _Request, entry: Mapping[str, str], context: Context) -> Value:
    """Load a stored compiled Module inside its module, as an overlay (its imports resolve there)."""
    name = entry["filename"]
    return cue_load(request.directory, files=[name], overlay={name: entry["source"]}, context=context,
                    **request.load_options())  # fmt: skip


def _compile(request: _Request, cache: Cache | None, key: str, context: Context) -> tuple[Value, ModuleKind]:
    """Miss: load the module; flatten a ModuleDefinition, store it and load the result."""
    from cuepy.flatten import flatten

    options = request.load_options()
    files = [request.file] if request.file is not None else None
    value = cue_load(request.directory, files=files, package=request.package, context=context, **options)
    kind = _kind(value)
    if kind == "Module":
        return value, kind  # already compiled: passes through
    source: Value | str = value if request.file is not None else request.directory
    compiled = flatten(source, package=request.package, verify=request.verify, **options)
    # The Module belongs in the definition's directory (its imports resolve
    # there): named relative to the directory the load starts from.
    filename = os.path.relpath(compiled.directory / compiled.filename, request.directory)
    entry = {"source_kind": kind, "filename": filename, "source": compiled.source}
    if cache is not None and _module_key(request) == key:
        # (a file that changed while flattening gives another key: nothing is stored)
        cache.put("module", key, json.dumps(entry, ensure_ascii=False))
    value.close()
    return _load_compiled(request, entry, context), kind


def _kind(value: Value) -> ModuleKind:
    found = value.get("kind")
    kind = found.to_python() if found is not None and found.is_concrete() else None
    return kind if isinstance(kind, str) else ""


# Releases -----------------------------------------------------------------------


def release(
    path: StrPath,
    values: Mapping[str, Any] | None = None,
    *,
    namespace: str,
    name: str | None = None,
    file: StrPath | None = None,
    package: str | None = None,
    registry: str | RegistryLike | None = None,
    modules: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    verify: bool = True,
    cache: Cache | bool | None = None,
) -> ModuleRelease:
    """``cuepy.opm.release`` of the module at ``path``, through the cache: a ModuleRelease.

    The same module (same bytes), values (same JSON), namespace and name
    return the stored release without evaluating CUE. On a miss the module
    is loaded through the compiled-module cache and released with
    ``cuepy.opm.release``. ``values`` must be JSON data (or None for the
    module's defaults); anything else bypasses the cache.
    """
    from cuepy.opm import ModuleRelease as Model

    return _render(Model.model_validate_json, path, values, namespace, name, file, package, registry,
                   modules, cache_dir, verify, cache)  # fmt: skip


def render(
    path: StrPath,
    values: Mapping[str, Any] | None = None,
    *,
    namespace: str,
    name: str | None = None,
    file: StrPath | None = None,
    package: str | None = None,
    registry: str | RegistryLike | None = None,
    modules: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    verify: bool = True,
    cache: Cache | bool | None = None,
) -> dict[str, Any]:
    """Like :func:`release`, as JSON data: ``release(...).model_dump(mode="json")``, cheaper on a hit."""
    return _render(_json_object, path, values, namespace, name, file, package, registry, modules, cache_dir,
                   verify, cache)  # fmt: skip


_RELEASE_KEYS = frozenset({"apiVersion", "kind", "metadata", "module", "values", "components"})


def _json_object(payload: str) -> dict[str, Any]:
    """The release's JSON data; a cheap check of its shape (the full one is the model's)."""
    data = json.loads(payload)
    if not isinstance(data, dict) or data.keys() != _RELEASE_KEYS or data["kind"] != "ModuleRelease":
        raise ValueError("not the JSON of a ModuleRelease")
    return data


def _render(
    parse: Callable[[str], T],
    path: StrPath,
    values: Mapping[str, Any] | None,
    namespace: str,
    name: str | None,
    file: StrPath | None,
    package: str | None,
    registry: str | RegistryLike | None,
    modules: Mapping[str, StrPath] | None,
    cache_dir: StrPath | None,
    verify: bool,
    cache_arg: Cache | bool | None,
) -> T:
    """The release parsed by ``parse``, from the cache or computed (and stored)."""
    _check_file(file)
    cache = resolve(cache_arg)
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str, not {type(namespace).__name__}")
    try:
        values_json = None if values is None else keys.canonical_json(_as_dict(values))
    except (TypeError, ValueError):
        cache = None  # not JSON data: computed every time
        values_json = None
    if cache is None:
        uncached = _request(path, file, package, registry, modules, cache_dir, verify)
        return parse(_compute_release(uncached, values, namespace, name, None))

    # A hit must cost little more than reading its JSON: the key of the same
    # call is remembered while no file it was computed from has changed.
    versions = (keys.cuepy_version(), keys.cue_version())
    call = (keys.absolute(path), file, package, _registry(registry), os.environ.get("CUE_REGISTRY", ""),
            _modules_key(modules), verify, values_json, namespace, name, versions)  # fmt: skip
    key = keys.recall(call)
    request: _Request | None = None
    if key is None:
        request = _request(path, file, package, registry, modules, cache_dir, verify)
        sources = request.sources()
        key = _render_key(request, sources, values_json, namespace, name)
        keys.remember(call, sources, key)
    stored = _stored_release(cache, key, parse)
    if stored is not None:
        return stored
    request = request or _request(path, file, package, registry, modules, cache_dir, verify)
    payload = _compute_release(request, values, namespace, name, cache)
    result = parse(payload)
    if _render_key(request, request.sources(), values_json, namespace, name) == key:
        cache.put("render", key, payload)  # (sources changed while computing: returned, not stored)
    return result


def _stored_release(cache: Cache, key: str, parse: Callable[[str], T]) -> T | None:
    """The stored release parsed, or None; a stored release that does not parse is discarded."""
    payload = cache.get("render", key)
    if payload is None:
        return None
    try:
        return parse(payload)
    except ValueError as exc:  # sound bytes, unusable content (pydantic's errors are ValueErrors)
        cache.discard("render", key, f"unusable release: {str(exc).splitlines()[0]}")
        return None


def _as_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    return values if type(values) is dict else dict(values)


def _modules_key(modules: Mapping[str, StrPath] | None) -> tuple[tuple[str, str], ...]:
    return tuple((k, os.fspath(v)) for k, v in modules.items()) if modules else ()


def _render_key(
    request: _Request, sources: keys.SourceSet, values_json: str | None, namespace: str, name: str | None
) -> str:
    values_digest = None if values_json is None else hashlib.sha256(values_json.encode()).hexdigest()
    return keys.digest("render", sources, **request.key_parts(), values=values_digest, namespace=namespace,
                       name=name)  # fmt: skip


def _compute_release(
    request: _Request, values: Mapping[str, Any] | None, namespace: str, name: str | None, cache: Cache | None
) -> str:
    from cuepy.opm import release as opm_release

    context = Context()
    module, kind = _load(request, cache, context)
    result = opm_release(module, values, namespace=namespace, name=name, context=context)
    if result.module.kind != kind and kind in ("ModuleDefinition", "Module"):
        # Released from the compiled Module; the user's module is the definition.
        result = result.model_copy(update={"module": result.module.model_copy(update={"kind": kind})})
    return result.model_dump_json()
