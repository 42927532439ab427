"""``cuepy cache stats|verify|clear|path``: look after the on-disk cache.

``register_cli(subparsers)`` adds the ``cache`` command to the ``cuepy``
command line (cuepy/cli.py); each subcommand sets ``run`` (namespace -> exit
status), as the other commands do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import platformdirs

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

    stats = sub.add_parser("stats", help="entries and bytes by kind, the size bound, everything else in the directory")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(run=_run_stats)

    verify = sub.add_parser("verify", help="check every entry's checksum; remove the corrupt ones")
    verify.set_defaults(run=_run_verify)

    clear = sub.add_parser("clear", help="remove every entry, and cuepy bench's Go programs kept in the directory")
    clear.set_defaults(run=_run_clear)

    path = sub.add_parser("path", help="print the cache directory")
    path.set_defaults(run=_run_path)


def _cache(args: argparse.Namespace) -> Cache:
    cache = Cache(args.dir) if args.dir else Cache()
    if os.path.lexists(cache.directory) and not cache.directory.is_dir():
        raise SystemExit(f"cuepy cache: {cache.directory} is not a directory")
    return cache


BENCH_TOOLS = "bench-tools"
"""Where ``cuepy bench`` keeps the Go programs it builds, in the user cache directory (cuepy.bench._tools)."""


def _bench_tools() -> Path:
    return Path(platformdirs.user_cache_dir("cuepy")) / BENCH_TOOLS


def _disk_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (or of ``path``), never following a symbolic link."""
    try:
        st = path.lstat()
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    for top, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(top, name))
                total += 0 if stat.S_ISDIR(st.st_mode) else st.st_size
    return total


def _others(cache: Cache) -> dict[str, int]:
    """What the cache directory holds besides the entries (by name, ``/`` after a directory): bytes."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), os.scandir(cache.directory) as it:
        for e in sorted(it, key=lambda e: e.name):
            if Path(e.path) != cache.root:
                out[e.name + ("/" if e.is_dir(follow_symlinks=False) else "")] = _disk_bytes(Path(e.path))
    return out


def _what(name: str) -> str:
    return "cuepy bench's Go programs: cache clear removes them, the bench rebuilds them" if name == BENCH_TOOLS + "/" \
        else "not cuepy's: left in place"  # fmt: skip


def _run_stats(args: argparse.Namespace) -> int:
    cache = _cache(args)
    stats = cache.stats()
    others = _others(cache)
    total = stats.bytes + sum(others.values())
    tools = _bench_tools()
    tools_elsewhere = tools.parent.absolute() != cache.directory and tools.is_dir()
    if args.json:
        data = stats.as_dict()
        data["others"] = others
        data["total_bytes"] = total
        if tools_elsewhere:
            data["bench_tools"] = {"directory": str(tools), "bytes": _disk_bytes(tools)}
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(f"directory: {stats.directory}{'  (CUEPY_CACHE=off: not used)' if disabled_by_env() else ''}")
    print(f"entries:   {stats.entries} ({_size(stats.bytes)} of {_size(stats.max_bytes)})")
    for kind, k in stats.kinds.items():
        print(f"  {kind + ':':8} {k.entries} ({_size(k.bytes)})")
    if others:
        print("other files (not entries, not bounded by the size limit):")
        for name, size in others.items():
            print(f"  {name} {_size(size)} ({_what(name)})")
    print(f"total:     {_size(total)}")
    if tools_elsewhere:
        print(f"(cuepy bench's Go programs are in {tools}: {_size(_disk_bytes(tools))})")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    report = _cache(args).verify()
    for path in report.removed:
        print(f"removed corrupt entry {path}", file=sys.stderr)
    print(f"checked {report.checked} entries, removed {len(report.removed)}")
    return 0


def _run_clear(args: argparse.Namespace) -> int:
    cache = _cache(args)
    removed = cache.clear()
    message = f"removed {removed} entries"
    tools = cache.directory / BENCH_TOOLS
    if tools.is_symlink():
        tools.unlink()
    elif tools.is_dir():
        size = _disk_bytes(tools)
        shutil.rmtree(tools)
        message += f" and cuepy bench's Go programs ({_size(size)})"
    print(message)
    left = {name: size for name, size in _others(cache).items() if name != BENCH_TOOLS + "/"}
    if left:
        print(f"left in place (not cuepy's): {', '.join(f'{n} ({_size(b)})' for n, b in left.items())}")
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
