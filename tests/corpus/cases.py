"""The corpus of bad inputs: each case names the exception it must raise (its
exact class), a fragment of its message and, where there is one, the line.

Two parts:

- ``tests/corpus/compile/*.cue``: one CUE source per file, compiled as
  ``<name>.cue``; a header says what must happen::

      // expect: CueEvalError          (an exception class of cuepy, or "ok")
      // message: conflicting values   (in str(exc); for "ok", in the output)
      // op: compile                   (compile, python, json, yaml, cue-concrete, validate)
      // line: 6                       (optional: a position on this line of this file)

- ``CASES`` below: inputs that are not one source text (module trees with
  symbolic links, registries, data files, wrong Python types, huge or deep
  generated inputs, OPM modules, evaluations that must be stopped by a limit).

tests/test_corpus.py runs every case; tests/fuzz uses the .cue files as seeds.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cuepy
from cuepy import limits

COMPILE_DIR = Path(__file__).parent / "compile"

OPS: dict[str, Callable[[cuepy.Value], Any]] = {
    "compile": lambda v: v,
    "python": lambda v: v.to_python(),
    "json": lambda v: v.export("json"),
    "yaml": lambda v: v.export("yaml"),
    "cue-concrete": lambda v: v.export("cue", concrete=True),
    "validate": lambda v: v.validate(concrete=True),
}


@dataclass(frozen=True)
class Expect:
    error: type[BaseException] | None  # None: the case must succeed
    message: str  # a fragment of str(exc); on success, of str(result)
    line: int | None = None  # a position of the error is on this line ...
    file: str | None = None  # ... of a file whose name ends with this


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Env], Any]
    expect: Expect
    bounded: bool = False  # runs in a worker process under cuepy.limits (slower)


class Env:
    """What a case may use: a temporary directory, module writers, a served registry."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._registry: cuepy.Registry | None = None
        self._count = 0

    @property
    def registry(self) -> cuepy.Registry:
        if self._registry is None:
            self._registry = cuepy.Registry("127.0.0.1:0")
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def module(self, files: dict[str, str | bytes], module: str = "example.com/bad@v0",
               deps: dict[str, str] | None = None) -> Path:  # fmt: skip
        """A module directory with cue.mod/module.cue and ``files``."""
        self._count += 1
        root = self.tmp / f"m{self._count}"
        dep_lines = "".join(f'\t"{m}": v: "{v}"\n' for m, v in (deps or {}).items())
        deps_block = f"deps: {{\n{dep_lines}}}\n" if deps else ""
        (root / "cue.mod").mkdir(parents=True)
        (root / "cue.mod" / "module.cue").write_text(f'module: "{module}"\nlanguage: version: "v0.9.0"\n{deps_block}')
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"))
        return root

    def outside(self, name: str, content: str) -> Path:
        """A file outside every module."""
        path = self.tmp / "outside" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path


# The .cue files ---------------------------------------------------------------

_HEADER = re.compile(rb"^// (expect|message|op|line): (.*)$")


def compile_cases() -> Iterator[Case]:
    for path in sorted(COMPILE_DIR.glob("*.cue")):
        fields: dict[str, str] = {}
        for raw in path.read_bytes().split(b"\n"):
            m = _HEADER.match(raw)
            if not m:
                break
            fields[m.group(1).decode()] = m.group(2).decode()
        error = None if fields["expect"] == "ok" else getattr(cuepy, fields["expect"])
        line = int(fields["line"]) if "line" in fields else None
        where = path.name if line is not None else None
        yield Case(path.stem, _compile_file(path, fields["op"]), Expect(error, fields["message"], line, where))


def _compile_file(path: Path, op: str) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        with cuepy.compile(path.read_bytes(), filename=path.name) as v:
            return OPS[op](v)

    return run


# The table --------------------------------------------------------------------

CASES: list[Case] = []


def case(expect: Expect, *, bounded: bool = False) -> Callable[[Callable[[Env], Any]], Callable[[Env], Any]]:
    def register(fn: Callable[[Env], Any]) -> Callable[[Env], Any]:
        CASES.append(Case(fn.__name__, fn, expect, bounded))
        return fn

    return register


def nested(open_: str, close: str, depth: int, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


# Generated sources: deep, huge, invalid text ---------------------------------------


@case(Expect(cuepy.CueSyntaxError, "exceeds maximum nesting depth of 10000"))
def deep_struct_10000(env: Env) -> Any:
    return cuepy.compile("a: " + nested("{a: ", "}", 10_000))


@case(Expect(cuepy.CueSyntaxError, "exceeds maximum nesting depth of 10000"))
def deep_list_10000(env: Env) -> Any:
    return cuepy.compile("a: " + nested("[", "]", 10_000))


@case(Expect(cuepy.CueSyntaxError, "exceeds maximum nesting depth of 10000"))
def deep_parens_10000(env: Env) -> Any:
    return cuepy.compile("a: " + nested("(", ")", 10_000))


@case(Expect(cuepy.CueSyntaxError, "exceeds maximum nesting depth of 10000"))
def deep_unary_10000(env: Env) -> Any:
    return cuepy.compile("a: " + "-" * 10_000 + "1")


@case(Expect(cuepy.CueLimitError, "recursion limit"))
def deep_struct_3000_to_python(env: Env) -> Any:
    with cuepy.compile("a: " + nested("{a: ", "}", 3_000)) as v:
        assert v.export("json").startswith('{"a":{"a":')  # the lossless ways still work
        return v.to_python()


@case(Expect(None, '"a":[[[['))
def deep_json_data_file_9000(env: Env) -> Any:
    root = env.module({"deep.json": '{"a": ' + nested("[", "]", 9_000, "") + "}"})
    with cuepy.load(root, files=["deep.json"]) as v:
        return v.export("json")[:20]


@case(Expect(cuepy.CueLimitError, "recursion limit"))
def deep_python_data_encode(env: Env) -> Any:
    data: Any = 1
    for _ in range(5_000):
        data = {"a": data}
    return cuepy.encode(data)


@case(Expect(None, "True"))
def huge_python_int_encodes_exactly(env: Env) -> Any:
    n = -(7**9000)  # 7606 digits: beyond str(), spelled in hex
    with cuepy.encode({"n": n}) as v:
        return _int_json(v) == n


def _int_json(v: cuepy.Value) -> int:
    import sys

    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return int(v.lookup("n").export("json"))
    finally:
        sys.set_int_max_str_digits(old)


@case(Expect(cuepy.CueSyntaxError, "source is not valid Unicode text"))
def lone_surrogate_in_source(env: Env) -> Any:
    return cuepy.compile('a: "\ud800"')


@case(Expect(cuepy.CueSyntaxError, "source is not valid Unicode text"))
def lone_surrogate_in_python_data(env: Env) -> Any:
    return cuepy.encode({"a": "\udcff"})


@case(Expect(cuepy.CueSyntaxError, "illegal UTF-8 encoding", line=3, file="bad.cue"))
def invalid_utf8_in_module_file(env: Env) -> Any:
    root = env.module({"ok.cue": "package p\na: 1\n", "bad.cue": b'package p\n\nname: "caf\xe9"\n'})
    return cuepy.load(root)


@case(Expect(cuepy.CueSyntaxError, "not valid UTF-8"))
def invalid_utf8_overlay(env: Env) -> Any:
    root = env.module({"ok.cue": "package p\na: 1\n"})
    return cuepy.load(root, overlay={"x.cue": b"package p\nx: '\xff'\n"})


@case(Expect(cuepy.CueSyntaxError, "number 1e100001 is out of range", line=3, file="lib.cue"))
def exponent_out_of_range_in_imported_package(env: Env) -> Any:
    root = env.module({"a.cue": 'package a\nimport "example.com/bad/lib"\nx: lib.y\n',
                       "lib/lib.cue": "package lib\n\ny: 1e100001\n"})  # fmt: skip
    return cuepy.load(root)


@case(Expect(cuepy.CueSyntaxError, "illegal character NUL", line=2, file="n.cue"))
def nul_byte_in_overlay(env: Env) -> Any:
    root = env.module({"ok.cue": "package p\na: 1\n"})
    return cuepy.load(root, overlay={"n.cue": 'package p\nn: "\x00"\n'})


# Loading: files, module roots, symbolic links -------------------------------------


@case(Expect(cuepy.CueSyntaxError, "expected '}', found 'EOF'", file="broken.cue"))
def syntax_error_in_module(env: Env) -> Any:
    return cuepy.load(env.module({"ok.cue": "package p\na: 1\n", "broken.cue": "package p\nb: {\n"}))


@case(Expect(cuepy.CueSyntaxError, "expected", line=2, file="lib.cue"))
def syntax_error_in_imported_package(env: Env) -> Any:
    root = env.module(
        {"a.cue": 'package a\nimport "example.com/bad/lib"\nx: lib.y\n', "lib/lib.cue": "package lib\ny: [\n"}
    )
    return cuepy.load(root)


@case(Expect(cuepy.CueEvalError, "conflicting values 2 and 1", line=2, file="b.cue"))
def conflict_across_files(env: Env) -> Any:
    return cuepy.load(env.module({"a.cue": "package p\nx: 1\n", "b.cue": "package p\nx: 2\n"}))


@case(Expect(cuepy.CueLoadError, 'cannot find package "example.com/bad/nosuch"'))
def missing_local_import(env: Env) -> Any:
    return cuepy.load(env.module({"a.cue": 'package a\nimport "example.com/bad/nosuch"\nx: nosuch.y\n'}))


@case(Expect(cuepy.CueLoadError, "module not found", line=2, file="a.cue"))
def import_of_module_no_registry_has(env: Env) -> Any:
    root = env.module({"a.cue": 'package a\nimport "example.com/absent@v0"\nx: absent.y\n'},
                      deps={"example.com/absent@v0": "v0.1.0"})  # fmt: skip
    return cuepy.load(root, registry=env.registry, cache_dir=env.tmp / "cache")


@case(Expect(cuepy.CueLoadError, "connection refused"))
def registry_refuses_connections(env: Env) -> Any:
    root = env.module({"a.cue": 'package a\nimport "example.com/absent@v0"\nx: absent.y\n'},
                      deps={"example.com/absent@v0": "v0.1.0"})  # fmt: skip
    return cuepy.load(root, registry="127.0.0.1:9+insecure", cache_dir=env.tmp / "cache")


@case(Expect(cuepy.CueLoadError, "invalid registry"))
def registry_malformed(env: Env) -> Any:
    root = env.module({"a.cue": 'package a\nimport "example.com/absent@v0"\nx: absent.y\n'},
                      deps={"example.com/absent@v0": "v0.1.0"})  # fmt: skip
    return cuepy.load(root, registry="::::", cache_dir=env.tmp / "cache")


@case(Expect(cuepy.CueLoadError, "not a directory"))
def cache_dir_unreachable(env: Env) -> Any:
    root = env.module({"a.cue": 'package a\nimport "example.com/absent@v0"\nx: absent.y\n'},
                      deps={"example.com/absent@v0": "v0.1.0"})  # fmt: skip
    blocker = env.tmp / "a-file"
    blocker.write_text("not a directory")
    return cuepy.load(root, registry=env.registry, cache_dir=blocker / "cache")


@case(Expect(cuepy.CueLoadError, "no such file or directory"))
def missing_file(env: Env) -> Any:
    return cuepy.load(env.module({"a.cue": "package p\na: 1\n"}), files=["nope.cue"])


@case(Expect(cuepy.CueLoadError, 'unsupported file type "text"'))
def unsupported_file_type(env: Env) -> Any:
    return cuepy.load(env.module({"a.cue": "package p\na: 1\n", "notes.txt": "hello"}), files=["notes.txt"])


@case(Expect(cuepy.CueLoadError, "no such directory"))
def missing_directory(env: Env) -> Any:
    return cuepy.load(env.tmp / "no" / "such" / "dir")


@case(Expect(cuepy.CueLoadError, 'found packages "a" (a.cue) and "b" (b.cue)'))
def two_packages_in_directory(env: Env) -> Any:
    return cuepy.load(env.module({"a.cue": "package a\nx: 1\n", "b.cue": "package b\ny: 1\n"}))


@case(Expect(cuepy.CueLoadError, 'no tag for "env"'))
def unknown_tag(env: Env) -> Any:
    return cuepy.load(env.module({"a.cue": "package p\na: 1\n"}), tags={"env": "prod"})


@case(Expect(cuepy.CueSyntaxError, "expected '}', found 'EOF'", line=1, file="module.cue"))
def module_file_syntax_error(env: Env) -> Any:
    root = env.module({"a.cue": "package p\na: 1\n"})
    (root / "cue.mod" / "module.cue").write_text("module: {\n")
    return cuepy.load(root)


@case(Expect(cuepy.CueLoadError, "too new"))
def module_language_too_new(env: Env) -> Any:
    root = env.module({"a.cue": "package p\na: 1\n"})
    (root / "cue.mod" / "module.cue").write_text('module: "example.com/x@v0"\nlanguage: version: "v9.0.0"\n')
    return cuepy.load(root)


@case(Expect(cuepy.CueLoadError, "path is outside the module root"))
def file_escapes_root_with_dotdot(env: Env) -> Any:
    env.outside("x.cue", "package p\nsecret: 1\n")
    return cuepy.load(env.module({"a.cue": "package p\na: 1\n"}), files=["../outside/x.cue"])


@case(Expect(cuepy.CueLoadError, "path is outside the module root"))
def data_file_escapes_root_with_dotdot(env: Env) -> Any:
    env.outside("x.json", '{"secret": 1}')
    return cuepy.load(env.module({"a.cue": "package p\na: 1\n"}), files=["a.cue", "../outside/x.json"])


@case(Expect(cuepy.CueLoadError, "path is outside the module root"))
def file_escapes_root_absolute(env: Env) -> Any:
    target = env.outside("abs.cue", "package p\nsecret: 1\n")
    return cuepy.load(env.module({"a.cue": "package p\na: 1\n"}), files=[str(target)])


@case(Expect(cuepy.CueLoadError, "symbolic link to"))
def symlink_file_escapes_root(env: Env) -> Any:
    target = env.outside("x.cue", "package p\nsecret: 1\n")
    root = env.module({"a.cue": "package p\na: 1\n"})
    (root / "link.cue").symlink_to(target)
    return cuepy.load(root)


@case(Expect(cuepy.CueLoadError, "symbolic link to"))
def symlink_directory_escapes_root(env: Env) -> Any:
    target = env.outside("pkg/x.cue", "package lib\nsecret: 1\n").parent
    root = env.module({"a.cue": 'package a\nimport "example.com/bad/lib"\ny: lib.secret\n'})
    (root / "lib").symlink_to(target)
    return cuepy.load(root)


@case(Expect(cuepy.CueLoadError, "symbolic link to"))
def symlink_data_file_escapes_root(env: Env) -> Any:
    target = env.outside("values.json", '{"secret": 1}')
    root = env.module({"a.cue": "package p\na: 1\n"})
    (root / "values.json").symlink_to(target)
    return cuepy.load(root, files=["a.cue", "values.json"])


@case(Expect(cuepy.CueLoadError, "symbolic link to"))
def symlink_escape_through_embed(env: Env) -> Any:
    target = env.outside("secret.json", '{"password": "hunter2"}')
    root = env.module({"a.cue": '@extern(embed)\npackage p\nsecret: _ @embed(file="data/s.json")\n'})
    (root / "data").mkdir()
    (root / "data" / "s.json").symlink_to(target)
    return cuepy.load(root)


@case(Expect(None, "'a': 1"))
def symlink_inside_root_is_fine(env: Env) -> Any:
    root = env.module({"real/a.cue": "package p\na: 1\n", "p.cue": "package p\n"})
    (root / "a.cue").symlink_to(root / "real" / "a.cue")
    with cuepy.load(root, package="p") as v:
        return v.to_python()


@case(Expect(cuepy.CueLoadError, "too many levels of symbolic links"))
def symlink_loop(env: Env) -> Any:
    root = env.module({"a.cue": "package p\na: 1\n"})
    (root / "loop.cue").symlink_to(root / "loop.cue")
    return cuepy.load(root, files=["a.cue", "loop.cue"])


@case(Expect(None, "{'a': 1}"))
def symlink_loop_in_package_dir_is_ignored(env: Env) -> Any:
    root = env.module({"a.cue": "package p\na: 1\n"})
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    with cuepy.load(root) as v:
        return v.to_python()


@case(Expect(cuepy.CueLoadError, "overlay"))
def overlay_outside_module(env: Env) -> Any:
    root = env.module({"a.cue": "package p\na: 1\n"})
    return cuepy.load(root, overlay={"../elsewhere/x.cue": "package p\nx: 1\n"})


@case(Expect(cuepy.CueLoadError, "path is outside the module root"))
def overlay_absolute_outside_module(env: Env) -> Any:
    root = env.module({"a.cue": "package p\na: 1\n"})
    return cuepy.load(root, overlay={"/etc/cuepy-overlay.cue": "package p\nx: 1\n"})


# Malformed data files ----------------------------------------------------------------

DATA_FILES: dict[str, tuple[str | bytes, type[BaseException], str]] = {
    "truncated.json": ('{"a": [1, 2', cuepy.CueSyntaxError, "unexpected end of JSON input"),
    "trailing.json": ('{"a": 1} {"b": 2}', cuepy.CueSyntaxError, "after top-level value"),
    "nul.json": ('{"a": "x\x00"}', cuepy.CueSyntaxError, "invalid character"),
    "badutf8.json": (b'{"a": 1,\n "b": "\xff"}', cuepy.CueSyntaxError, "illegal UTF-8 encoding"),
    "unclosed.yaml": ("a: [1, 2\n", cuepy.CueSyntaxError, "did not find expected"),
    "tab.yaml": ("a:\n\t- 1\n", cuepy.CueSyntaxError, "found character that cannot start any token"),
    "badtag.yaml": ("a: !!python/object:os.system x\n", cuepy.CueSyntaxError, "cannot unmarshal tag"),
    "bomb.yaml": (
        "a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)),
        cuepy.CueSyntaxError,
        "aliases expand to more than",
    ),
    "selfalias.yaml": ("a: &a [*a]\n", cuepy.CueSyntaxError, "contains itself"),
    "badutf8.yaml": (b'a: 1\nb: "\xff"\n', cuepy.CueSyntaxError, "illegal UTF-8 encoding"),
    "dupkey.yaml": ("a: 1\na: 2\n", cuepy.CueEvalError, "conflicting values 2 and 1"),
    "exponent.json": ('{"a": 1,\n "b": 1e-3240000}', cuepy.CueSyntaxError, "number 1e-3240000 is out of range"),
    "exponent.yaml": ("a: 1\nb: 1e-3240000\n", cuepy.CueSyntaxError, "number 1e-3240000 is out of range"),
}


DATA_LINES = {
    "truncated.json": 1,
    "trailing.json": 1,
    "unclosed.yaml": 1,
    "tab.yaml": 2,
    "badtag.yaml": 1,
    "dupkey.yaml": 2,
    "badutf8.json": 2,
    "badutf8.yaml": 2,
    "exponent.json": 2,
    "exponent.yaml": 2,
}


def _data_file_case(name: str, content: str | bytes) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        root = env.module({"schema.cue": "package p\n", name: content})
        with cuepy.load(root, files=[name]) as v:
            return v.export("json")

    run.__name__ = "data_file_" + name.replace(".", "_")
    return run


for _name, (_content, _error, _message) in DATA_FILES.items():
    case(Expect(_error, _message, line=DATA_LINES.get(_name), file=_name))(_data_file_case(_name, _content))


@case(Expect(cuepy.CueEvalError, 'conflicting values "x" and int', line=1, file="values.yaml"))  # cue's words
def data_file_against_schema(env: Env) -> Any:
    root = env.module({"schema.cue": "package p\nreplicas: int\n", "values.yaml": "replicas: x\n"})
    return cuepy.load(root, files=["schema.cue", "values.yaml"])


# Wrong Python types and misuse ------------------------------------------------------


def _typed(fn: Callable[[], Any]) -> Callable[[Env], Any]:
    return lambda env: fn()


_V = "a: {b: 1}, l: [1, 2]"

WRONG_TYPES: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("compile_int", lambda: cuepy.compile(42), TypeError, "source must be str or bytes"),  # type: ignore[arg-type]
    ("compile_none", lambda: cuepy.compile(None), TypeError, "source must be str or bytes"),  # type: ignore[arg-type]
    ("compile_filename_int", lambda: cuepy.compile("a: 1", filename=3), TypeError, "filename must be str"),  # type: ignore[arg-type]
    ("compile_filename_nul", lambda: cuepy.compile("a: 1", filename="a\x00b"), cuepy.CueUsageError, "NUL byte"),
    ("load_path_int", lambda: cuepy.load(7), TypeError, "path must be a str or os.PathLike"),  # type: ignore[arg-type]
    ("load_path_nul", lambda: cuepy.load("a\x00b"), cuepy.CueUsageError, "NUL byte"),
    ("load_files_str", lambda: cuepy.load(".", files="a.cue"), TypeError, "files must be a list of paths"),
    ("load_files_int_entry", lambda: cuepy.load(".", files=[1]), TypeError, "files entry must be a str"),  # type: ignore[list-item]
    ("load_package_int", lambda: cuepy.load(".", package=1), TypeError, "package must be str"),  # type: ignore[arg-type]
    ("load_overlay_list", lambda: cuepy.load(".", overlay=["a.cue"]), TypeError, "overlay must be a mapping"),  # type: ignore[arg-type]
    (
        "load_overlay_content_int",
        lambda: cuepy.load(".", overlay={"a.cue": 1}),  # type: ignore[dict-item]
        TypeError,
        "overlay content must be str or bytes",
    ),
    ("load_tags_str", lambda: cuepy.load(".", tags="env=prod"), TypeError, "tags must be a mapping"),
    ("load_registry_int", lambda: cuepy.load(".", registry=5), TypeError, "registry must be a CUE_REGISTRY string"),  # type: ignore[arg-type]
    ("load_cache_dir_int", lambda: cuepy.load(".", cache_dir=5), TypeError, "cache_dir must be a str"),  # type: ignore[arg-type]
    ("load_modules_list", lambda: cuepy.load(".", modules=["x"]), TypeError, "modules must be a mapping"),  # type: ignore[arg-type]
    ("load_modules_bad_key", lambda: cuepy.load(".", modules={"nover": "."}), ValueError, "modules keys are"),
    ("load_context_int", lambda: cuepy.load(".", context=1), TypeError, "context must be a cuepy.Context"),  # type: ignore[arg-type]
    ("unify_nothing", lambda: cuepy.unify(), TypeError, "unify needs at least one value"),
    ("unify_object", lambda: cuepy.unify(cuepy.compile(_V), object()), TypeError, "cannot convert object to CUE"),
    ("unify_set", lambda: cuepy.unify({1, 2}), TypeError, "cannot convert set to CUE"),
    ("unify_nan", lambda: cuepy.unify(float("nan")), ValueError, "no NaN or infinity"),
    (
        "unify_mismatch",
        lambda: cuepy.unify(cuepy.compile(_V), 1),
        cuepy.CueEvalError,
        "mismatched types struct and int",
    ),
    ("encode_self_reference", lambda: cuepy.encode(_looped()), ValueError, "contains itself"),
    ("encode_bad_key", lambda: cuepy.encode({("t",): 1}), TypeError, "keys must be str"),
    ("extract_dict", lambda: cuepy.extract({"a": 1}), TypeError, "extract takes a cuepy.Value"),  # type: ignore[arg-type]
    ("extract_format", lambda: cuepy.extract(cuepy.compile(_V), format="toml"), ValueError, "format must be one of"),  # type: ignore[arg-type]
    ("extract_path_int", lambda: cuepy.extract(cuepy.compile(_V), 5), TypeError, "a CUE path must be a str"),  # type: ignore[arg-type]
    (
        "extract_missing_path",
        lambda: cuepy.extract(cuepy.compile(_V), "a.zz"),
        cuepy.CueLookupError,
        "no field at path 'a.zz'",
    ),
    ("lookup_int", lambda: cuepy.compile(_V).lookup(1), TypeError, "a CUE path must be a str"),  # type: ignore[arg-type]
    ("lookup_bad_syntax", lambda: cuepy.compile(_V).lookup("a..b"), cuepy.CueUsageError, "invalid path"),
    ("lookup_nul", lambda: cuepy.compile(_V).lookup("a\x00.b"), cuepy.CueUsageError, "NUL byte"),
    ("lookup_surrogate", lambda: cuepy.compile(_V).lookup("\ud800"), cuepy.CueUsageError, "not valid Unicode"),
    ("fill_path_none", lambda: cuepy.compile(_V).fill(None, 1), TypeError, "a CUE path must be a str"),  # type: ignore[arg-type]
    ("fill_value_object", lambda: cuepy.compile(_V).fill("a", object()), TypeError, "cannot convert object"),
    ("fill_conflict", lambda: cuepy.compile(_V).fill("a.b", 2), cuepy.CueEvalError, "conflicting values"),
    ("export_format", lambda: cuepy.compile(_V).export("xml"), ValueError, "format must be one of"),  # type: ignore[arg-type]
    ("value_from_int", lambda: cuepy.Value(10**12), cuepy.CueUsageError, "invalid or already freed handle"),
    ("value_from_str", lambda: cuepy.Value("a: 1"), TypeError, "cuepy.Value takes a libcuepy value handle"),  # type: ignore[arg-type]
    ("context_with_argument", lambda: cuepy.Context("x"), TypeError, "takes no arguments"),  # type: ignore[arg-type]
    ("pickle_value", lambda: __import__("pickle").dumps(cuepy.compile(_V)), TypeError, "cannot be pickled"),
    ("registry_address_int", lambda: cuepy.Registry(5), TypeError, "address must be a str"),  # type: ignore[arg-type]
    ("registry_address_bad", lambda: cuepy.Registry("127.0.0.1:bad"), cuepy.CueLoadError, "unknown port"),
    ("publish_none", lambda: cuepy.publish(None, ".", "v0.1.0"), TypeError, "registry must be a str"),  # type: ignore[arg-type]
    ("limits_bad_timeout", lambda: limits.run_bounded(len, "x", timeout=-1), cuepy.CueUsageError,
     "timeout must be positive"),
    ("limits_lambda", lambda: limits.run_bounded(lambda: 1), TypeError, "needs a picklable function"),
]


def _looped() -> Any:
    x: list[Any] = []
    x.append(x)
    return x


for _name, _fn, _error, _message in WRONG_TYPES:
    _run = _typed(_fn)
    _run.__name__ = "wrong_" + _name
    case(Expect(_error, _message))(_run)


@case(Expect(None, "True"))
def value_from_context_handle_is_refused(env: Env) -> Any:
    # A context's handle wrapped as a Value must neither work nor, when the Value is
    # collected, free the context (the shared context behind compile() is handle-sized too).
    context = cuepy.Context()
    try:
        cuepy.Value(context.handle)
    except cuepy.CueUsageError as exc:
        assert "is of kind context, not value" in str(exc)
    import gc

    gc.collect()
    with context.compile("a: 1") as v:
        return v.to_python() == {"a": 1}


def _closed() -> cuepy.Value:
    v = cuepy.compile(_V)
    v.close()
    return v


AFTER_CLOSE: list[tuple[str, Callable[[], Any]]] = [
    ("lookup", lambda: _closed().lookup("a")),
    ("to_python", lambda: _closed().to_python()),
    ("export", lambda: _closed().export("yaml")),
    ("fields", lambda: _closed().fields()),
    ("elements", lambda: _closed().elements()),
    ("kind", lambda: _closed().kind),
    ("validate", lambda: _closed().validate()),
    ("fill", lambda: _closed().fill("a", 1)),
    ("unify", lambda: cuepy.unify(cuepy.compile("x: 1"), _closed())),
    ("extract", lambda: cuepy.extract(_closed(), format="json")),
    ("context_compile", lambda: _closed_context().compile("a: 1")),
    ("context_load", lambda: _closed_context().load(".")),
]


def _closed_context() -> cuepy.Context:
    c = cuepy.Context()
    c.close()
    return c


for _name, _fn in AFTER_CLOSE:
    _run = _typed(_fn)
    _run.__name__ = "closed_" + _name
    case(Expect(cuepy.CueUsageError, "is closed"))(_run)


@case(Expect(None, "{'a': {'b': 1, 'c': 2}, 'd': 3}"))
def values_of_two_contexts_unify(env: Env) -> Any:
    # By design: values built in different contexts unify (tests/test_values.py).
    one, two = cuepy.Context(), cuepy.Context()
    with one.compile("a: b: int\nd: a.b + a.c") as x, two.compile("a: {b: 1, c: 2}") as y, cuepy.unify(x, y) as u:
        return u.to_python()


@case(Expect(None, "True"))
def closing_twice_is_fine(env: Env) -> Any:
    v = cuepy.compile("a: 1")
    v.close()
    v.close()
    return v.closed


# OPM-level mistakes: modules on the embedded catalog cuepy.dev/opm@v0 v0.1.0 -------------

OPM_HEAD = """\
package app

import (
\tcore "cuepy.dev/opm/core@v0"
\tblueprints "cuepy.dev/opm/blueprints@v0"
)

core.#ModuleDefinition

metadata: {name: "bad-app", version: "0.1.0"}
"""


def opm_module(env: Env, body: str) -> Path:
    return env.module({"app.cue": OPM_HEAD + body}, deps={"cuepy.dev/opm@v0": "v0.1.0"})


@case(Expect(cuepy.CueIncompleteError, "undefined field: #NoSuchWorkload", line=13, file="app.cue"))
def opm_unknown_blueprint(env: Env) -> Any:
    root = opm_module(
        env,
        """
#components: web: {
\tblueprints.#NoSuchWorkload
\tspec: statelessWorkload: container: {name: "web", image: "nginx:1.27"}
}
#values: {}
""",
    )
    with cuepy.load(root) as v:  # the module loads: #components is a definition, evaluated on use
        return cuepy.extract(v, "#components.web")


@case(Expect(cuepy.CueEvalError, "#components.web.spec.volumes: field not allowed", line=15, file="app.cue"))
def opm_field_no_resource_declares(env: Env) -> Any:
    return cuepy.load(
        opm_module(
            env,
            """
#components: web: {
\tblueprints.#StatelessWorkload
\tspec: statelessWorkload: container: {name: "web", image: "nginx:1.27"}
\tspec: volumes: data: {mountPath: "/data"}
}
#values: {}
""",
        )
    )


@case(Expect(cuepy.CueEvalError, "statelessWorkload.replicaCount: field not allowed", line=16, file="app.cue"))
def opm_misspelt_blueprint_field(env: Env) -> Any:
    return cuepy.load(
        opm_module(
            env,
            """
#components: web: {
\tblueprints.#StatelessWorkload
\tspec: statelessWorkload: {
\t\tcontainer: {name: "web", image: "nginx:1.27"}
\t\treplicaCount: 3
\t}
}
#values: {}
""",
        )
    )


_RELEASED = """
#components: web: {
\tblueprints.#StatelessWorkload
\tspec: statelessWorkload: {
\t\tcontainer: {name: "web", image: #values.image}
\t\treplicas: #values.replicas
\t}
}
#values: {
\timage:    string
\treplicas: int | *1
}
values: {replicas: 2}
"""


@case(Expect(cuepy.CueIncompleteError, "#values.image: incomplete value string", line=20, file="app.cue"))
def opm_missing_required_value(env: Env) -> Any:
    with cuepy.load(opm_module(env, _RELEASED)) as v, v.lookup("#values") as schema, v.lookup("values") as values:
        return cuepy.unify(schema, values).validate(concrete=True)


@case(Expect(cuepy.CueIncompleteError, "error in call to encoding/json.Marshal", line=33, file="app.cue"))
def opm_missing_required_value_in_release(env: Env) -> Any:
    root = opm_module(
        env,
        _RELEASED
        + """
release: core.#ModuleRelease & {
\t#module: {
\t\tcore.#ModuleDefinition
\t\tmetadata: {name: "bad-app", version: "0.1.0"}
\t\t#components: web: {
\t\t\tblueprints.#StatelessWorkload
\t\t\tspec: statelessWorkload: container: {name: "web", image: #values.image}
\t\t}
\t\t#values: {image: string}
\t}
\t"values": {}
\tmetadata: namespace: "prod"
}
""",
    )
    with cuepy.load(root) as v:
        return cuepy.extract(v, "release.components", format="json")


@case(Expect(cuepy.CueEvalError, "conflicting values", file="app.cue"))
def opm_value_of_wrong_type(env: Env) -> Any:
    root = opm_module(env, _RELEASED.replace("values: {replicas: 2}", 'values: {image: "nginx:1.27", replicas: "two"}'))
    with cuepy.load(root) as v, v.lookup("#values") as schema, v.lookup("values") as values:
        return cuepy.unify(schema, values).validate(concrete=True)


# Hostile evaluations: stopped by a limit the caller sets (cuepy.limits) -----------------


@case(Expect(cuepy.CueLimitError, "exceeded the time limit of 1.5 s"), bounded=True)
def disjunction_explosion(env: Env) -> Any:
    src = "x: " + " & ".join(f"({{a{i}: 1}} | {{b{i}: 1}})" for i in range(16))
    return limits.compile_extract(src, format="json", timeout=1.5)


@case(Expect(cuepy.CueLimitError, "exceeded the time limit of 1.5 s"), bounded=True)
def reference_chain(env: Env) -> Any:
    src = "".join(f"a{i}: a{i + 1}\n" for i in range(3000)) + "a3000: 1\n"
    return limits.compile_extract(src, format="json", timeout=1.5)


@case(Expect(cuepy.CueLimitError, "exceeded the time limit of 1.5 s"), bounded=True)
def list_repeat_million(env: Env) -> Any:
    return limits.compile_extract('import "list"\na: list.Repeat([1], 1000000)', timeout=1.5)


@case(Expect(cuepy.CueLimitError, "exceeded the time limit of 2 s"), bounded=True)
def file_of_50_mb(env: Env) -> Any:
    root = env.module({"p.cue": "package p\n"})
    line = 'f%d: {name: "%s", n: %d, l: [1, 2, 3]}\n'
    with open(root / "big.cue", "w") as f:  # written as it is made: no 50 MB string in this process
        f.write("package p\n")
        i = 0
        while f.tell() < 50 << 20:
            f.write("".join(line % (j, "x" * 40, j) for j in range(i, i + 10_000)))
            i += 10_000
    assert (root / "big.cue").stat().st_size >= 50 << 20
    return limits.load_extract(root, format="json", timeout=2)


@case(Expect(cuepy.CueLimitError, "exceeded the memory limit of 300 MiB"), bounded=True)
def memory_hog(env: Env) -> Any:
    src = 'import "list"\na: [for i in list.Range(0, 3000000, 1) {"item-\\(i)"}]'
    return limits.compile_extract(src, format="json", timeout=60, memory=300 << 20)


@case(Expect(cuepy.CueLimitError, "evaluation recursed deeper than 50000 levels"))
def cue_bug_bound_on_comprehension_struct(env: Env) -> Any:
    # CUE v0.17.1 recurses here until Go's fatal stack overflow (it killed the interpreter):
    # cuepy's evaluator hook stops it at the depth bound, in process.
    return cuepy.compile("x: {if false {b: 1}}\nx: <1\n").to_python()


@case(Expect(cuepy.CueLimitError, "evaluation recursed deeper than 50000 levels"))
def cue_bug_list_of_its_own_slice(env: Env) -> Any:
    # The same bug, another shape.
    return cuepy.compile("l: [1, l[1:]]\n").to_python()


@case(Expect(cuepy.CueLimitError, "exceeded the Go stack limit"), bounded=True)
def go_stack_overflow_in_a_worker(env: Env) -> Any:
    # Without the depth bound the recursion reaches Go's stack limit: under cuepy.limits the
    # worker dies of it, reported as a limit, and the caller goes on.
    code = "import cuepy\ncuepy.set_max_depth(0)\ncuepy.compile('x: {if false {b: 1}}\\nx: <1\\n').to_python()\n"
    return limits.run_bounded(exec, code, timeout=60)


@case(Expect(cuepy.CueEvalError, "conflicting values 2 and 1", line=2), bounded=True)
def bounded_errors_keep_their_details(env: Env) -> Any:
    return limits.compile_extract("a: 1\na: 2\n", timeout=30)


@case(Expect(None, "{'a': 1, 'b': 2}"), bounded=True)
def bounded_load_with_served_registry(env: Env) -> Any:
    root = env.module({"p.cue": "package p\na: 1\nb: a + 1\n"})
    return limits.load_extract(root, registry=env.registry, timeout=30)


# Issue 13: what a load may read. Run in a worker: before the fix, /dev/zero killed the
# process with "fatal error: out of memory" and a FIFO hung it forever.

_PKG = "package p\na: 1\n"


def _bounded_load(root: Path, **options: Any) -> Any:
    return limits.load_extract(root, timeout=20, memory=1 << 30, **options)


@case(Expect(cuepy.CueLoadError, "not a regular file (a character device)"), bounded=True)
def dev_zero_linked_as_package_file(env: Env) -> Any:
    root = env.module({"a.cue": _PKG})
    (root / "zero.cue").symlink_to("/dev/zero")
    return _bounded_load(root)


@case(Expect(cuepy.CueLoadError, "zero.json: not a regular file (a character device)"), bounded=True)
def dev_zero_linked_as_named_data_file(env: Env) -> Any:
    root = env.module({"a.cue": _PKG})
    (root / "zero.json").symlink_to("/dev/zero")
    return _bounded_load(root, files=["a.cue", "zero.json"])


@case(Expect(cuepy.CueLoadError, "not a regular file (a character device)"), bounded=True)
def dev_zero_embedded(env: Env) -> Any:
    root = env.module({"a.cue": '@extern(embed)\npackage p\nz: _ @embed(file="zero.json")\n'})
    (root / "zero.json").symlink_to("/dev/zero")
    return _bounded_load(root)


@case(Expect(cuepy.CueLoadError, "fifo.cue: not a regular file (a named pipe)"), bounded=True)
def fifo_as_package_file(env: Env) -> Any:
    root = env.module({"a.cue": _PKG})
    os.mkfifo(root / "fifo.cue")
    return _bounded_load(root)


@case(Expect(cuepy.CueLoadError, "fifo.yaml: not a regular file (a named pipe)"), bounded=True)
def fifo_embedded(env: Env) -> Any:
    root = env.module({"a.cue": '@extern(embed)\npackage p\nz: _ @embed(file="fifo.yaml")\n'})
    os.mkfifo(root / "fifo.yaml")
    return _bounded_load(root)


@case(Expect(cuepy.CueLoadError, "not a regular file (a socket)"), bounded=True)
def socket_as_package_file(env: Env) -> Any:
    import socket

    root = env.module({"a.cue": _PKG})
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "s.cue"))
        return _bounded_load(root)
    finally:
        sock.close()


_SECRET = "package p\npassword: \"hunter2\" {{{\n"  # a syntax error quoting the secret line


@case(Expect(cuepy.CueLoadError, "path is outside the module root"))
def outside_file_is_refused_before_parsing(env: Env) -> Any:
    env.outside("secret.cue", _SECRET)
    try:
        return cuepy.load(env.module({"a.cue": _PKG}), files=["a.cue", "../outside/secret.cue"])
    except cuepy.CueError as exc:
        assert "hunter2" not in str(exc), "the file outside the root was parsed"
        raise


@case(Expect(cuepy.CueLoadError, "symbolic link to"))
def linked_outside_file_is_refused_before_parsing(env: Env) -> Any:
    target = env.outside("secret.cue", _SECRET)
    root = env.module({"a.cue": _PKG})
    (root / "s.cue").symlink_to(target)
    try:
        return cuepy.load(root)
    except cuepy.CueError as exc:
        assert "hunter2" not in str(exc), "the file behind the link was parsed"
        raise


def all_cases() -> list[Case]:
    return [*compile_cases(), *CASES]


if os.environ.get("CUEPY_CORPUS_LIST"):  # pragma: no cover - a quick listing while editing
    for c in all_cases():
        print(c.name, c.expect)
