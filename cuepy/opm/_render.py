"""render(): a module instance through its catalog's transformers, out come Kubernetes objects (docs/render.md).

A render is

1. the release of the module (``cuepy.opm.release``, strict: every component
   concrete), its compiled module coming from the module cache (blueprints
   flattened once);
2. one CUE evaluation of a *render template*: a file, given to the loader as
   an overlay in the module's directory, importing the catalog's transformer
   packages; the transformers (any definition of those packages with
   ``kind: "Transformer"`` and a ``#transform``) are filled into it once per
   process, then each render fills the release data and exports the matched
   outputs. Matching follows OPM's rules (all of ``requiredResources``,
   ``requiredTraits`` and ``requiredLabels`` present on the component) and is
   done by comprehension in CUE (``match="cue"``, the default: measured
   faster, see docs/render.md) or in Python over the release (``match="python"``);
3. checks: every component matched some transformer; no two outputs are the
   same object (apiVersion, kind, namespace, name).

Which packages hold transformers: ``transformers=`` (import paths), else
``<dependency>/transformers@vN`` for each dependency of the module's
``cue.mod/module.cue`` (``cuepy.dev/opm/transformers@v0`` for cuepy's
catalog) that exists.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cuepy.api import Context, LoadInputs, LoadOptions, RegistryLike, load_inputs, merge_options, registry_name
from cuepy.errors import CueError, CueLoadError, CueUsageError, ErrorDetail
from cuepy.opm._errors import OPMError, clarify_render, join_path
from cuepy.stop import cores, in_parallel
from cuepy.value import Value

if TYPE_CHECKING:
    from cuepy.cache import Cache
    from cuepy.flatten import CompiledModule
    from cuepy.opm.models import Layout

StrPath = str | os.PathLike[str]
Match = Literal["cue", "python"]

__all__ = [
    "OPMConflictError",
    "OPMRenderError",
    "OPMUnmatchedError",
    "Render",
    "TransformerMatch",
    "render",
]

#: The cores this process may run on: a render evaluates its components in as many parts.
_CORES = cores()

#: The overlay file the render template is given as (in the module's directory; never written).
RENDER_FILE = "cuepy_render.gen.cue"

#: Kinds in the order ``kubectl apply`` of a directory should meet them; others after, by name.
KIND_ORDER = (
    "Namespace", "ServiceAccount", "Secret", "ConfigMap", "PersistentVolume", "PersistentVolumeClaim",
    "Role", "RoleBinding", "Service", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob",
    "HorizontalPodAutoscaler", "Ingress",
)  # fmt: skip


class OPMRenderError(OPMError, CueError):
    """A render failed for a reason of its own (not CUE's): see the subclasses."""


class OPMUnmatchedError(OPMRenderError):
    """A component matches no transformer; ``components`` names them."""

    components: tuple[str, ...] = ()


class OPMConflictError(OPMRenderError):
    """Two transformers (or one, twice) write the same object; ``components`` names who wrote it."""

    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransformerMatch:
    """One (component, transformer) pair of a render and the objects it wrote."""

    component: str
    transformer: str
    """The transformer's FQN (``metadata.fqn``), or its definition name when it has none."""
    objects: tuple[tuple[str, str], ...] = ()
    """``(kind, name)`` of each object it wrote (empty: matched, wrote nothing)."""


@dataclass(frozen=True)
class Render:
    """The Kubernetes objects of a module instance and the matches that wrote them."""

    objects: list[dict[str, Any]]
    """In a stable order: by kind (ConfigMaps and claims before Services before workloads), then name."""
    matches: tuple[TransformerMatch, ...] = field(default=())

    def file_names(self) -> list[str]:
        """``<kind>-<name>.yaml`` for each object (lowercase kind; namespace added only if names clash)."""
        names = [f"{o['kind'].lower()}-{o['metadata']['name']}.yaml" for o in self.objects]
        if len(set(names)) == len(names):
            return names
        return [f"{o['kind'].lower()}-{o['metadata'].get('namespace', '_')}-{o['metadata']['name']}.yaml"
                for o in self.objects]  # fmt: skip

    def to_yaml(self) -> str:
        """Every object as one multi-document YAML stream."""
        return "".join(f"---\n{to_yaml(o)}" for o in self.objects)

    def to_json(self) -> str:
        """The objects as a JSON list (indented)."""
        return json.dumps(self.objects, indent=2, ensure_ascii=False) + "\n"

    def to_data(self) -> dict[str, Any]:
        """JSON data of the whole render (objects and matches); ``from_data`` reads it back."""
        return {
            "objects": self.objects,
            "matches": [[m.component, m.transformer, [list(o) for o in m.objects]] for m in self.matches],
        }

    @classmethod
    def from_data(cls, data: Any) -> Render:
        if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
            raise ValueError("not the data of a render")
        matches = tuple(TransformerMatch(c, t, tuple((k, n) for k, n in objs)) for c, t, objs in data["matches"])
        return cls(data["objects"], matches)


def to_yaml(obj: Any) -> str:
    """One object as block YAML, keys in their order (PyYAML)."""
    import yaml

    return str(yaml.dump(obj, Dumper=_dumper(), sort_keys=False, default_flow_style=False, allow_unicode=True,
                         width=1 << 16))  # fmt: skip


# YAML 1.1 line breaks beyond \n and \r: PyYAML writes them raw in a single-quoted scalar, where
# a reader folds U+0085 into a space (PyYAML) or keeps the indentation (YAML 1.2 readers).
_BREAKS = ("\x85", "\u2028", "\u2029")


@functools.cache
def _dumper() -> type[Any]:
    """PyYAML's safe dumper, writing strings with such breaks double-quoted (escaped: \\N, \\L, \\P)."""
    import yaml

    def string(dumper: Any, data: str) -> Any:
        style = '"' if any(b in data for b in _BREAKS) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    dumper: type[Any] = type("Dumper", (yaml.SafeDumper,), {})  # (SafeDumper itself stays as it is)
    dumper.add_representer(str, string)
    return dumper


# The render template -------------------------------------------------------------

_TEMPLATE = """// Generated by cuepy.opm.render: the catalog's transformers applied to a release.
package cuepyrender

import (
{imports}
)

{packages}

// Filled by cuepy: key -> transformer definition.
#transformers: [string]: _

// Filled by cuepy for each render.
#in: {{
	context: _
	components: [string]: _
	has: [string]: {{resources: [string]: bool, traits: [string]: bool}}
	pairs: [...{{component: string, transformer: string}}]
}}

_matches: {{
	#t: _
	#c: _
	#h: _
	// Guards rather than defaults (`*x | {{}}`): a disjunction per pair cost a fifth of a render.
	missing: len([if #t.requiredResources != _|_ for f, _ in #t.requiredResources if #h.resources[f] == _|_ {{f}}]) +
		len([if #t.requiredTraits != _|_ for f, _ in #t.requiredTraits if #h.traits[f] == _|_ {{f}}]) +
		len([if #t.requiredLabels != _|_ for k, _ in #t.requiredLabels {{k}}]) -
		len([if #t.requiredLabels != _|_ for k, v in #t.requiredLabels
			if #c.metadata.labels[k] != _|_ if #c.metadata.labels[k] == v {{k}}])
}}

// Matching in CUE: every component with every transformer whose requirements it meets.
matched: [for cid, c in #in.components for key, tr in #transformers
	if (_matches & {{#t: tr, #c: c, #h: #in.has[cid]}}).missing == 0 {{
		component:   cid
		transformer: key
		output:      (tr.#transform & {{#component: c, #context: #in.context}}).output
	}}]

// Matching in Python: the pairs given.
paired: [for p in #in.pairs {{
	component:   p.component
	transformer: p.transformer
	let T = #transformers[p.transformer]
	output: (T.#transform & {{#component: #in.components[p.component], #context: #in.context}}).output
}}]

requirements: {{for key, tr in #transformers {{
	(key): {{
		resources: [for f, _ in *tr.requiredResources | {{}} {{f}}]
		traits: [for f, _ in *tr.requiredTraits | {{}} {{f}}]
		labels: {{for k, v in *tr.requiredLabels | {{}} {{(k): v}}}}
		fqn: *tr.metadata.fqn | key
	}}
}}}}
"""


def template_source(packages: Sequence[str], listing: Mapping[str, str] | None = None) -> str:
    """The render template importing ``packages``; ``listing`` (key -> ``tN.#Def``) fills ``#transformers``."""
    imports = "\n".join(f'\tt{i} "{p}"' for i, p in enumerate(packages))
    if listing is None:
        fields = "\n".join(f"#pkg{i}: t{i}" for i in range(len(packages)))
    else:
        fields = "#transformers: {\n" + "".join(f"\t{k}: {ref}\n" for k, ref in listing.items()) + "}"
    return _TEMPLATE.format(imports=imports, packages=fields)


@dataclass
class Template:
    """A catalog's transformers loaded as the render template, kept while its sources are unchanged."""

    value: Value
    keys: dict[str, str]  # template key -> FQN
    requirements: dict[str, dict[str, Any]]
    inputs: LoadInputs
    stamp: tuple[Any, ...]
    source: str
    """The template's CUE source, loaded in ``directory`` with ``options``."""
    directory: str
    options: LoadOptions
    packages: tuple[str, ...]
    """The packages the transformers come from (``t0``, ``t1``, ... in the source)."""
    spares: list[Value] = field(default_factory=list)
    """The values lent to renders (``spare``): ``value`` and copies of it, each in its own context."""


_templates: dict[tuple[Any, ...], Template] = {}
_templates_lock = threading.Lock()


def _stamp(inputs: LoadInputs) -> tuple[Any, ...]:
    out: list[Any] = []
    for path in (*inputs.files, *inputs.directories):
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, None))
            continue
        out.append((path, st.st_mtime_ns, st.st_size))
    return tuple(out)


def transformer_packages(directory: StrPath) -> list[str]:
    """The candidate transformer packages of the module in ``directory``: ``<dep>/transformers@vN`` per dependency."""
    root = os.path.abspath(directory)
    while not os.path.isfile(os.path.join(root, "cue.mod", "module.cue")):
        parent = os.path.dirname(root)
        if parent == root:
            raise CueUsageError(f"{directory}: no cue.mod/module.cue above it: pass transformers=")
        root = parent
    with open(os.path.join(root, "cue.mod", "module.cue"), encoding="utf-8") as f:
        text = f.read()
    from cuepy.api import compile as cue_compile

    deps = cue_compile(text, filename=os.path.join(root, "cue.mod", "module.cue")).get("deps")
    names = [label for label, _ in deps.fields()] if deps is not None else []
    out = []
    for name in names:
        path, sep, major = name.rpartition("@")
        if sep and re.fullmatch(r"v[0-9]+", major):
            out.append(f"{path}/transformers@{major}")
    return out


def template(directory: str, packages: Sequence[str] | None, options: LoadOptions) -> Template:
    """The render template for modules in ``directory``, kept in the process while its sources are
    unchanged."""
    key = (directory, tuple(packages) if packages is not None else None, registry_name(options.registry),
           tuple(sorted((k, os.path.abspath(v)) for k, v in (options.modules or {}).items())))  # fmt: skip
    kept = _templates.get(key)
    if kept is not None and _stamp(kept.inputs) == kept.stamp:
        return kept
    made = _make_template(directory, packages, options)
    with _templates_lock:
        if len(_templates) > 64:
            _templates.clear()
        _templates[key] = made
    return made


def _make_template(directory: str, packages: Sequence[str] | None, options: LoadOptions) -> Template:
    explicit = packages is not None
    candidates = list(packages) if packages is not None else transformer_packages(directory)
    if not candidates:
        raise OPMRenderError(f"{directory}: the module has no dependency to take transformers from; pass transformers=")
    try:
        found, value = candidates, _load_template(directory, candidates, options)
    except CueLoadError:
        if explicit or len(candidates) == 1:
            raise
        found = []
        for candidate in candidates:  # which of the dependencies has a transformers package
            try:
                _load_template(directory, [candidate], options).close()
            except CueLoadError:
                continue
            found.append(candidate)
        if not found:
            raise OPMRenderError(f"{directory}: none of {candidates} is a package (pass transformers=)") from None
        value = _load_template(directory, found, options)
    listing: dict[str, str] = {}
    for i in range(len(found)):
        pkg = value.lookup(f"#pkg{i}")
        for label, definition in pkg.fields(definitions=True):
            if label.startswith("#") and _is_transformer(definition):
                listing[f"t{i}_{label[1:]}"] = f"t{i}.{label}"
    if not listing:
        raise OPMRenderError(f'no transformer (a definition with kind "Transformer" and #transform) in {found}')
    # Loaded again with the transformers listed in the source: a render of that template evaluates
    # about 3x faster than one of a template whose transformers were filled in as Values.
    value.close()
    source = template_source(found, listing)
    value = _load_source(directory, source, options, found)
    keys = dict.fromkeys(listing, "")
    requirements = value.lookup("requirements").to_python()
    inputs = load_inputs(directory, files=[RENDER_FILE], overlay={RENDER_FILE: source}, options=options)
    return Template(value, {k: requirements[k]["fqn"] for k in keys}, requirements, inputs, _stamp(inputs),
                    source, directory, options, tuple(found), [value])  # fmt: skip


@contextlib.contextmanager
def spare(shared: Template) -> Iterator[Value]:
    """The template's value, or a copy of it in a context of its own, lent to one caller and kept
    for the next while usable (up to two per core, 6 MiB each for the large example: with one,
    renders on 4 threads were 10% slower). libcuepy evaluates one context at a time, so the parts
    of a render, and renders in several threads, each on a value of its own, run in parallel; a
    stopped evaluation refuses the context it hits, to this value's holders alone."""
    with _templates_lock:
        value: Value | None = shared.spares.pop() if shared.spares else None
    if value is None:
        value = _load_source(shared.directory, shared.source, shared.options, shared.packages)
    try:
        yield value
    finally:
        if value.usable():
            with _templates_lock:
                if len(shared.spares) < 2 * cores():
                    shared.spares.append(value)
                    value = None
        if value is not None and value is not shared.value:  # (the template's own stays with it)
            value.close()


def _load_template(directory: str, packages: Sequence[str], options: LoadOptions) -> Value:
    return _load_source(directory, template_source(packages), options, packages)


def _load_source(directory: str, source: str, options: LoadOptions, packages: Sequence[str]) -> Value:
    """The template ``source`` importing ``packages``, loaded in ``directory``; its errors name the
    packages' definitions and lines, not the template's."""
    from cuepy.api import load

    try:
        return load(directory, files=[RENDER_FILE], overlay={RENDER_FILE: source}, options=options)
    except CueError as exc:
        headline = f"cannot load the transformers of {', '.join(packages)}"
        generated = os.path.join(os.path.abspath(directory), RENDER_FILE)
        subject = functools.partial(_template_subject, packages)
        raise clarify_render(exc, headline, subject, directory, hide=generated) from exc


def _template_subject(packages: Sequence[str], path: Sequence[str]) -> str:
    """``<package>: #Def.field`` for the template's ``#pkgN.#Def.field`` and ``#transformers.tN_Def.field``."""
    path = tuple(path)
    if not path:
        return ""
    found = re.fullmatch(r"#pkg(\d+)", path[0])
    if found and int(found[1]) < len(packages) and len(path) > 1:
        return f"{packages[int(found[1])]}: {join_path(path[1:])}"
    listed = path[0] in ("#transformers", "requirements") and len(path) > 1
    found = re.fullmatch(r"t(\d+)_(.+)", path[1]) if listed else None
    if found and int(found[1]) < len(packages):
        return f"{packages[int(found[1])]}: {join_path(('#' + found[2], *path[2:]))}"
    return join_path(path)


def _is_transformer(definition: Value) -> bool:
    kind = definition.get("kind")
    if kind is None or not kind.is_concrete() or kind.to_python() != "Transformer":
        return False
    if definition.get("#transform") is None:
        return False
    # The abstract definition (a package's own #Transformer) has no concrete name.
    name = definition.get("metadata.name")
    return name is not None and name.is_concrete()


# Rendering -----------------------------------------------------------------------


def render_release(
    release_data: Mapping[str, Any],
    tpl: Template,
    *,
    match: Match = "cue",
) -> Render:
    """The render of a release (``ModuleRelease`` as JSON data) through the template's transformers."""
    components: dict[str, Any] = {}
    has: dict[str, Any] = {}
    for cid, c in release_data["components"].items():
        metadata = {k: v for k, v in c["metadata"].items() if v is not None}
        components[cid] = {"apiVersion": c.get("apiVersion"), "kind": c.get("kind"), "metadata": metadata,
                           "resources": c["resources"], "traits": c["traits"], "spec": c["spec"]}  # fmt: skip
        components[cid] = {k: v for k, v in components[cid].items() if v is not None}
        has[cid] = {"resources": dict.fromkeys(c["resources"], True), "traits": dict.fromkeys(c["traits"], True)}
    meta = release_data["metadata"]
    module = release_data["module"]
    context = {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {},
               "module": {"name": module["name"], "version": module["version"]}}  # fmt: skip
    if match not in ("cue", "python"):
        raise ValueError(f"match must be 'cue' or 'python', not {match!r}")
    pairs = _pairs(tpl, components, has) if match == "python" else []
    headline = f"cannot render release {meta['name']!r} in namespace {meta['namespace']!r}"
    parts = _evaluated_in_parts(tpl, context, components, has, pairs, "matched" if match == "cue" else "paired",
                                headline)  # fmt: skip
    rank = {cid: i for i, cid in enumerate(components)}
    # In the components' order, as one evaluation gives them (sorted is stable: a component's pairs keep theirs).
    results = sorted((r for part in parts for r in part), key=lambda r: rank[r["component"]])
    return _assemble(results, tpl, components)


def _evaluated_in_parts(
    tpl: Template,
    context: Mapping[str, Any],
    components: Mapping[str, Any],
    has: Mapping[str, Any],
    pairs: list[dict[str, str]],
    name: str,
    headline: str,
) -> list[Any]:
    """The template's field ``name`` for the components, split in a part per core, evaluated at once.

    Each component's transformers depend on that component and the context alone, so the
    parts are independent: on 2 cores the render step of the large example takes half the time.
    """
    ids = list(components)
    n = max(1, min(_CORES, len(ids)))

    def evaluate(part: set[str]) -> Any:
        with spare(tpl) as value:
            return evaluate_on(value, part)

    def evaluate_on(template: Value, part: set[str]) -> Any:
        ours = {cid: c for cid, c in components.items() if cid in part}
        given = [p for p in pairs if p["component"] in part]
        data = {"context": context, "components": ours, "has": {cid: h for cid, h in has.items() if cid in part},
                "pairs": given}  # fmt: skip
        try:
            filled = template.fill("#in", data)
            try:
                return filled.lookup(name).to_python()
            finally:
                filled.close()
        except CueError as exc:
            # The list's entries, in its order: the pairs given, or those CUE matched, which are
            # the pairs Python's matching finds (the same requirements, met by the same data).
            listed = given if name == "paired" else _pairs(tpl, ours, has)
            named = [(p["component"], tpl.keys[p["transformer"]]) for p in listed]
            raise clarify_render(exc, headline, functools.partial(_pair_subject, named), tpl.directory) from exc

    return in_parallel([functools.partial(evaluate, set(ids[i::n])) for i in range(n)])


def _pair_subject(pairs: Sequence[tuple[str, str]], path: Sequence[str]) -> str:
    """``component "web", transformer <fqn>: output.spec`` for ``matched.N.output.spec``: ``pairs``
    are the (component, transformer) of the ``matched``/``paired`` list, in its order."""
    path = tuple(path)
    if len(path) >= 2 and path[0] in ("matched", "paired") and path[1].isdigit() and int(path[1]) < len(pairs):
        component, transformer = pairs[int(path[1])]
        rest = path[2:]
        return f'component "{component}", transformer {transformer}' + (f": {join_path(rest)}" if rest else "")
    return join_path(path)


def _pairs(tpl: Template, components: Mapping[str, Any], has: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each component with each transformer whose requirements it meets, in the template's order."""
    return [{"component": cid, "transformer": key} for cid, c in components.items()
            for key, req in tpl.requirements.items() if _meets(c, has[cid], req)]  # fmt: skip


def _meets(component: Mapping[str, Any], has: Mapping[str, Any], req: Mapping[str, Any]) -> bool:
    labels = component["metadata"].get("labels") or {}
    return (all(f in has["resources"] for f in req["resources"]) and all(f in has["traits"] for f in req["traits"])
            and all(labels.get(k) == v for k, v in req["labels"].items()))  # fmt: skip


def _assemble(results: list[dict[str, Any]], tpl: Template, components: Mapping[str, Any]) -> Render:
    matched: dict[str, list[TransformerMatch]] = {cid: [] for cid in components}
    written: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    objects: list[dict[str, Any]] = []
    for r in results:
        cid, fqn = r["component"], tpl.keys[r["transformer"]]
        outs = _objects(r["output"], cid, fqn)
        names = []
        for obj in outs:
            meta = obj.get("metadata") or {}
            ident = (str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("namespace", "")),
                     str(meta.get("name")))  # fmt: skip
            if ident in written:
                other = written[ident]
                who = sorted({cid, other[0]})
                raise _conflict(ident, (cid, fqn), other, who)
            written[ident] = (cid, fqn)
            objects.append(obj)
            names.append((ident[1], ident[3]))
        matched[cid].append(TransformerMatch(cid, fqn, tuple(names)))
    lonely = [cid for cid, ms in matched.items() if not ms]
    if lonely:
        lines = []
        for cid in lonely:
            c = components[cid]
            labels = c["metadata"].get("labels") or {}
            lines.append(f'component "{cid}": matches no transformer (resources {c["resources"]}, '
                         f'traits {c["traits"]}, labels {labels})')  # fmt: skip
        details = tuple(ErrorDetail(message=line, path=(cid,), positions=())
                        for cid, line in zip(lonely, lines, strict=True))  # fmt: skip
        error = OPMUnmatchedError("\n".join(lines), details)
        error.components = tuple(lonely)
        raise error
    objects.sort(key=_order)
    return Render(objects, tuple(m for ms in matched.values() for m in ms))


def _objects(output: Any, cid: str, fqn: str) -> list[dict[str, Any]]:
    """A transformer's output as its list of objects: one object, or a list of them."""
    outs = output if isinstance(output, list) else [output]
    for obj in outs:
        if not isinstance(obj, dict):
            got = "null" if obj is None else type(obj).__name__
            raise OPMRenderError(f'component "{cid}": transformer {fqn} gives an output that is not an object '
                                 f"or a list of objects ({got})")  # fmt: skip
    return outs


def _conflict(
    ident: tuple[str, str, str, str], now: tuple[str, str], before: tuple[str, str], who: list[str]
) -> OPMConflictError:
    api, kind, ns, name = ident
    message = (f'component "{now[0]}": {kind} {ns}/{name} ({api}) is written twice: by transformer {now[1]} '
               f'(component "{now[0]}") and by transformer {before[1]} (component "{before[0]}")')  # fmt: skip
    error = OPMConflictError(message, (ErrorDetail(message=message, path=tuple(who), positions=()),))
    error.components = tuple(who)
    return error


def _order(obj: Mapping[str, Any]) -> tuple[int, str, str, str]:
    kind = str(obj.get("kind"))
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    meta = obj.get("metadata") or {}
    return (rank, kind, str(meta.get("namespace", "")), str(meta.get("name", "")))


def release_data(
    module: Value,
    values: Any,
    namespace: str,
    name: str | None,
    context: Context | None,
    layout: Layout | None = None,
) -> dict[str, Any]:
    """The strict release of ``module`` as JSON data (``layout``: where its parts are, if known)."""
    from cuepy.opm import release as opm_release

    rel = opm_release(module, values, namespace=namespace, name=name, context=context, strict=True, layout=layout)
    data: dict[str, Any] = rel.model_dump(mode="json")
    return data


def render(
    module: StrPath | Value | CompiledModule,
    values: Any = None,
    *,
    namespace: str,
    name: str | None = None,
    file: StrPath | None = None,
    registry: str | RegistryLike | None = None,
    modules: Mapping[str, StrPath] | None = None,
    cache: Cache | bool | None = None,
    transformers: Sequence[str] | None = None,
    directory: StrPath | None = None,
    match: Match = "cue",
    options: LoadOptions | None = None,
) -> Render:
    """See ``cuepy.opm.render``."""
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str, not {type(namespace).__name__}")
    if isinstance(transformers, str):
        transformers = [transformers]
    elif transformers is not None:
        if not isinstance(transformers, Iterable) or not all(isinstance(t, str) for t in transformers):
            raise TypeError(f"transformers must be import paths (strings), not {transformers!r}")
        transformers = list(transformers)
    if isinstance(module, str | os.PathLike):
        from cuepy.opm import _cached

        return _cached.render_manifests(module, values, namespace=namespace, name=name, file=file,
                                        registry=registry, modules=modules, cache=cache,
                                        transformers=transformers, match=match, options=options)  # fmt: skip
    from cuepy.flatten import CompiledModule

    if isinstance(module, CompiledModule):
        where = str(module.directory)
        resolved = merge_options(module.load_options if options is None else options, registry=registry,
                                 modules=modules)  # fmt: skip
        value = module.load()
    elif isinstance(module, Value):
        if directory is None:
            raise CueUsageError("render of a Value needs directory= (where the module's cue.mod is)")
        resolved = merge_options(options, registry=registry, modules=modules)
        where, value = os.path.abspath(directory), module
    else:
        raise TypeError(f"module must be a path, a Value or a CompiledModule, not {type(module).__name__}")
    data = release_data(value, values, namespace, name, None)
    return render_release(data, template(where, transformers, resolved), match=match)
