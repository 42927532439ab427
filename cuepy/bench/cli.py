"""``cuepy bench``: arguments and the run (registered by cuepy.cli's ``_add_bench``)."""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from pathlib import Path
from typing import Any

from cuepy.bench._models import PATHS, BenchConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="the one-minute run: the three examples, fewer and shorter rounds")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object (results, ratios, goals) only")
    parser.add_argument("--plot", metavar="FILE", help="write time per op against components (log-log) as PNG")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables as markdown")
    parser.add_argument("--modules", metavar="LIST",
                        help="comma-separated examples (simple, moderate, large, nested) and component counts "
                             "of generated modules (default: simple,moderate,large,24,48,96,192,384)")  # fmt: skip
    parser.add_argument("--paths", metavar="LIST", help=f"comma-separated paths (default: all: {','.join(PATHS)})")
    parser.add_argument("--repeats", type=int, metavar="N", help="timed rounds per path and module (at most)")
    parser.add_argument("--go-dir", metavar="DIR", help="cuepy's go/ directory, for go_native and cue_cli")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    own = parser.add_argument_group("your own module (any catalog; replaces the examples unless --modules is given)")
    own.add_argument("--module", metavar="DIR", help="the module's directory")
    own.add_argument("--file", metavar="FILE", default="module_definition.cue",
                     help="the module file in DIR (default: module_definition.cue)")  # fmt: skip
    own.add_argument("--compiled", metavar="FILE", help="a hand-compiled form of it in DIR, to compare with")
    own.add_argument("--values", metavar="FILE", help="JSON or YAML values for the module (for render_hit)")
    own.add_argument("--registry", metavar="REG", help="CUE_REGISTRY for its dependencies")
    own.add_argument("--dep", metavar="PATH@VERSION=DIR", action="append", default=[],
                     help="serve a dependency from a directory (repeatable): example.com/cat@v0.1.0=DIR")  # fmt: skip
    # For tests and quick looks: shorter rounds, fewer of them.
    parser.add_argument("--round-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--path-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--min-repeats", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stage-ops", type=int, help=argparse.SUPPRESS)


def config_from(args: argparse.Namespace) -> BenchConfig:
    from cuepy.bench._runner import module_names

    base = BenchConfig.quick_config() if args.quick else BenchConfig()
    update: dict[str, Any] = {}
    if args.modules:
        update["modules"] = module_names(args.modules)
    if getattr(args, "module", None):
        update["user_modules"] = (_user_module(args),)
        update.setdefault("modules", ())
    if args.paths:
        update["paths"] = module_names(args.paths)
    if args.go_dir:
        update["go_dir"] = Path(args.go_dir)
    for name in ("repeats", "round_seconds", "path_seconds", "min_repeats", "stage_ops"):
        if getattr(args, name) is not None:
            update[name] = getattr(args, name)
    if "repeats" in update and "min_repeats" not in update:
        update["min_repeats"] = min(base.min_repeats, update["repeats"])
    return BenchConfig.model_validate({**base.model_dump(), **update})


def _user_module(args: argparse.Namespace) -> dict[str, Any]:
    deps: dict[str, str] = {}
    for spec in args.dep:
        key, sep, directory = spec.partition("=")
        if not sep or "@" not in key:
            raise ValueError(f"--dep takes PATH@VERSION=DIR, not {spec!r}")
        deps[key] = directory
    return {"directory": Path(args.module), "file": args.file, "compiled": args.compiled,
            "values": Path(args.values) if args.values else None, "registry": args.registry,
            "dependencies": deps}  # fmt: skip


def command_line(args: argparse.Namespace) -> str:
    """The ``cuepy bench`` command that ``args`` stand for (recorded in the results)."""
    words = ["cuepy", "bench"]
    for flag in ("quick", "json", "no_progress"):
        if getattr(args, flag, False):
            words.append("--" + flag.replace("_", "-"))
    for option in (
        "modules",
        "paths",
        "repeats",
        "plot",
        "markdown",
        "go_dir",
        "round_seconds",
        "path_seconds",
        "min_repeats",
        "stage_ops",
        "module",
        "compiled",
        "values",
        "registry",
    ):
        value = getattr(args, option, None)
        if value is not None:
            words += ["--" + option.replace("_", "-"), str(value)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from cuepy.bench._output import markdown, plot
    from cuepy.bench._runner import run as run_bench

    try:
        config = config_from(args)
    except ValidationError as exc:  # (a ValueError too: first) each bad option on a line of its own
        errors = exc.errors()
        given = [e for e in errors if e["loc"] and getattr(args, str(e["loc"][0]), None) is not None]
        for error in given or errors:  # (not a field derived from a given one)
            where = f"--{str(error['loc'][0]).replace('_', '-')}: " if error["loc"] else ""
            print(f"cuepy bench: {where}{error['msg'].removeprefix('Value error, ')} (given: {error['input']!r})",
                  file=sys.stderr)  # fmt: skip
        return 2
    except ValueError as exc:
        print(f"cuepy bench: {exc}", file=sys.stderr)
        return 2
    if args.plot and importlib.util.find_spec("matplotlib") is None:  # before the run, not after it
        print("cuepy bench: --plot needs matplotlib, which is not installed: pip install matplotlib "
              "(or pip install 'cuepy-cue[bench]'); nothing was run", file=sys.stderr)  # fmt: skip
        return 2
    results = run_bench(config, progress=not args.no_progress, command=command_line(args))
    if args.plot:
        plot(results, args.plot)
    if args.markdown:
        Path(args.markdown).write_text(markdown(results), encoding="utf-8")
    if args.json:
        sys.stdout.write(results.model_dump_json() + "\n")
    else:
        sys.stdout.write(results.table())
    return 0
