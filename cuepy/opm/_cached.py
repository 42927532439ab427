"""``cuepy.opm.load``, ``cuepy.opm.render_release`` and ``cuepy.opm.render``: OPM modules through the generic cache.

Three kinds of entries, both through ``Cache.memoize`` (cuepy/cache), keyed by
the request and the content of every file a load of the module reads
(``cuepy.api.load_inputs``):

* ``module``: the module flattened by ``cuepy.flatten`` (with nothing to
  flatten, it comes back as written), as ``CompiledModule.to_json()`` with
  paths relative to the load's directory; in a warm process the loaded Value
  is kept too (``Cache.keep``);
* ``render``: the JSON of ``cuepy.opm.release`` of the module with values,
  namespace and name (``render_release``);
* ``manifests``: the Kubernetes objects of ``cuepy.opm.render`` (and the
  matched component/transformer pairs), keyed by the same request plus the
  transformer packages, and by the files of the module *and* of the render
  template's imports (the transformers and the schemas they use).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cuepy.api import (
    Context,
    LoadInputs,
    LoadOptions,
    RegistryLike,
    load_config,
    load_inputs,
    merge_options,
    registry_name,
)
from cuepy.cache import Cache, Computed, Unusable, keys, resolve
from cuepy.errors import VALUE_ERRORS, CueUsageError
from cuepy.flatten import CompiledModule, flatten
from cuepy.opm._layout import detect_layout
from cuepy.opm.models import Layout
from cuepy.stop import stoppable
from cuepy.value import Value

if TYPE_CHECKING:
    from cuepy.opm._render import Render

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class _Request:
    """One module to load: where, which file or package, and how dependencies resolve."""

    directory: str
    file: str | None
    package: str | None
    options: LoadOptions
    verify: bool

    def inputs(self) -> LoadInputs:
        files = [self.file] if self.file is not None else None
        return load_inputs(self.directory, files=files, package=self.package, options=self.options)

    def inputs_key(self) -> str:
        """What decides ``inputs()`` besides the files it lists: the load's configuration
        (directory, file, package, options, the environment a load reads)."""
        files = [self.file] if self.file is not None else None
        return keys.canonical_json(load_config(self.directory, files=files, package=self.package,
                                               options=self.options))  # fmt: skip

    def labels(self) -> dict[str, str]:
        """The directories serving ``modules=``, named by module in keys (a copy elsewhere keeps them)."""
        return {key: os.path.abspath(d) for key, d in (self.options.modules or {}).items()}

    def parts(self) -> dict[str, Any]:
        """What, besides the files read, decides the compiled module."""
        return {
            "file": self.file,
            "package": self.package,
            # A module fetched from a registry is pinned by path and version in
            # cue.mod/module.cue (a file read); the registry it comes from is named here.
            "registry": registry_name(self.options.registry) or os.environ.get("CUE_REGISTRY", ""),
            "modules": sorted(self.options.modules or ()),
            "flatten": {"verify": self.verify},
        }


def _request(path: StrPath, file: StrPath | None, package: str | None, options: LoadOptions, verify: bool) -> _Request:
    if file is not None and not isinstance(file, str | os.PathLike):
        raise TypeError("file must be one path (the module file), not a list")
    return _Request(os.path.abspath(path), os.fspath(file) if file is not None else None, package, options, verify)


# Compiled modules ---------------------------------------------------------------


def load(
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
    options: LoadOptions | None = None,
) -> Value:
    """Load an OPM module, paying for its blueprints once (see ``cuepy.opm.load``)."""
    resolved = merge_options(options, registry=registry, modules=modules, cache_dir=cache_dir)
    request = _request(path, file, package, resolved, verify)
    return _module(request, resolve(cache), context)


def _module(request: _Request, store: Cache | None, context: Context | None) -> Value:
    """The module Value: the compiled module, loaded."""
    return _module_keyed(request, store, context)[0]


def _module_keyed(request: _Request, store: Cache | None, context: Context | None) -> tuple[Value, str | None]:
    """The module Value and the key of its compiled module (None when not stored)."""
    if store is None:
        return _compile(request).load(context=context or Context()), None

    fresh: list[Value] = []  # a miss's module as the flattener's verification evaluated it

    def compute() -> str | Computed:
        compiled = _compile(request)
        if compiled.evaluated is not None and context is None:
            fresh.append(compiled.evaluated)
        entry = _to_entry(compiled, request)
        return Computed(entry, compiled.inputs) if compiled.inputs is not None else entry

    def use(payload: str, key: str | None) -> tuple[Value, str | None]:
        return _use(payload, key), key

    def _use(payload: str, key: str | None) -> Value:
        # Shared with other holders only outside a time limit or cancel scope: a stop in a
        # module's context refuses it to every holder (cuepy.stop), so a bounded call gets its own.
        keep = context is None and key is not None and not stoppable()
        if keep:
            kept = store.kept(key or "")
            if kept is not None:
                return kept
        if fresh:  # just computed: no need to load it again
            value = fresh.pop()
            if keep:
                store.keep(key or "", value)
            return value
        compiled = _from_entry(payload, request)
        try:
            value = compiled.load(context=context or Context())
        except VALUE_ERRORS as exc:
            # A stored module that does not load cannot be right for these sources (a module
            # that fails is never stored): discarded and computed again. A stop, a refused
            # context or a forked process is no fault of the entry's: raised as it is.
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise Unusable(f"does not load: {first}") from exc
        except CueUsageError as exc:  # the caller's, unless the entry's line maps are what libcuepy refused
            if all(lines.well_formed() for lines in compiled.lines.values()):
                raise
            raise Unusable("a line map is malformed") from exc
        if keep:
            store.keep(key or "", value)
        return value

    return store.memoize("module", directory=request.directory, request=request.parts(), inputs=request.inputs,
                         compute=compute, use=use, labels=request.labels(),
                         inputs_key=request.inputs_key, computes_listing=True)  # fmt: skip


_LAYOUTS_MAX = 256
_layouts: dict[str, Layout] = {}
"""Per process: a compiled module's key -> where its parts are (a module's layout is decided by its
source alone), so a release of a known module does not look for them again."""


def _release_layout(key: str | None, module: Value) -> Layout | None:
    """The layout of the compiled module ``key``, detected once; None (the release detects it and
    reports what is wrong) when it is not stored or cannot be detected."""
    if key is None:
        return None
    found = _layouts.get(key)
    if found is None:
        try:
            found = detect_layout(module)
        except VALUE_ERRORS:
            return None
        if len(_layouts) >= _LAYOUTS_MAX:
            _layouts.clear()
        _layouts[key] = found
    return found


def _compile(request: _Request) -> CompiledModule:
    """Miss: flatten the module (with nothing to flatten, it comes back as written)."""
    return flatten(request.directory, file=request.file, package=request.package, verify=request.verify,
                   options=request.options)  # fmt: skip


def _to_entry(compiled: CompiledModule, request: _Request) -> str:
    """The stored form: ``CompiledModule.to_json()`` with paths relative to the load's directory
    (the entry serves a copy of the module elsewhere too)."""
    return json.dumps(compiled.to_json(relative_to=request.directory), ensure_ascii=False)


def _from_entry(payload: str, request: _Request) -> CompiledModule:
    try:
        return CompiledModule.from_json(json.loads(payload), request.options, relative_to=request.directory)
    except ValueError as exc:  # (json's errors and from_json's)
        raise Unusable("not a compiled-module entry") from exc


# Releases -----------------------------------------------------------------------


def render_release(
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
    options: LoadOptions | None = None,
) -> dict[str, Any]:
    """The release of the module at ``path`` as JSON data, through the cache (see ``cuepy.opm.render_release``)."""
    store = resolve(cache)
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str, not {type(namespace).__name__}")
    resolved = merge_options(options, registry=registry, modules=modules, cache_dir=cache_dir)
    request = _request(path, file, package, resolved, verify)
    try:
        values_json = None if values is None else keys.canonical_json(_as_dict(values))
    except (TypeError, ValueError):
        store = None  # not JSON data: computed every time
        values_json = None
    if store is None:
        return _json_object(_compute_release(request, values, namespace, name, None))
    parts = {**request.parts(), "values": values_json, "namespace": namespace, "name": name}
    return store.memoize("render", directory=request.directory, request=parts, inputs=request.inputs,
                         compute=lambda: _compute_release(request, values, namespace, name, store),
                         use=lambda payload, _key: _json_object(payload), labels=request.labels(),
                         inputs_key=request.inputs_key)  # fmt: skip


_RELEASE_KEYS = frozenset({"apiVersion", "kind", "metadata", "module", "values", "components"})


def _json_object(payload: str) -> dict[str, Any]:
    """The release's JSON data; a cheap check of its shape (the full one is the model's)."""
    data = json.loads(payload)
    if not isinstance(data, dict) or data.keys() != _RELEASE_KEYS or data["kind"] != "ModuleRelease":
        raise Unusable("not the JSON of a ModuleRelease")
    return data


def _as_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    return values if type(values) is dict else dict(values)


def _compute_release(
    request: _Request, values: Mapping[str, Any] | None, namespace: str, name: str | None, store: Cache | None
) -> str:
    from cuepy.opm import release as opm_release

    context = Context()
    module, key = _module_keyed(request, store, context)
    layout = _release_layout(key, module)
    return opm_release(module, values, namespace=namespace, name=name, context=context,
                       layout=layout).model_dump_json()  # fmt: skip


# Kubernetes renders ----------------------------------------------------------------


def render_manifests(
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
    transformers: Sequence[str] | None = None,
    match: str = "cue",
    options: LoadOptions | None = None,
) -> Render:
    """The Kubernetes render of the module at ``path``, through the cache (see ``cuepy.opm.render``)."""
    from cuepy.opm import _render

    store = resolve(cache)
    resolved = merge_options(options, registry=registry, modules=modules, cache_dir=cache_dir)
    request = _request(path, file, package, resolved, verify)
    try:
        values_json = None if values is None else keys.canonical_json(_as_dict(values))
    except (TypeError, ValueError):
        store = None  # not JSON data: computed every time
        values_json = None

    @functools.cache  # (a miss asks for it twice: for the key's inputs, then to render)
    def template() -> _render.Template:
        return _render.template(request.directory, transformers, request.options)

    def compute() -> _render.Render:
        context = Context()
        module, key = _module_keyed(request, store, context)
        data = _render.release_data(module, values, namespace, name, context, _release_layout(key, module))
        return _render.render_release(data, template(), match=match)  # type: ignore[arg-type]

    if store is None:
        return compute()

    def inputs() -> _MergedInputs:
        return _MergedInputs.of(request.inputs(), template().inputs)

    parts = {**request.parts(), "values": values_json, "namespace": namespace, "name": name,
             "transformers": list(transformers) if transformers is not None else None}  # fmt: skip

    def listing() -> str:
        return keys.canonical_json(["render", request.inputs_key(), parts["transformers"]])

    return store.memoize("manifests", directory=request.directory, request=parts, inputs=inputs,
                         compute=lambda: json.dumps(compute().to_data(), ensure_ascii=False),
                         use=lambda payload, _key: _render_from(payload), labels=request.labels(),
                         inputs_key=listing)  # fmt: skip


def _render_from(payload: str) -> Render:
    from cuepy.opm._render import Render

    try:
        return Render.from_data(json.loads(payload))
    except (ValueError, KeyError, TypeError) as exc:
        raise Unusable("not the data of a render") from exc


@dataclass(frozen=True)
class _MergedInputs:
    """The files and directories of two loads from the same module root."""

    root: str
    files: tuple[str, ...]
    directories: tuple[str, ...]
    shipped: tuple[str, ...]

    @classmethod
    def of(cls, a: LoadInputs, b: LoadInputs) -> _MergedInputs:
        return cls(a.root, tuple(sorted({*a.files, *b.files})), tuple(sorted({*a.directories, *b.directories})),
                   tuple(sorted({*a.shipped, *b.shipped})))  # fmt: skip
