"""Cache keys: sha256 digests over the request and the content of what was read.

A key covers the bytes of every file a computation read and the versions of
the code that read them. Which files those are is not guessed by walking a
tree: the caller says (for a CUE load, ``cuepy.api.load_inputs`` asks
libcuepy, which reports the files cue/load read, ``@embed``-ed files included,
and the directories whose listing decides what is read).

Observing a file hashes what is read and records the stat signature
``(mtime, ctime, size, inode, device)`` observed around the read (``stat``
before, ``fstat`` and ``stat`` after): a signature that changed meanwhile makes
the observation *dirty*, and a dirty observation is neither looked up nor
stored. Within one process the digest of a file is remembered against its
signature, so an unchanged file is not read again, except when the signature
is *racy* (git's rule): a file whose mtime or ctime is not older, by at least
``RACY_NS``, than the moment its signature was recorded could be rewritten
with the same size within the same timestamp tick, so its content is hashed
again until it has aged.

The modules shipped inside cuepy (its catalog) are part of the installed
package, like its Python code: each directory of theirs that a listing names
(a file names its directory) is hashed once per process, as a unit (its entry
names and the content of its files), and not watched while the process runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cuepy.errors import CueError

#: Version of the key layout; bumping it invalidates every entry.
KEY_FORMAT = 3

#: How old a timestamp must be, relative to the moment a signature was recorded,
#: for the signature to be trusted: the coarsest timestamp granularity of common
#: filesystems (FAT: 2 s) plus the lag of the kernel's coarse clock.
RACY_NS = 2_100_000_000


class CacheError(CueError):
    """A file or directory the cache had to read could not be read (``path`` names it)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def cuepy_version() -> str:
    """The cuepy version the keys include (tests replace this function to simulate an upgrade)."""
    import cuepy

    return cuepy.__version__


def cue_version() -> str:
    """The CUE version the keys include (tests replace this function to simulate an upgrade)."""
    import cuepy

    return str(cuepy.__cue_version__)


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace; TypeError/ValueError for what JSON cannot hold."""
    return _canonical.encode(data)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


KEY = re.compile(r"[0-9a-f]{64}")
"""What a key is: a sha256 digest in lowercase hex."""


# Signatures --------------------------------------------------------------------

Signature = tuple[int, int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


def racy(sig: Signature, recorded_ns: int) -> bool:
    """Whether a signature recorded at ``recorded_ns`` cannot be trusted (see the module docstring)."""
    return max(sig[0], sig[1]) >= recorded_ns - RACY_NS


class Dirty(Exception):
    """A file or directory changed while it was read."""


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise CacheError(f"cannot read: {exc.strerror or exc}", path) from exc


def _read_digest(path: str, directory: bool) -> tuple[Signature, str, int]:
    """(signature, digest, recorded_ns) of ``path`` read once; Dirty when it changed meanwhile.

    A file's digest is the sha256 of its content; a directory's, of its sorted
    entry names (a ``/`` marks a subdirectory).
    """
    recorded = time.time_ns()
    before = signature(_stat(path))
    try:
        if directory:
            with os.scandir(path) as it:
                names = sorted(e.name + "/" if e.is_dir() else e.name for e in it)
            digest = sha256("\n".join(names))
        else:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
                if signature(os.fstat(f.fileno())) != before:
                    raise Dirty(path)
    except OSError as exc:
        raise CacheError(f"cannot read: {exc.strerror or exc}", path) from exc
    if signature(_stat(path)) != before:
        raise Dirty(path)
    return before, digest, recorded


# path -> (signature, digest, recorded_ns), per process
_memo: dict[tuple[str, bool], tuple[Signature, str, int]] = {}
_memo_lock = threading.Lock()
_MEMO_MAX = 65536
_hashed = [0]


def digest_of(path: str, *, directory: bool = False) -> tuple[Signature, str, int]:
    """(signature, digest, recorded_ns) of a file or directory, read again unless its remembered
    signature is current and not racy. Raises Dirty or CacheError."""
    known = _memo.get((path, directory))
    if known is not None and not racy(known[0], known[2]) and signature(_stat(path)) == known[0]:
        return known
    result = _read_digest(path, directory)
    _hashed[0] += 1
    with _memo_lock:
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[(path, directory)] = result
    return result


def remember(path: str, directory: bool, sig: Signature, digest: str, recorded: int) -> None:
    """Remember a digest known from elsewhere (a stored observation) against its signature."""
    with _memo_lock:
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[(path, directory)] = (sig, digest, recorded)


def hashed_count() -> int:
    """How many times a file, directory or shipped unit was read and hashed in this process (for tests)."""
    return _hashed[0]


# Observations ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Watched:
    path: str
    directory: bool
    digest: str


class Observation:
    """The files and directories a result was computed from: names, digests and signatures.

    ``current()`` says whether all still have the content observed: a stat per
    path, and a new read for those whose signature changed or is racy. Stored
    (``as_json``) with its signatures, it lets a new process trust an unchanged,
    non-racy file's digest without reading it again (``validate``).
    """

    __slots__ = ("_lock", "_sigs", "refreshed", "shipped", "watched")

    def __init__(self, watched: tuple[Watched, ...], shipped: tuple[tuple[str, str, str], ...]) -> None:
        self.watched = watched
        self.shipped = shipped
        self._sigs: list[tuple[Signature, int]] = []
        """Per watched path: its signature when read and when that was (see ``racy``)."""
        self.refreshed = False
        """Whether ``validate`` read a racy file again (or hashed a shipped unit the stored
        signatures could not vouch for) and the signatures are now trusted: storing this
        observation again spares later processes that read."""
        self._lock = threading.Lock()

    @classmethod
    def take(cls, files: Iterable[str], directories: Iterable[str], shipped: Iterable[str] = ()) -> Observation:
        """Read and hash ``files`` and list ``directories`` (those under a ``shipped`` directory
        count as a shipped unit, hashed once per process). Raises Dirty, CacheError."""
        paths, used = observed_paths(files, directories, shipped)
        watched: list[Watched] = []
        sigs: list[tuple[Signature, int]] = []
        for path, directory in paths:
            sig, digest, recorded = digest_of(path, directory=directory)
            watched.append(Watched(path, directory, digest))
            sigs.append((sig, recorded))
        obs = cls(tuple(watched), tuple((d, name, shipped_digest(d)) for d, name in used))
        obs._sigs = sigs
        return obs

    def paths(self) -> tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, str], ...]]:
        """What this observation watches, as ``observed_paths`` gives it for a listing."""
        return tuple((w.path, w.directory) for w in self.watched), tuple((d, name) for d, name, _ in self.shipped)

    def current(self) -> bool:
        """Whether every watched file and directory still has the content observed."""
        try:
            sigs = self._sigs
            for i, w in enumerate(self.watched):
                sig, recorded = sigs[i]
                if not racy(sig, recorded) and signature(os.stat(w.path)) == sig:
                    continue
                now_sig, digest, now_recorded = digest_of(w.path, directory=w.directory)
                if digest != w.digest:
                    return False
                with self._lock:
                    sigs[i] = (now_sig, now_recorded)
        except (OSError, CueError, Dirty):
            return False
        return True

    def held_while_computed(self, before: Observation, started_ns: int) -> bool:
        """Whether this observation, taken after a computation that started at ``started_ns``,
        has the content the computation read: each path ``before`` watched (observed before the
        computation) has the digest it had then, and each other path was last changed (its
        ctime, which every write sets) more than ``RACY_NS`` before the computation started."""
        known = {(w.path, w.directory): w.digest for w in before.watched}
        for w, (sig, _recorded) in zip(self.watched, self._sigs, strict=True):
            digest = known.get((w.path, w.directory))
            if digest is None and sig[1] >= started_ns - RACY_NS:
                return False
            if digest is not None and digest != w.digest:
                return False
        return True

    def names(self, root: str, labels: dict[str, str]) -> dict[str, Any]:
        """The observation as relative names and digests (what a key covers)."""
        files: dict[str, str] = {}
        dirs: dict[str, str] = {}
        for w in self.watched:
            (dirs if w.directory else files)[relative_name(w.path, root, labels)] = w.digest
        shipped = {name: digest for _, name, digest in self.shipped}
        return {"files": files, "dirs": dirs, "shipped": shipped}

    def as_json(self) -> dict[str, Any]:
        """What ``validate`` reads back: the names and digests (``content``, what decides a
        result) and the signatures that let a new process skip reading unchanged files."""
        return {
            "content": {"watched": [[w.path, w.directory, w.digest] for w in self.watched],
                        "shipped": [list(s) for s in self.shipped]},
            "signatures": {"watched": [[*sig, recorded] for sig, recorded in self._sigs],
                           "shipped": {d: _shipped[d].as_json() for d, _, _ in self.shipped if d in _shipped}},
        }  # fmt: skip

    @classmethod
    def validate(cls, data: Any) -> Observation | None:
        """The stored observation ``data`` if every digest still matches, else None. A file whose
        stored signature is not racy and still current is not read again (git's rule, across
        processes); any other is read and hashed."""
        return cls._from_stored(data, again=False)

    @classmethod
    def again(cls, data: Any) -> Observation | None:
        """The paths of the stored observation ``data``, observed now: as ``validate``, but a
        changed file or directory takes its new digest (None if one is gone or unreadable)."""
        return cls._from_stored(data, again=True)

    @classmethod
    def _from_stored(cls, data: Any, *, again: bool) -> Observation | None:
        try:
            content, signatures = data["content"], data["signatures"]
            items, shipped, rows = content["watched"], content["shipped"], signatures["watched"]
            units = signatures["shipped"]
            if len(rows) != len(items) or not isinstance(units, dict):
                return None
            sigs: list[tuple[Signature, int]] = []
            watched: list[Watched] = []
            refreshed = False
            for (path, directory, digest), row in zip(items, rows, strict=True):
                if type(path) is not str or type(digest) is not str:  # (an int would name a descriptor)
                    return None
                directory = bool(directory)
                sig, recorded = tuple(row[:5]), row[5]
                try:
                    same = signature(os.stat(path)) == sig
                except OSError:
                    same = False
                if same and not racy(sig, recorded):
                    remember(path, directory, sig, digest, recorded)
                else:
                    sig, got, recorded = digest_of(path, directory=directory)
                    if got != digest and not again:
                        return None
                    digest = got
                    refreshed = refreshed or not racy(sig, recorded)
                sigs.append((sig, recorded))
                watched.append(Watched(path, directory, digest))
            units_now: list[tuple[str, str, str]] = []
            for d, name, digest in shipped:
                if type(d) is not str or type(name) is not str or type(digest) is not str:
                    return None
                unit, same = _shipped_from(d, units.get(d))
                if unit.digest != digest and not again:
                    return None
                units_now.append((d, name, unit.digest))
                refreshed = refreshed or (not same and unit.trusted())
        except (CueError, Dirty, KeyError, TypeError, ValueError, IndexError):  # (the last four: not as_json)
            return None
        obs = cls(tuple(watched), tuple(units_now))
        obs._sigs = sigs
        obs.refreshed = refreshed
        return obs


def observed_paths(
    files: Iterable[str], directories: Iterable[str], shipped: Iterable[str] = ()
) -> tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, str], ...]]:
    """What an observation of a listing watches: each file and directory outside the ``shipped``
    directories as (path, is a directory), then the shipped units the listing uses, sorted: each
    directory it names under a shipped one, or holding a file it names, as (directory, its name
    in keys: ``@shipped/<shipped directory's name>/<path in it>``)."""
    ship = tuple(shipped)
    paths: list[tuple[str, bool]] = []
    used: dict[str, str] = {}
    for listed, directory in ((files, False), (directories, True)):
        for path in listed:
            base = _under(path, ship)
            if base is None:
                paths.append((path, directory))
                continue
            unit = path if directory else os.path.dirname(path)
            if unit not in used:
                used[unit] = "@shipped/" + os.path.relpath(unit, os.path.dirname(base))
    return tuple(paths), tuple(sorted(used.items()))


def _under(path: str, bases: tuple[str, ...]) -> str | None:
    for base in bases:
        if path == base or path.startswith(base + os.sep):
            return base
    return None


def relative_name(path: str, root: str, labels: dict[str, str]) -> str:
    """``path`` named relative to the module root or to a labelled directory (``@label/...``),
    whichever holds it more closely.

    Relative names keep keys independent of where a module is checked out;
    anything else keeps its absolute path.
    """
    best, prefix = "", ""
    for label, base in [("", root), *labels.items()]:
        if base and (path == base or path.startswith(base + os.sep)) and len(base) > len(best):
            best, prefix = base, (f"@{label}/" if label else "")
    if not best:
        return path
    return prefix + os.path.relpath(path, best)


# Shipped modules ---------------------------------------------------------------

@dataclass(frozen=True)
class ShippedUnit:
    """A directory of a shipped module, as a unit: the digest of its entry names and of its
    files' content, with the signatures of the directory and its files when hashed.

    The directory's signature changes when an entry is added, removed or renamed in it, and a
    file's when it is written: stats of what was hashed tell whether the unit is unchanged,
    without listing it again.
    """

    digest: str
    entries: tuple[tuple[str, Signature], ...]
    """(name, ``.`` for the directory itself; signature) of the directory and each of its files."""
    recorded: int
    """When the signatures were taken (0: the unit changed while hashed; never trusted)."""

    @classmethod
    def of(cls, directory: str) -> ShippedUnit:
        """Hash the unit at ``directory`` and record its signatures: the entry names in name
        order (a ``/`` marks a subdirectory, whose content is a unit of its own), each file's
        with its content; dot-entries skipped, symbolic links to regular files counted as files."""
        _hashed[0] += 1
        recorded = time.time_ns()
        h = hashlib.sha256()
        entries = [(".", signature(_stat(directory)))]  # (stat before listing: an entry added later shows)
        try:
            with os.scandir(directory) as it:
                listed = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise CacheError(f"cannot list: {exc.strerror or exc}", directory) from exc
        for entry in listed:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                h.update(f"{entry.name}/\n".encode())
            elif _regular(entry):
                with open(entry.path, "rb") as f:
                    before = signature(os.fstat(f.fileno()))
                    content = hashlib.file_digest(f, "sha256").hexdigest()
                    if signature(os.fstat(f.fileno())) != before:
                        recorded = 0
                entries.append((entry.name, before))
                h.update(f"{entry.name}\0{content}\n".encode())
        return cls(h.hexdigest(), tuple(entries), recorded)

    @classmethod
    def unchanged(cls, stored: Any, directory: str) -> ShippedUnit | None:
        """The unit ``stored`` (its ``as_json()``) if the directory and each of its files still have
        the signature recorded and none is racy (a stat each), else None."""
        try:
            recorded = stored["recorded"]
            prefix = os.path.join(directory, "")
            entries: list[tuple[str, Signature]] = []
            for name, *recorded_sig in stored["entries"]:
                sig = signature(os.stat(directory if name == "." else prefix + name))
                if list(sig) != recorded_sig or racy(sig, recorded):
                    return None
                entries.append((name, sig))
            return cls(str(stored["digest"]), tuple(entries), recorded)
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def as_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "entries": [[name, *sig] for name, sig in self.entries],
                "recorded": self.recorded}  # fmt: skip

    def trusted(self) -> bool:
        """Whether the signatures can vouch for the content (none is racy)."""
        return all(not racy(sig, self.recorded) for _, sig in self.entries)


def _regular(entry: os.DirEntry[str]) -> bool:
    """A regular file, or a symbolic link to one."""
    return entry.is_file(follow_symlinks=False) or (entry.is_symlink() and stat.S_ISREG(os.stat(entry.path).st_mode))


_shipped: dict[str, ShippedUnit] = {}


def shipped_digest(directory: str) -> str:
    """The digest of the shipped unit at ``directory`` (``ShippedUnit.of``), once per process."""
    return _shipped_from(directory, None)[0].digest


def _shipped_from(directory: str, stored: Any) -> tuple[ShippedUnit, bool]:
    """The shipped unit: this process's, else ``stored`` (a ``ShippedUnit.as_json()``) if its
    signatures still hold, else hashed; and whether ``stored`` is that unit (False: storing the
    unit again spares later processes the hashing)."""
    found = _shipped.get(directory)
    if found is None:
        found = ShippedUnit.unchanged(stored, directory) or ShippedUnit.of(directory)
        _shipped[directory] = found
    if not isinstance(stored, dict):
        return found, False
    return found, stored.get("recorded") == found.recorded and stored.get("digest") == found.digest


def forget() -> None:
    """Drop the per-process memos of digests and calls (for tests)."""
    with _memo_lock:
        _memo.clear()
    _shipped.clear()
    from cuepy.cache import _memoize

    _memoize.forget_calls()
