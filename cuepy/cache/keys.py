"""Cache keys: sha256 digests over everything that can change a result.

A key covers the bytes of every file a load can read and the versions of
the code that reads them:

* every ``.cue`` file of the main module (the tree under the directory that
  holds ``cue.mod/module.cue``, ``cue.mod`` included: ``module.cue`` pins
  the dependencies and their versions), skipping directories whose name
  starts with a dot;
* every regular file of the loaded directory (data files, ``@embed``-ed
  siblings);
* the content of every module served from a local directory: the embedded
  OPM catalog and the caller's ``modules=``, each with its path and version;
  a module fetched from a registry is pinned by its path and version in
  ``module.cue`` and by the registry named in the key;
* the cuepy version, the CUE version, the operation and its options;
* for renders, the canonical JSON of the values, the namespace and the name.

Paths and timestamps never decide a hit: each file is named by its path
relative to the module root and represented by the sha256 of its content.
Within one process, the digest of a file is remembered against its
``(mtime, ctime, size, inode)``, so an unchanged file is not read again; a
changed byte changes the ctime and the mtime, hence a new digest. The key of
a whole call (``recall``/``remember``) is remembered the same way, against
the signatures of every file and directory it read, so that a warm hit costs
a few ``stat`` calls (see ``_Seen``) and no hashing.

The embedded catalog is part of the installed cuepy, like its Python code:
it is hashed once per process (so a catalog edited between two runs changes
every key), and not watched for edits while a process runs.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import stat
import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuepy._embedded import embedded_modules

StrPath = str | os.PathLike[str]

#: Version of the key layout; bumping it invalidates every entry.
KEY_FORMAT = 1

_cue_version: str | None = None


def cuepy_version() -> str:
    """The cuepy version the keys include (tests replace this function to simulate an upgrade)."""
    import cuepy

    return cuepy.__version__


def cue_version() -> str:
    """The CUE version the keys include (tests replace this function to simulate an upgrade)."""
    global _cue_version
    if _cue_version is None:
        import cuepy

        _cue_version = str(cuepy.__cue_version__)
    return _cue_version


# File digests, remembered per process against the file's stat signature -------

_Signature = tuple[int, int, int, int, int]
_memo: dict[str, tuple[_Signature, str]] = {}
_memo_lock = threading.Lock()
_MEMO_MAX = 65536


def _signature(st: os.stat_result) -> _Signature:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


def file_digest(path: str, st: os.stat_result | None = None) -> str:
    """sha256 of the file's content (hex), re-read only when its stat signature changed."""
    if st is None:
        st = os.stat(path)
    sig = _signature(st)
    cached = _memo.get(path)
    if cached is not None and cached[0] == sig:
        return cached[1]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    with _memo_lock:
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[path] = (sig, digest)
    return digest


def forget() -> None:
    """Drop the per-process memos of file digests and source sets (for tests)."""
    with _memo_lock:
        _memo.clear()
    with _sets_lock:
        _sets.clear()
    _calls.clear()
    with _holders_lock:
        holders = list(_holders)
        _holders.clear()
    for seen in holders:
        seen.release()
    global _embedded
    _embedded = None


class _Seen:
    """The files and directories a digest was computed from, with their stat signatures.

    ``unchanged()`` re-stats them all. The walk's roots, and whatever was
    reached through a symbolic link, are stat-ed by path; everything else,
    once a set is validated again, through a descriptor held open on it
    (``fstat`` skips the path lookup). That is as strict: an edit changes the
    file's own signature, and a file or directory replaced by rename or
    deleted changes the signature of the directory that holds it, which is
    watched too, up to the roots checked by path. Only the
    ``_HELD_SETS`` most recently validated sets hold descriptors.
    """

    def __init__(self) -> None:
        self.paths: dict[str, _Signature] = {}
        self.by_path: set[str] = set()
        self._held: list[tuple[int, _Signature]] | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()

    def add(self, path: str, st: os.stat_result, *, by_path: bool = False) -> None:
        self.paths[path] = _signature(st)
        if by_path:
            self.by_path.add(path)

    def unchanged(self) -> bool:
        """Whether every file and directory still has its signature (a new or removed file
        changes its directory's)."""
        held = self._held
        if held is None:
            return self._unchanged_by_path() and self._hold()
        try:
            for path in self.by_path:
                if _signature(os.stat(path)) != self.paths[path]:
                    return False
            for fd, sig in held:
                if _signature(os.fstat(fd)) != sig:
                    return False
        except OSError:
            return False
        return True

    def _unchanged_by_path(self) -> bool:
        try:
            return all(_signature(os.stat(path)) == sig for path, sig in self.paths.items())
        except OSError:
            return False

    def _hold(self) -> bool:
        """Open descriptors on the paths not checked by path (best effort); always True."""
        with self._lock:
            if self._held is not None:
                return True
            held: list[tuple[int, _Signature]] = []
            try:
                for path, sig in self.paths.items():
                    if path not in self.by_path:
                        held.append((os.open(path, _OPEN_FLAGS), sig))
            except OSError:  # e.g. no permission to open, or a platform that cannot open directories
                _close(held)
                self.by_path = set(self.paths)
                held = []
            # Closed exactly once: by release() or when this set is collected.
            self._closer = weakref.finalize(self, _close, held) if held else None
            self._held = held
        if held:
            _remember_held(self)
        return True

    def release(self) -> None:
        """Close the descriptors (checks go by path again).

        A check running meanwhile in another thread may fstat a descriptor
        just closed (an error) or reused for another file (another inode):
        either reads as "changed", a miss, never as a false hit.
        """
        with self._lock:
            closer, self._closer = self._closer, None
            self._held = None
        if closer is not None:
            closer()


def _close(held: list[tuple[int, _Signature]]) -> None:
    for fd, _sig in held:
        with contextlib.suppress(OSError):
            os.close(fd)


_HELD_SETS = 16
# Non-blocking: a path swapped for a FIFO since the walk must not hang the open.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
_holders: collections.deque[_Seen] = collections.deque()
_holders_lock = threading.Lock()


def _remember_held(seen: _Seen) -> None:
    with _holders_lock:
        _holders.append(seen)
        dropped = _holders.popleft() if len(_holders) > _HELD_SETS else None
    if dropped is not None:
        dropped.release()


def _walk(
    root: str, seen: _Seen, *, cue_only: bool, recursive: bool = True, linked: bool = False, top: bool = True
) -> Iterable[tuple[str, os.stat_result]]:
    """(path, stat) of the regular files under ``root``, sorted, skipping dot-directories.

    The top ``root`` is recorded to be checked by path, and so is everything
    reached through a symbolic link (``linked``).
    """
    try:
        seen.add(root, os.stat(root), by_path=top or linked)
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        through_link = linked or entry.is_symlink()
        if entry.is_dir(follow_symlinks=True):
            if recursive and not entry.name.startswith("."):
                yield from _walk(entry.path, seen, cue_only=cue_only, linked=through_link, top=False)
            continue
        if cue_only and not entry.name.endswith(".cue"):
            continue
        try:
            st = entry.stat(follow_symlinks=True)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            seen.add(entry.path, st, by_path=through_link)
            yield entry.path, st


def _relative(path: str, base: str) -> str:
    return path[len(base) + 1 :] if path.startswith(base + os.sep) else os.path.relpath(path, base)


def tree_digest(root: StrPath, *, cue_only: bool = False, seen: _Seen | None = None) -> str:
    """sha256 over the relative paths and contents of the files under ``root``."""
    base = os.fspath(root)
    h = hashlib.sha256()
    for path, st in _walk(base, seen or _Seen(), cue_only=cue_only):
        h.update(f"{_relative(path, base)}\0{file_digest(path, st)}\n".encode())
    return h.hexdigest()


def module_root(directory: Path) -> Path | None:
    """The directory holding ``cue.mod/module.cue`` at or above ``directory``."""
    for d in (directory, *directory.parents):
        if (d / "cue.mod" / "module.cue").is_file():
            return d
    return None


# Keys -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceSet:
    """What a load of ``directory`` reads, as relative names and content digests."""

    directory: Path
    root: Path
    files: tuple[tuple[str, str], ...]
    """(path relative to the module root, sha256) of every file hashed, sorted."""
    modules: tuple[tuple[str, str], ...]
    """(``path@version``, tree sha256) of every module served from a directory."""
    fingerprint: str = ""
    """sha256 of the above (computed once)."""
    seen: _Seen | None = field(default=None, compare=False, repr=False)
    """The files and directories read, with their stat signatures when read."""

    def current(self) -> bool:
        """Whether no file or directory this set was computed from has changed since."""
        return self.seen is not None and self.seen.unchanged()

    def __post_init__(self) -> None:
        if not self.fingerprint:
            # Relative names only: the same module checked out elsewhere has the same key.
            document = [os.path.relpath(self.directory, self.root), self.files, self.modules]
            object.__setattr__(self, "fingerprint", hashlib.sha256(canonical_json(document).encode()).hexdigest())


_sets: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[_Seen, SourceSet]] = {}
_sets_lock = threading.Lock()
_embedded: tuple[tuple[str, str], ...] | None = None


def _embedded_digests() -> tuple[tuple[str, str], ...]:
    """(``path@version``, tree sha256) of the modules shipped in cuepy, hashed once per process."""
    global _embedded
    if _embedded is None:
        _embedded = tuple(sorted((key, tree_digest(d)) for key, d in embedded_modules().items()))
    return _embedded


def absolute(path: StrPath) -> str:
    """``path`` made absolute against the working directory, without resolving anything (cheap)."""
    given = os.fspath(path)
    return given if os.path.isabs(given) else os.path.join(os.getcwd(), given)


def source_set(directory: StrPath, *, modules: Mapping[str, StrPath] | None = None) -> SourceSet:
    """Hash the files a load of ``directory`` can read (see the module docstring).

    The result is remembered with the stat signature of every file and
    directory it read: while none changed, it is returned without reading
    or listing anything again.
    """
    memo_key = (
        absolute(directory),
        tuple((k, os.path.abspath(v)) for k, v in modules.items()) if modules else (),
    )
    cached = _sets.get(memo_key)
    if cached is not None and cached[0].unchanged():
        return cached[1]
    path = Path(directory).absolute()
    served = dict(_embedded_digests())
    seen = _Seen()
    root = module_root(path) or path
    base = os.fspath(root)
    files: dict[str, str] = {}
    for file, st in _walk(base, seen, cue_only=True):
        files[_relative(file, base)] = file_digest(file, st)
    for file, st in _walk(os.fspath(path), seen, cue_only=False, recursive=False):
        rel = _relative(file, base)
        if rel not in files:
            files[rel] = file_digest(file, st)
    for key, d in (modules or {}).items():  # the caller's modules may change while we run: watched
        served[key] = tree_digest(d, seen=seen)
    module_digests = tuple(sorted(served.items()))
    result = SourceSet(path, root, tuple(sorted(files.items())), module_digests, seen=seen)
    with _sets_lock:
        if len(_sets) >= 1024:
            _sets.clear()
        _sets[memo_key] = (seen, result)
    return result


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# Keys of whole calls ------------------------------------------------------------

_calls: dict[Hashable, tuple[SourceSet, str]] = {}
_CALLS_MAX = 4096


def recall(call: Hashable) -> str | None:
    """The key remembered for ``call`` (its arguments, as data), if no file it read has changed since."""
    known = _calls.get(call)
    return known[1] if known is not None and known[0].current() else None


def remember(call: Hashable, sources: SourceSet, key: str) -> None:
    """Remember ``key`` for ``call``, valid while ``sources`` are current."""
    if len(_calls) >= _CALLS_MAX:
        _calls.clear()
    _calls[call] = (sources, key)


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace; TypeError/ValueError for what JSON cannot hold."""
    return _canonical.encode(data)


def digest(kind: str, sources: SourceSet, **parts: Any) -> str:
    """The key of a ``kind`` result: sha256 of the versions, the sources and ``parts`` (JSON data)."""
    document: dict[str, Any] = {
        "format": KEY_FORMAT,
        "kind": kind,
        "cuepy": cuepy_version(),
        "cue": cue_version(),
        "sources": sources.fingerprint,
        **parts,
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()
