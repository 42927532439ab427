"""The ``cuepy`` command line.

Each subcommand is one ``_add_<name>`` function that declares its parser and
sets ``run`` (namespace -> exit code); adding a subcommand means writing that
function and listing it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _add_flatten(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "flatten",
        help="compile a ModuleDefinition into the equivalent Module (blueprints expanded)",
        description="Write the CUE source of the Module equivalent to the ModuleDefinition in DIR.",
    )
    parser.add_argument("directory", metavar="DIR", help="directory of the module (package) to flatten")
    parser.add_argument("--file", "-f", help="the module definition file in DIR (default: the whole package)")
    parser.add_argument("--package", "-p", help="the package in DIR, when it holds several")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--registry", help="CUE_REGISTRY to resolve dependencies with")
    parser.add_argument("--no-verify", action="store_true", help="skip loading the result to check it")
    parser.set_defaults(run=_run_flatten)


def _run_flatten(args: argparse.Namespace) -> int:
    from cuepy.flatten import flatten

    result = flatten(args.directory, file=args.file, package=args.package, registry=args.registry,
                     verify=not args.no_verify)  # fmt: skip
    if args.output:
        result.write(args.output)
    else:
        sys.stdout.write(result.source)
    return 0


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cuepy.bench.cli import add_arguments, run

    parser = sub.add_parser(
        "bench",
        help="benchmark every load path on the example and generated modules (docs/benchmarks.md)",
        description="Time each path (definition, compiled, flattened, cached, render_hit, go_native, cue_cli) "
        "on the examples and generated modules; print the table, ratios and goals.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def _add_cache(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cuepy.cache.cli import register_cli

    register_cli(sub)


COMMANDS: list[Register] = [_add_flatten, _add_cache, _add_bench]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cuepy", description="Load, unify, extract and compile CUE modules.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 for CUE errors, 2 for usage)."""
    from cuepy.errors import CueError

    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (CueError, OSError) as exc:
        print(f"cuepy {args.command}: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
