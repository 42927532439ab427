"""values_schema(): the JSON Schema of a module's values (its ``#values`` / ``#config``), for forms and UIs.

CUE v0.17's own generator (``encoding/jsonschema.Generate``, experimental)
writes no ``default``, and for a field with one (``int & >=1 | *2``, the
common case in a values schema) it keeps the type and drops the bounds
(tried on 2026-11-30). So the schema is built here by walking the Value:

* ``type`` from the value's kind (several kinds: a list of types);
* ``required``: fields marked ``!`` and regular fields with neither a
  default nor a concrete value; optional (``?``) fields and fields with a
  default are not required;
* ``default`` from CUE's default (``*x``), ``const`` for a concrete field;
* ``enum`` for a disjunction of literals (``*"info" | "debug"``);
* ``minimum`` / ``maximum`` / ``exclusiveMinimum`` / ``exclusiveMaximum``
  from bounds (``>=1``, ``<100``), ``pattern`` from ``=~``;
* lists: ``prefixItems`` for their elements, ``items`` for what an open
  list (``[...int]``) allows after them, and the list CUE gives when left
  out as its ``default``;
* bytes: a base64 ``string`` (``contentEncoding``), as CUE writes them in JSON;
* ``description`` from the field's doc comment;
* ``additionalProperties: false`` for closed structs (a definition's
  fields, not ``{a?: int, ...}``), pattern fields (``[string]: T``) as
  ``additionalProperties: T`` where they can be read.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cuepy.api import Context
from cuepy.errors import CueError
from cuepy.value import Kind, Value

__all__ = ["values_schema"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_FIELD = re.compile(r'^((?:"(?:[^"\\]|\\.)*")|[#_$A-Za-z][#_$A-Za-z0-9-]*)([?!]?):')
_BOUND = re.compile(r"(>=|<=|>|<)\s*(-?[0-9][0-9_.eE+-]*)")
_REGEX = re.compile(r'=~\s*"((?:[^"\\]|\\.)*)"')
_SIMPLE = {"string": "string", "int": "integer", "number": "number", "bool": "boolean"}
"""JSON Schema types of CUE's type names."""
_LITERAL = re.compile(r'^(?:"(?:[^"\\]|\\.)*"|-?[0-9][0-9_.eE+-]*|true|false|null)$')


def values_schema(
    module: Any,
    *,
    file: Any = None,
    registry: Any = None,
    modules: Mapping[str, Any] | None = None,
    cache: Any = None,
    layout: Any = None,
    options: Any = None,
) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the values of ``module`` (a directory with ``file=``, or a Value).

    ``layout``: a ``cuepy.opm.Layout`` saying where the values schema is; detected when None.
    ``registry``, ``modules``, ``options`` (a ``cuepy.LoadOptions``): as for ``cuepy.opm.load``.
    """
    from cuepy.opm._layout import detect_layout, given_layout, module_value

    layout = given_layout(layout)
    if isinstance(module, Value):
        value = module
    elif isinstance(module, str | os.PathLike):
        from cuepy.opm import _cached

        value = _cached.load(module, file=file, cache=cache, context=Context(), registry=registry, modules=modules,
                             options=options)  # fmt: skip
    else:
        raise TypeError(f"module must be a path or a Value, not {type(module).__name__}")
    layout = layout if layout is not None else detect_layout(value)
    mod = module_value(value, layout)
    schema = _schema(mod.lookup(layout.values))
    metadata = mod.get("metadata.name")
    title = metadata.to_python() if metadata is not None and metadata.is_concrete() else None
    out: dict[str, Any] = {"$schema": _DIALECT}
    if title:
        out["title"] = f"values of {title}"
    out.update(schema)
    return out


def _kinds(value: Value) -> list[str]:
    kind = value.kind
    types = []
    for flag, name in ((Kind.NULL, "null"), (Kind.BOOL, "boolean"), (Kind.STRING, "string"), (Kind.BYTES, "string"),
                       (Kind.STRUCT, "object"), (Kind.LIST, "array")):  # fmt: skip
        if kind & flag and name not in types:
            types.append(name)
    if kind & Kind.FLOAT:
        types.append("number")
    elif kind & Kind.INT:
        types.append("integer")
    return types


def _schema(value: Value) -> dict[str, Any]:
    types = _kinds(value)
    if types == ["object"]:
        return _object(value)
    out: dict[str, Any] = {}
    if len(types) == 1:
        out["type"] = types[0]
    elif types:
        out["type"] = types
    if value.kind == Kind.BYTES:
        out["contentEncoding"] = "base64"  # (as CUE writes bytes in JSON)
    try:
        text = value.export(format="cue").strip()
    except Exception:
        text = ""
    parts = _list_parts(text) if types == ["array"] else None
    if parts is not None:
        return {**out, **_list(value, *parts)}
    if value.is_concrete():
        out["const"] = _json(value.to_python())
        return out
    alternatives = _split(text)
    literals = [a.lstrip("*").strip() for a in alternatives]
    if len(literals) > 1 and all(_LITERAL.match(a) for a in literals):
        out["enum"] = [json.loads(a.replace("_", "")) if not a.startswith('"') else json.loads(a) for a in literals]
    else:
        for op, number in _BOUND.findall(text):
            n = json.loads(number.replace("_", ""))
            key = {">=": "minimum", "<=": "maximum", ">": "exclusiveMinimum", "<": "exclusiveMaximum"}[op]
            out[key] = n
        patterns = _REGEX.findall(text)
        if len(patterns) == 1:
            out["pattern"] = json.loads(f'"{patterns[0]}"')
    default = _default(value)
    if default is not _NONE:
        out["default"] = default
    if types == ["array"]:
        items = _items(text)
        if items:
            out["items"] = items
    return out


def _list(value: Value, is_open: bool, tail: str) -> dict[str, Any]:
    """A list literal's schema: ``const`` if concrete; else its elements' schemas (``prefixItems``)
    and, if it is open (``[a, ...T]``: ``[...int]`` exports as ``[]``), what may follow them."""
    if not is_open:
        try:
            return {"const": _json(value.to_python())}
        except CueError:
            pass
    elements = list(value.elements())
    out: dict[str, Any] = {}
    if elements:
        out["prefixItems"] = [_schema(e) for e in elements]
        out["minItems"] = len(elements)
    if not is_open:
        out["maxItems"] = len(elements)
        return out
    if tail in _SIMPLE:
        out["items"] = {"type": _SIMPLE[tail]}
    try:  # what the list is when left out (CUE exports [...int] as [])
        out["default"] = _json(value.to_python())
    except CueError:
        pass
    return out


def _list_parts(text: str) -> tuple[bool, str] | None:
    """For one list literal's CUE text ``[a, b, ...T]``: whether it ends in ``...`` and its ``T``
    ("" if none); None for other text (a disjunction, a reference)."""
    if not (text.startswith("[") and text.endswith("]")) or len(_split(text)) != 1:
        return None
    for i, depth in _unquoted(text):
        if depth == 1 and text.startswith("...", i):
            return True, text[i + 3 : -1].strip()
    return False, ""


def _json(data: Any) -> Any:
    """Python data as JSON data: bytes as base64 text (CUE's JSON for bytes)."""
    if isinstance(data, bytes):
        return base64.b64encode(data).decode()
    if isinstance(data, list):
        return [_json(x) for x in data]
    if isinstance(data, dict):
        return {k: _json(x) for k, x in data.items()}
    return data


_NONE = object()


def _default(value: Value) -> Any:
    try:
        d = value.default()
    except Exception:
        return _NONE
    if d is not None and d.is_concrete():
        try:
            return _json(d.to_python())
        except Exception:
            return _NONE
    return _NONE


def _items(text: str) -> dict[str, Any]:
    m = re.fullmatch(r"\[\.\.\.(.+)\]", text.lstrip("*"), re.S)
    element = m.group(1).strip() if m else ""
    return {"type": _SIMPLE[element]} if element in _SIMPLE else {}


def _object(value: Value) -> dict[str, Any]:
    try:
        text = value.export(format="cue")
    except Exception:
        text = ""
    docs, markers, is_open = _docs_and_markers(text, [label for label, _ in value.fields(optional=True)])
    properties: dict[str, Any] = {}
    required: list[str] = []
    for label, field in value.fields(optional=True):
        schema = _schema(field)
        if label in docs:
            schema = {"description": docs[label], **schema}
        properties[label] = schema
        marker = markers.get(label, "")
        if marker == "!" or (marker == "" and "default" not in schema and "const" not in schema
                             and not _all_optional(schema)):  # fmt: skip
            required.append(label)
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    pattern = re.search(r"^\s*\[string\]:\s*(.+)$", text, re.M)
    if pattern is not None:
        element = pattern.group(1).strip()
        out["additionalProperties"] = {"type": _SIMPLE[element]} if element in _SIMPLE else True
    elif properties and not is_open:  # ({a?: int, ...} allows any other field)
        out["additionalProperties"] = False
    return out


def _all_optional(schema: Mapping[str, Any]) -> bool:
    """A struct whose fields are all optional or defaulted can be left out (it takes its defaults)."""
    return schema.get("type") == "object" and not schema.get("required")


def _docs_and_markers(text: str, labels: list[str]) -> tuple[dict[str, str], dict[str, str], bool]:
    """The doc comment and the ``?``/``!`` marker of each direct field of a struct's CUE text, and
    whether the struct is open (``...`` among its fields)."""
    found: dict[int, tuple[dict[str, str], dict[str, str]]] = {}
    pending: dict[int, list[str]] = {}
    ellipses: set[int] = set()
    wanted = set(labels)
    for raw in text.splitlines():
        indent = len(raw) - len(raw.lstrip("\t"))
        line = raw.strip()
        if line == "...":
            ellipses.add(indent)
            continue
        if line.startswith("//"):
            pending.setdefault(indent, []).append(line[2:].strip())
            continue
        m = _FIELD.match(line)
        comment = pending.pop(indent, [])
        if not m:
            continue
        label = json.loads(m.group(1)) if m.group(1).startswith('"') else m.group(1)
        if label not in wanted:
            continue
        docs, markers = found.setdefault(indent, ({}, {}))
        markers[label] = m.group(2)
        if comment:
            docs[label] = " ".join(comment)
    if not found:
        return {}, {}, False
    best = max(found, key=lambda i: (len(found[i][1]), -i))
    return (*found[best], best in ellipses)


def _split(text: str) -> list[str]:
    """Top-level ``|`` alternatives of a CUE expression."""
    parts, start = [], 0
    for i, depth in _unquoted(text):
        if depth == 0 and text[i] == "|":
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _unquoted(text: str) -> Iterator[tuple[int, int]]:
    """The index of each character of ``text`` outside string literals, with its bracket depth
    (an opening bracket is at the depth outside it)."""
    depth, quoted, escape = 0, False, False
    for i, ch in enumerate(text):
        if quoted:
            escape, quoted = (False, True) if escape else (ch == "\\", ch != '"')
            continue
        if ch == '"':
            quoted = True
            continue
        if ch in ")]}":
            depth -= 1
        yield i, depth
        if ch in "([{":
            depth += 1
