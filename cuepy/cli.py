"""The ``cuepy`` command line.

Each subcommand is one ``_add_<name>`` function that declares its parser and
sets ``run`` (namespace -> exit code); adding a subcommand means writing that
function and listing it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


def _add_render(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cuepy.opm._render_cli import add_render

    add_render(sub)


def _add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cuepy.opm._render_cli import add_diff

    add_diff(sub)


def _add_values_schema(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cuepy.opm._render_cli import add_values_schema

    add_values_schema(sub)


COMMANDS: list[Register] = [_add_flatten, _add_cache, _add_bench, _add_render, _add_diff, _add_values_schema]


class _Version(argparse.Action):
    """``--version``: cuepy's version and the CUE version it is built on (asked of libcuepy only then)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print cuepy's version and the CUE version it is built on, and exit")  # fmt: skip

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:  # fmt: skip
        import cuepy

        try:
            cue = f"CUE {cuepy.__cue_version__}"
        except ImportError as exc:  # no usable build: still say which cuepy this is
            cue = f"CUE unknown: {exc}"
        sys.stdout.write(f"cuepy {cuepy.__version__} ({cue}) from {Path(cuepy.__file__).parent}\n")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cuepy", description="Load, unify, extract and compile CUE modules.")
    root.add_argument("--version", action=_Version)
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
