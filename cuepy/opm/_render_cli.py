"""``cuepy render``, ``cuepy diff`` and ``cuepy values-schema`` (registered in cuepy/cli.py)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_diff", "add_render", "add_values_schema"]


def _module_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="directory of the module")
    parser.add_argument("--file", dest="module_file", metavar="MODULE.cue",
                        help="the module file in DIR (default: module_definition.cue, else module.cue, "
                             "else the package)")  # fmt: skip
    parser.add_argument("--registry", help="CUE_REGISTRY to resolve dependencies with")
    parser.add_argument("--module", dest="modules", action="append", default=[], metavar="MOD@VERSION=DIR",
                        help="serve a dependency from a directory (repeatable)")  # fmt: skip


def _instance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--values", dest="values", action="append", default=[], metavar="VALUES",
                        help="values file (YAML or JSON; repeatable, later files override earlier ones)")  # fmt: skip
    parser.add_argument("-n", "--namespace", required=True, help="namespace of the release")
    parser.add_argument("--name", help="release name (default: the module's name)")
    parser.add_argument(
        "--transformers",
        action="append",
        metavar="IMPORT_PATH",
        help="package holding the transformers (default: <dependency>/transformers@vN)",
    )
    parser.add_argument("--no-cache", action="store_true", help="bypass the render cache")


def add_render(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "render",
        help="render a module instance to Kubernetes manifests through its catalog's transformers",
        description="Release the module in DIR with the values files and namespace, give each component "
        "to the transformers it matches and write the Kubernetes objects: one file per object "
        "(<kind>-<name>.yaml) with -o DIR, else a YAML stream (or a JSON list) on standard output.",
    )
    _module_arguments(parser)
    _instance_arguments(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("-o", "--output-dir", metavar="DIR", help="write one file per object into DIR")
    out.add_argument("--out", choices=("yaml", "json"), default="yaml", help="format on standard output")
    parser.add_argument("--matches", action="store_true", help="print the (component, transformer) pairs to stderr")
    parser.set_defaults(run=_run_render)


def add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "diff",
        help="unified diff of two renders (two values files, or two output directories)",
        description="cuepy diff DIR -n NS --from A.yaml --to B.yaml: the unified diff of the module rendered "
        "with values A and with values B. cuepy diff OLD_DIR NEW_DIR: the diff of two `cuepy render -o` "
        "directories. Exit status 1 when they differ, 2 when they cannot be rendered or read (as diff(1)).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a module directory, or two render directories")
    parser.add_argument("--file", dest="module_file", metavar="MODULE.cue", help="the module file")
    parser.add_argument("--registry", help="CUE_REGISTRY to resolve dependencies with")
    parser.add_argument("--module", dest="modules", action="append", default=[], metavar="MOD@VERSION=DIR")
    parser.add_argument("--from", dest="old", action="append", default=[], metavar="VALUES",
                        help="values of the old render (repeatable)")  # fmt: skip
    parser.add_argument("--to", dest="new", action="append", default=[], metavar="VALUES",
                        help="values of the new render (repeatable)")  # fmt: skip
    parser.add_argument("-n", "--namespace", help="namespace of the release (module directory form)")
    parser.add_argument("--name", help="release name")
    parser.add_argument("--transformers", action="append", metavar="IMPORT_PATH")
    parser.set_defaults(run=_run_diff)


def add_values_schema(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "values-schema",
        help="print the JSON Schema of a module's values",
        description="The JSON Schema (draft 2020-12) of the values of the module in DIR: types, required "
        "fields, enums, defaults, bounds and doc comments.",
    )
    _module_arguments(parser)
    parser.set_defaults(run=_run_values_schema)


# Running --------------------------------------------------------------------------


def _modules(args: argparse.Namespace) -> dict[str, str] | None:
    from cuepy.api import LoadOptions

    out = {}
    for item in args.modules:
        key, sep, directory = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            LoadOptions(modules={key: directory})  # the library's rule for a module key
        except ValueError:
            raise SystemExit(f"cuepy {args.command}: --module wants MOD@VERSION=DIR, not {item!r}") from None
        out[key] = directory
    return out or None


def _module_file(directory: str, given: str | None) -> str | None:
    if given is not None:
        return given
    for candidate in ("module_definition.cue", "module.cue"):
        if os.path.isfile(os.path.join(directory, candidate)):
            return candidate
    return None


def _read_values(paths: list[str], command: str) -> dict[str, Any] | None:
    if not paths:
        return None
    merged: dict[str, Any] = {}
    for path in paths:
        data = _values_file(path, command)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise SystemExit(f"cuepy {command}: {path}: values must be a mapping, not {type(data).__name__}")
        try:
            merged = _merge(merged, data)
        except RecursionError:
            raise SystemExit(f"cuepy {command}: {path}: {_TOO_DEEP}") from None
    return merged


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_TOO_DEEP = "nested too deeply for Python's recursion limit"


def _values_file(path: str, command: str) -> Any:
    """The data of a JSON (``.json``) or YAML file; an exit naming ``path:line:column`` if it is not."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except UnicodeDecodeError:
        raise SystemExit(f"cuepy {command}: {path}: not UTF-8 text") from None
    except RecursionError:
        raise SystemExit(f"cuepy {command}: {path}: {_TOO_DEEP}") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"cuepy {command}: {path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SystemExit(f"cuepy {command}: {path}{at}: not YAML: {getattr(exc, 'problem', None) or exc}") from None


def _render(args: argparse.Namespace, directory: str, values: list[str]) -> Any:
    from cuepy.opm import render

    return render(directory, _read_values(values, args.command), namespace=args.namespace, name=args.name,
                  file=_module_file(directory, args.module_file), registry=args.registry, modules=_modules(args),
                  cache=False if getattr(args, "no_cache", False) else None,
                  transformers=args.transformers)  # fmt: skip


def _run_render(args: argparse.Namespace) -> int:
    result = _render(args, args.directory, args.values)
    if args.matches:
        for m in result.matches:
            print(f"{m.component}\t{m.transformer}\t{' '.join(f'{k}/{n}' for k, n in m.objects) or '-'}",
                  file=sys.stderr)  # fmt: skip
    if args.output_dir:
        write_files(result, Path(args.output_dir))
        return 0
    sys.stdout.write(result.to_json() if args.out == "json" else result.to_yaml())
    return 0


_HEADER = "# Written by cuepy render: a later render into this directory replaces it, or removes it if gone.\n"
"""The first line of every file ``write_files`` writes: what marks a file as a render's own."""


def write_files(result: Any, directory: Path) -> list[Path]:
    """One ``<kind>-<name>.yaml`` per object in ``directory``; the files an earlier render wrote there
    (their first line is ``_HEADER``) for objects now gone are removed, and nothing else."""
    from cuepy.opm._render import to_yaml

    directory.mkdir(parents=True, exist_ok=True)
    names = result.file_names()
    for old in directory.glob("*.yaml"):
        if old.name not in names and _written_by_render(old):
            old.unlink()
    written = []
    for name, obj in zip(names, result.objects, strict=True):
        path = directory / name
        path.write_text(_HEADER + to_yaml(obj), encoding="utf-8")
        written.append(path)
    return written


def _written_by_render(path: Path) -> bool:
    if not path.is_file():  # (not a FIFO's open, which would block)
        return False
    with path.open("rb") as f:
        return f.read(len(_HEADER)) == _HEADER.encode()


def _directory_text(directory: Path) -> dict[str, str]:
    """The ``*.yaml`` files of a ``cuepy render -o`` directory, by name."""
    if not directory.is_dir():
        raise SystemExit(f"cuepy diff: {directory}: not a directory (of cuepy render -o)")
    texts = {}
    for path in sorted(directory.glob("*.yaml")):
        if not path.is_file():  # (a FIFO would block the read; render -o writes regular files)
            raise SystemExit(f"cuepy diff: {path}: not a regular file")
        try:
            texts[path.name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SystemExit(f"cuepy diff: {path}: not UTF-8 text") from None
    return texts


def _run_diff(args: argparse.Namespace) -> int:
    """0 when the renders are the same, 1 when they differ, 2 when one cannot be made or read."""
    from cuepy.errors import CueError

    try:
        return _diff(args)
    except (CueError, OSError) as exc:
        print(f"cuepy diff: {exc}", file=sys.stderr)
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        print(exc.code, file=sys.stderr)
    return 2


def _diff(args: argparse.Namespace) -> int:
    if len(args.paths) == 2:
        old = _directory_text(Path(args.paths[0]))
        new = _directory_text(Path(args.paths[1]))
        old_label, new_label = args.paths
    elif len(args.paths) == 1:
        if not args.namespace:
            raise SystemExit("cuepy diff: -n NAMESPACE is required to render a module")
        from cuepy.opm._render import to_yaml

        def texts(values: list[str]) -> dict[str, str]:
            r = _render(args, args.paths[0], values)
            return {n: to_yaml(o) for n, o in zip(r.file_names(), r.objects, strict=True)}

        old, new = texts(args.old), texts(args.new)
        old_label = " + ".join(args.old) or "defaults"
        new_label = " + ".join(args.new) or "defaults"
    else:
        raise SystemExit("cuepy diff: give a module directory (with --from/--to) or two render directories")
    lines: list[str] = []
    for name in sorted(set(old) | set(new)):
        a = old.get(name, "").splitlines(keepends=True)
        b = new.get(name, "").splitlines(keepends=True)
        if a != b:
            lines += difflib.unified_diff(a, b, f"{old_label}/{name}", f"{new_label}/{name}")
    sys.stdout.writelines(lines)
    return 1 if lines else 0


def _run_values_schema(args: argparse.Namespace) -> int:
    from cuepy.opm import values_schema

    schema = values_schema(args.directory, file=_module_file(args.directory, args.module_file),
                           registry=args.registry, modules=_modules(args))  # fmt: skip
    sys.stdout.write(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    return 0
