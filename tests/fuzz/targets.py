"""Fuzz targets: each takes one input and returns an outcome name, or raises
Finding when cuepy misbehaves.

Acceptable outcomes are success and a typed cuepy error (any CueError but
CueInternalError, which is a recovered Go panic: a bug). Anything else (a
Python exception of another type, a wrong round trip, a crash of the
process, an input that hangs) is a finding. Shared by tests/fuzz/run.py and
tests/test_fuzz.py.
"""

from __future__ import annotations

import json
import math
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cuepy


class Finding(Exception):
    """cuepy did something it must not: the message says what, with the traceback."""


def guarded(what: str, fn: Callable[[], Any]) -> tuple[str, Any]:
    """(outcome, result): "ok" and fn's result, or the CueError class name and None."""
    try:
        return "ok", fn()
    except cuepy.CueInternalError as exc:
        raise Finding(f"{what}: internal error (a recovered Go panic): {exc}") from exc
    except cuepy.CueError as exc:
        if not str(exc):
            raise Finding(f"{what}: {type(exc).__name__} without a message") from exc
        return type(exc).__name__, None
    except Exception as exc:
        raise Finding(f"{what}: untyped {type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc


# Extraction in every format, with consistency checks ---------------------------------


def _plain(x: Any) -> bool:
    """Data whose JSON and Python forms must agree exactly: no bytes, floats or huge ints."""
    if isinstance(x, dict):
        return all(_plain(v) for v in x.values())
    if isinstance(x, list):
        return all(_plain(v) for v in x)
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return True
    if isinstance(x, int):
        return abs(x) < 2**53
    return False


def extract_all(v: cuepy.Value, what: str) -> str:
    """Read ``v`` every way there is; check that the ways agree."""
    outcome, data = guarded(f"{what} to_python", v.to_python)
    _, text = guarded(f"{what} json", lambda: v.export("json"))
    guarded(f"{what} json indent", lambda: v.export("json", indent=True))
    guarded(f"{what} yaml", lambda: v.export("yaml"))
    _, cue_text = guarded(f"{what} cue", lambda: v.export("cue"))
    guarded(f"{what} cue final", lambda: v.export("cue", final=True, docs=False))
    guarded(f"{what} cue bare", lambda: v.export("cue", definitions=False, hidden=False, optional=False,
                                                 docs=False, attributes=False))  # fmt: skip
    guarded(f"{what} validate", v.validate)
    guarded(f"{what} validate concrete", lambda: v.validate(concrete=True, all_errors=True))
    guarded(f"{what} kind", lambda: (v.kind, v.is_concrete()))
    if outcome == "ok" and text is not None and _plain(data) and json.loads(text) != data:
        raise Finding(f"{what}: JSON export {text[:200]!r} disagrees with to_python {data!r:.200}")
    if outcome == "ok" and cue_text is not None and _plain(data):
        again_outcome, again = guarded(f"{what} recompile", lambda: _recompile(cue_text))
        if again_outcome == "ok" and again != data:
            raise Finding(f"{what}: CUE export {cue_text[:200]!r} reads back as {again!r:.200}, not {data!r:.200}")
    return outcome


def _recompile(text: str) -> Any:
    with cuepy.compile(text) as v:
        return v.to_python()


def _walk(v: cuepy.Value, what: str, budget: list[int]) -> None:
    """Navigate: fields, elements, lookups, defaults (a few, bounded by budget)."""
    if budget[0] <= 0:
        return
    budget[0] -= 1
    kind_outcome, kind = guarded(f"{what} kind", lambda: v.kind)
    if kind_outcome != "ok":
        return
    if cuepy.Kind.STRUCT in kind:
        _, fields = guarded(f"{what} fields", lambda: list(v.fields(definitions=True, hidden=True, optional=True)))
        for label, child in fields or []:
            with child:
                _walk(child, f"{what}.{label!r}", budget)
    if cuepy.Kind.LIST in kind:
        _, elements = guarded(f"{what} elements", lambda: list(v.elements()))
        for child in elements or []:
            with child:
                _walk(child, f"{what}[]", budget)
    _, d = guarded(f"{what} default", v.default)
    if d is not None:
        d.close()


# Targets --------------------------------------------------------------------------------


def fuzz_compile(src: bytes) -> str:
    """compile, then extract in every format and navigate."""
    outcome, v = guarded("compile", lambda: cuepy.compile(src, filename="fuzz.cue"))
    if v is None:
        return "compile:" + outcome
    with v:
        result = extract_all(v, "compile")
        _walk(v, "compile", [20])
        guarded("fill", lambda: v.fill("fuzz", {"x": 1}).close())
        guarded("unify", lambda: cuepy.unify(v, v).close())
        guarded("lookup", lambda: v.get("a.b[0]"))
    return "compile:" + result


_MODULE: Path | None = None


def module_dir() -> Path:
    """A module directory for the load target (one per process)."""
    global _MODULE
    if _MODULE is None:
        root = Path(tempfile.mkdtemp(prefix="cuepy-fuzz-"))
        (root / "cue.mod").mkdir()
        (root / "cue.mod" / "module.cue").write_text('module: "fuzz.example/m@v0"\nlanguage: version: "v0.9.0"\n')
        (root / "base.cue").write_text("package p\nbase: 1\n")
        (root / "lib").mkdir()
        (root / "lib" / "lib.cue").write_text("package lib\n#L: {n: int | *1}\n")
        _MODULE = root
    return _MODULE


def fuzz_load(src: bytes, kind: str) -> str:
    """load with an overlay: a CUE file of the package, or a JSON/YAML data file."""
    root = module_dir()
    overlay: dict[Any, str | bytes]
    if kind == "cue":
        overlay = {"fuzz.cue": b"package p\n" + src}
        files = None
    else:
        overlay = {f"fuzz.{kind}": src}
        files = [f"fuzz.{kind}"]
    outcome, v = guarded(f"load {kind}", lambda: cuepy.load(root, overlay=overlay, files=files))
    if v is None:
        return f"load-{kind}:" + outcome
    with v:
        return f"load-{kind}:" + extract_all(v, f"load {kind}")


def fuzz_encode(data: Any) -> str:
    """encode Python data; it must come back as it went in."""
    try:
        outcome, v = guarded("encode", lambda: cuepy.encode(data))
    except Finding as exc:
        if isinstance(exc.__cause__, TypeError | ValueError):  # not data (a set, NaN, an object): documented
            return "encode:rejected"
        raise
    if v is None:
        return "encode:" + outcome
    with v:
        back_outcome, back = guarded("encode to_python", v.to_python)
        if back_outcome == "ok" and not _same(back, data):
            raise Finding(f"encode: {data!r:.300} came back as {back!r:.300}")
        extract_all(v, "encode")
    return "encode:" + back_outcome


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, tuple):
        b = list(b)
    if isinstance(b, bytearray | memoryview):
        b = bytes(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == {_key(k) for k in b} and all(_same(a[_key(k)], v) for k, v in b.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and bool(a == b)


def _key(k: Any) -> str:
    return k if isinstance(k, str) else json.dumps(k)


# Other engineers' layers, when present ------------------------------------------------------


def _optional(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


FLATTEN = _optional("cuepy.flatten")
CACHE_STORE = _optional("cuepy.cache._store")

_FLAT_DIR: Path | None = None


def fuzz_flatten(src: bytes) -> str:
    """flatten a ModuleDefinition file (a mutation of an example's)."""
    if FLATTEN is None:
        return "flatten:absent"
    global _FLAT_DIR
    if _FLAT_DIR is None:
        root = Path(tempfile.mkdtemp(prefix="cuepy-fuzz-flatten-"))
        (root / "cue.mod").mkdir()
        (root / "cue.mod" / "module.cue").write_text(
            'module: "fuzz.example/flat@v0"\nlanguage: version: "v0.17.0"\ndeps: "cuepy.dev/opm@v0": v: "v0.1.0"\n'
        )
        _FLAT_DIR = root
    path = _FLAT_DIR / "module_definition.cue"
    try:
        path.write_text(src.decode())
    except UnicodeDecodeError:
        return "flatten:not-utf8"
    outcome, _ = guarded("flatten", lambda: FLATTEN.flatten(_FLAT_DIR, file="module_definition.cue", verify=True))
    return "flatten:" + outcome


_CACHE: Any = None


def fuzz_cache_entry(data: bytes) -> str:
    """The cache reader on a damaged entry: a payload or None, never an exception."""
    if CACHE_STORE is None:
        return "cache:absent"
    global _CACHE
    if _CACHE is None:
        _CACHE = CACHE_STORE.Cache(Path(tempfile.mkdtemp(prefix="cuepy-fuzz-cache-")), memory_bytes=0)
    kind, key = CACHE_STORE.KINDS[0], "ab" * 32
    path = _CACHE.path(kind, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _CACHE.forget_memory()  # read the file, not what the last sound entry left in memory
    outcome, payload = guarded("cache get", lambda: _CACHE.get(kind, key))
    if outcome == "ok" and payload is not None and not isinstance(payload, str):
        raise Finding(f"cache get returned {type(payload).__name__}")
    decoded, _problem = CACHE_STORE.decode_entry(data, kind, key)
    if decoded != payload:
        raise Finding("cache get and decode_entry disagree")
    return "cache:" + ("hit" if payload is not None else "rejected")


def valid_cache_entry(payload: str) -> bytes:
    """A sound entry of the fuzz key holding payload (mutated by the fuzzer)."""
    assert CACHE_STORE is not None
    data: bytes = CACHE_STORE.encode_entry(CACHE_STORE.KINDS[0], "ab" * 32, payload)
    return data
