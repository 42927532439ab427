"""``cuepy cache stats|verify|clear|path``: look after the on-disk cache.

``register_cli(subparsers)`` adds the ``cache`` command to the ``cuepy``
command line (cuepy/cli.py); each subcommand sets ``run`` (namespace -> exit
status), as the other commands do.
"""

from __future__ import annotations

import argparse
import json
import sys

from cuepy.cache._store import Cache, default_directory, disabled_by_env


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cache`` and its subcommands to ``subparsers``."""
    parser = subparsers.add_parser(
        "cache",
        help="inspect, check or empty the compiled-module and render cache",
        description="The cache of compiled modules and renders (docs/cache.md). Its directory is "
        "--dir, else $CUEPY_CACHE_DIR, else the user cache directory.",
    )
    parser.add_argument("--dir", metavar="DIR", help="the cache directory (default: $CUEPY_CACHE_DIR or the "
                        "platform's user cache directory)")  # fmt: skip
    sub = parser.add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND")

    stats = sub.add_parser("stats", help="entries and bytes by kind, the size bound")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(run=_run_stats)

    verify = sub.add_parser("verify", help="check every entry's checksum; remove the corrupt ones")
    verify.set_defaults(run=_run_verify)

    clear = sub.add_parser("clear", help="remove every entry")
    clear.set_defaults(run=_run_clear)

    path = sub.add_parser("path", help="print the cache directory")
    path.set_defaults(run=_run_path)


def _cache(args: argparse.Namespace) -> Cache:
    return Cache(args.dir) if args.dir else Cache()


def _run_stats(args: argparse.Namespace) -> int:
    stats = _cache(args).stats()
    if args.json:
        print(json.dumps(stats.as_dict(), indent=2, sort_keys=True))
        return 0
    print(f"directory: {stats.directory}{'  (CUEPY_CACHE=off: not used)' if disabled_by_env() else ''}")
    print(f"entries:   {stats.entries} ({_size(stats.bytes)} of {_size(stats.max_bytes)})")
    for kind, k in stats.kinds.items():
        print(f"  {kind + ':':8} {k.entries} ({_size(k.bytes)})")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    report = _cache(args).verify()
    for path in report.removed:
        print(f"removed corrupt entry {path}", file=sys.stderr)
    print(f"checked {report.checked} entries, removed {len(report.removed)}")
    return 0


def _run_clear(args: argparse.Namespace) -> int:
    removed = _cache(args).clear()
    print(f"removed {removed} entries")
    return 0


def _run_path(args: argparse.Namespace) -> int:
    print(args.dir or default_directory())
    return 0


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
