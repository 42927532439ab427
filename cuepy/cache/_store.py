"""The cache store: an in-process LRU in front of a directory of checksummed text entries.

Layout: ``<directory>/v1/<kind>/<key>.entry``, ``kind`` naming what the
payload is (a short lowercase name chosen by the caller: ``module``,
``render``, ``manifest``...). Each entry is one header line and the payload::

    cuepy-cache 1 <kind> <key> <payload length> <sha256 of the payload>\\n<payload>

An entry is written to a temporary file in the same directory and renamed
into place (``os.replace``), so a reader sees a whole entry or none. A reader
checks the header against the entry's name and the payload against the
length and digest; an entry that fails (truncated, garbled, empty, foreign) is
removed and reported as ``cuepy.cache.corrupt``, and the caller recomputes.
Nothing is executed or unpickled: payloads are text (CUE source and JSON).

Recency is the entry's mtime, set when it is written and when another
process reads it from disk; when the directory grows over ``max_bytes`` the
least recently used entries are removed, under a file lock so that
concurrent sweeps do not fight.

The directory must be the user's own: one owned by another user, or
writable by group or others (or an entry so owned or writable), is refused
with one warning and the cache works in memory only, as ssh and pip do.
``verify`` and ``clear`` never follow a symbolic link out of the directory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import random
import re
import stat
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from filelock import FileLock
from filelock import Timeout as LockTimeout

from cuepy.cache import _memoize
from cuepy.cache._seal import Codec, is_auth_problem
from cuepy.cache.keys import KEY
from cuepy.trace import run as trace_run
from cuepy.value import Value

if TYPE_CHECKING:
    from cuepy.cache.backends import Backend

StrPath = str | os.PathLike[str]
T = TypeVar("T")

FORMAT = 1
KINDS = ("module", "render", "manifest")
"""The kinds cuepy stores; any short lowercase name is accepted."""
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_LOCK_MODE = 0o600
"""Lock files are the owner's, like the directory (filelock's default, 0o666 less the umask, also
made it probe each new lock directory for a filesystem without flock: a millisecond per process)."""
_SWEEP_EVERY = 16
"""A store sweeps the directory each time ``max_bytes // _SWEEP_EVERY`` bytes were counted (see ``Cache._unswept``)."""
_phases = random.Random()
"""Where each Cache starts counting toward its first sweep (a generator of its own: the caller's
``random.seed()`` neither decides it nor is disturbed by it)."""
DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024
DEFAULT_LOADED_MODULES = 8
_MAGIC = b"cuepy-cache"
_HEADER_MAX = 256
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_ENTRY = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
"""How an entry is opened: a symbolic link fails, and a FIFO in its place opens at once (to be
refused as not a regular file) instead of blocking until a writer comes."""
_checked_kinds: set[str] = set()
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_SECONDS = 3600.0
_LOCKS = ".locks-v1"
DEFAULT_WAIT = 120.0
"""Seconds a miss waits for another thread or process computing the same entry, then computes itself."""
SHARED_RETRY = 30.0
"""Seconds a shared store that failed is left alone before it is tried again."""
DEFAULT_LEASE = 30.0
"""Seconds a machine's lease on a key of the shared store lasts: how long a holder that died keeps
the other machines waiting."""
_LEASE_POLL_FIRST = 0.05
_LEASE_POLL_MAX = 0.5
"""Seconds between looks at the shared store while another machine holds a key's lease (growing)."""

_log = structlog.get_logger("cuepy")


def short(key: str) -> str:
    """The first 12 hex digits of a key, for events and messages."""
    return key[:12]


def _event(name: str, *, warning: bool = False, **fields: Any) -> None:
    # Through structlog only once the application configured it: a trace()
    # collector alone must not make structlog's defaults print.
    if structlog.is_configured():
        (_log.warning if warning else _log.debug)(f"cuepy.cache.{name}", **fields)


def _env(name: str, parse: Callable[[str], T], default: T) -> T:
    """``parse($name)``, or ``default`` when it is unset or blank; an error of ``parse`` says
    which variable it came from."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        exc.add_note(f"(from ${name})")
        raise


def _whole_number(name: str, value: object) -> int:
    """``value`` as an int (a whole float such as ``1e9`` too); TypeError for anything else,
    ValueError if it is negative."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # (NaN too)
        raise ValueError(f"a number of seconds is at least 0, not {text!r}")
    return value


def parse_size(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1048576"`` as bytes (K, M, G: powers of 1024)."""
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = 1
    if s and s[-1] in "KMGT":
        factor = 1024 ** ("KMGT".index(s[-1]) + 1)
        s = s[:-1]
    try:
        value = int(float(s) * factor)
    except (ValueError, OverflowError):
        raise ValueError(f"a cache size is a number of bytes, with K, M, G or T for their powers of 1024, "
                         f"not {text!r}") from None  # fmt: skip
    if value < 0:
        raise ValueError(f"a cache size cannot be negative: {text!r}")
    return value


@dataclass(slots=True)
class KindStats:
    entries: int = 0
    bytes: int = 0


@dataclass(slots=True)
class Stats:
    """What ``Cache.stats()`` reports: the directory's content and this process's counters."""

    directory: str
    max_bytes: int
    entries: int
    bytes: int
    kinds: dict[str, KindStats]
    memory_entries: int
    loaded_modules: int
    memory_bytes: int
    hits: int
    memory_hits: int
    misses: int
    stores: int
    evictions: int
    corrupt: int
    shared: str | None = None
    shared_hits: int = 0
    shared_errors: int = 0
    forged: int = 0
    waits: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__slots__ if k != "kinds"}
        out["kinds"] = {k: {"entries": v.entries, "bytes": v.bytes} for k, v in self.kinds.items()}
        return out


@dataclass(slots=True)
class VerifyReport:
    """What ``Cache.verify()`` found: entries checked, and the corrupt ones it removed."""

    checked: int = 0
    removed: list[str] = field(default_factory=list)


class _Memory:
    """A byte-bounded LRU of verified payloads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            payload = self._items.get(key)
            if payload is not None:
                self._items.move_to_end(key)
            return payload

    def put(self, key: tuple[str, str], payload: str) -> None:
        size = len(payload)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._items[key] = payload
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped)

    def discard(self, key: tuple[str, str]) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)


class _Renewal:
    """Keeps a lease on the shared store while its holder computes, renewed every third of its
    time: a compute longer than the lease does not let another machine compute the key too."""

    def __init__(self, backend: Backend, name: str, token: str, ttl: float,
                 failed: Callable[[Exception], None]) -> None:  # fmt: skip
        self.token: str | None = token
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(backend, name, ttl, failed), name="cuepy-lease",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _run(self, backend: Backend, name: str, ttl: float, failed: Callable[[Exception], None]) -> None:
        from cuepy.cache.backends import LeaseUnsupported

        while not self._stopped.wait(ttl / 3) and self.token is not None:
            try:
                self.token = backend.renew(name, self.token, ttl)  # None: lost to another holder
            except LeaseUnsupported:  # the lease runs out at its first expiry, as before renewals
                return
            except Exception as exc:  # a store that fails: left alone a while, the lease runs out
                failed(exc)
                return

    def stop(self) -> str | None:
        """Stop renewing; the lease's token now (None if it was lost)."""
        self._stopped.set()
        self._thread.join()
        return self.token


class Cache:
    """Results keyed by content: in memory, then on disk.

    - ``directory``: where entries live; default ``$CUEPY_CACHE_DIR`` or the
      platform's user cache directory (``platformdirs.user_cache_dir("cuepy")``).
      Created with mode 0700.
    - ``max_bytes``: bound on the directory's entries (default 512 MiB, or
      ``$CUEPY_CACHE_MAX_SIZE`` such as ``"256M"``); least recently used
      entries go first.
    - ``memory_bytes``: bound on the in-process LRU of entries (default 64 MiB).
    - ``loaded_modules``: how many loaded Values ``keep`` holds in this
      process, least recently used out first (default 8; 0: none). Each keeps
      its CUE context alive: a few MiB for a module of a dozen components,
      some 30 MiB at a hundred.
    - ``shared``: a shared store after the local directory
      (:mod:`cuepy.cache.backends`): a URL (``redis://...``, ``s3://bucket/prefix``)
      or a Backend; default ``$CUEPY_CACHE_URL``; False: none. A hit there
      fills memory and the directory.
    - ``secret``: the key a fleet shares (``$CUEPY_CACHE_KEY`` by default):
      every entry written is authenticated with it (HMAC-SHA256 over kind,
      key and payload), and an entry that fails (forged, another key's, written
      with another secret or without one) is a miss with a ``CacheWarning``.
    - ``encrypt``: also encrypt entries (AES-256-GCM, key derived from the
      secret; default ``$CUEPY_CACHE_ENCRYPT``), so what a render holds is
      not readable from the store.
    - ``wait``: how long a miss waits for another thread, process or machine
      computing the same entry (single-flight) before computing it itself
      (default 120 s, ``$CUEPY_CACHE_WAIT``).
    - ``lease``: with a shared store that has leases, how long a machine's lease
      on a key it computes lasts (default 30 s, ``$CUEPY_CACHE_LEASE``; 0: no
      lease, each machine computes its misses). Other machines wait for the
      entry meanwhile; a holder that dies delays them by at most this.

    Every method is safe to call from several threads and processes at once.
    """

    def __init__(
        self,
        directory: StrPath | None = None,
        *,
        max_bytes: int | None = None,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        loaded_modules: int = DEFAULT_LOADED_MODULES,
        shared: str | Backend | bool | None = None,
        secret: bytes | str | None = None,
        encrypt: bool | None = None,
        wait: float | None = None,
        lease: float | None = None,
    ) -> None:
        from cuepy.cache import backends

        url = os.environ.get("CUEPY_CACHE_URL", "").strip() if shared is None else shared
        if isinstance(url, str) and url and backends.local_directory(url) is not None:
            if directory is None:
                directory = backends.local_directory(url)
            url = ""
        # Strings, not Paths: a new process's first hit pays for each pathlib operation.
        self._directory = os.path.abspath(directory if directory is not None else default_directory())
        self._root = os.path.join(self._directory, f"v{FORMAT}")
        if encrypt is None:
            encrypt = _truthy(os.environ.get("CUEPY_CACHE_ENCRYPT", ""))
        try:
            self._codec = Codec(secret if secret is not None else os.environ.get("CUEPY_CACHE_KEY") or None,
                                encrypt=encrypt)  # fmt: skip
        except ValueError as exc:
            if secret is None and os.environ.get("CUEPY_CACHE_KEY"):
                exc.add_note("(the secret from $CUEPY_CACHE_KEY)")
            raise
        self.wait = wait if wait is not None else _env("CUEPY_CACHE_WAIT", _seconds, DEFAULT_WAIT)
        if lease is None:
            lease = _env("CUEPY_CACHE_LEASE", _seconds, DEFAULT_LEASE)
        if lease < 0:
            raise ValueError("lease cannot be negative")
        self.lease = lease
        self._leases = lease > 0
        """Whether to take leases on the shared store (off once it proves to have none)."""
        self._shared: Backend | None = None
        if isinstance(url, backends.Backend):
            self._shared = url
        elif isinstance(url, str) and url:
            try:
                self._shared = backends.open_backend(url)
            except ValueError as exc:
                if shared is None:
                    exc.add_note("(from $CUEPY_CACHE_URL)")
                raise
        elif url not in (None, False, True, ""):
            raise TypeError(f"shared must be a URL, a cuepy.cache.backends.Backend or False, not {url!r}")
        self._shared_down_until = 0.0
        if self._shared is not None and not self._codec.sealed:
            _warn_once(f"shared cache store {self._shared.url} without a shared key (CUEPY_CACHE_KEY): "
                       "its entries are checksummed, not authenticated")  # fmt: skip
        if max_bytes is None:
            max_bytes = _env("CUEPY_CACHE_MAX_SIZE", parse_size, DEFAULT_MAX_BYTES)
        self.max_bytes = _whole_number("max_bytes", max_bytes)
        self._unswept = _phases.randrange(self._sweep_every())
        """Bytes counted toward this object's next sweep. Counting starts at a random point of the
        interval: processes that each store less than it (a CLI's run) sweep in proportion to
        what they store, one sweep per interval stored on average, none of them on every run."""
        self._sweep_lock = threading.Lock()
        self._memory = _Memory(_whole_number("memory_bytes", memory_bytes))
        self._loaded: OrderedDict[str, Value] = OrderedDict()
        self._loaded_max = _whole_number("loaded_modules", loaded_modules)
        self._loaded_lock = threading.Lock()
        self._counters = {"hits": 0, "memory_hits": 0, "misses": 0, "stores": 0, "evictions": 0, "corrupt": 0,
                          "shared_hits": 0, "shared_errors": 0, "forged": 0, "waits": 0}  # fmt: skip
        self._counter_lock = threading.Lock()
        self._ready = False
        self._refused: str | None = None
        self._warned = False

    def __repr__(self) -> str:
        shared = f" shared={self._shared.url}" if self._shared is not None else ""
        return f"<cuepy.cache.Cache {self.directory} max_bytes={self.max_bytes}{shared}>"

    @property
    def shared(self) -> Backend | None:
        """The shared store after the local directory, if any."""
        return self._shared

    # Layout -------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The cache directory (absolute)."""
        return Path(self._directory)

    @property
    def root(self) -> Path:
        """The directory of this format's entries."""
        return Path(self._root)

    def path(self, kind: str, key: str) -> Path:
        """Where the entry ``kind``/``key`` is stored."""
        return Path(self._entry_file(kind, key))

    def _entry_file(self, kind: str, key: str) -> str:
        return f"{self._root}/{kind}/{key}.entry"

    def _ensure(self) -> bool:
        """Create the directories if needed; whether the disk may be used (see ``refused``)."""
        if self._ready:
            return True
        if self._refused is not None:
            return False
        try:
            if not os.path.isdir(self._directory):
                os.makedirs(self._directory, mode=0o700, exist_ok=True)
                os.chmod(self._directory, 0o700)
            problem = _unsafe(self._directory, follow=True)
            for d in (self._root, *(os.path.join(self._root, kind) for kind in KINDS)):
                if problem:
                    break
                problem = _unsafe(d, follow=False, make=True)
        except OSError as exc:
            problem = f"{self.directory} cannot be created: {exc}"
        if problem:
            self._refuse(problem)
            return False
        self._ready = True
        return True

    def _refuse(self, problem: str) -> None:
        """Use no disk from now on, with one warning."""
        self._refused = problem
        self._memory_only_warning(problem)

    def _memory_only_warning(self, problem: str) -> None:
        with _default_lock:  # one warning per directory and process
            if self._warned or self.directory in _warned_directories:
                self._warned = True
                return
            self._warned = True
            _warned_directories.add(self.directory)
        message = f"cuepy cache directory not used (caching in memory only): {problem}"
        warnings.warn(message, CacheWarning, stacklevel=4)
        _event("refused", warning=True, directory=str(self.directory), problem=problem)

    @property
    def refused(self) -> str | None:
        """Why the directory is not used (None while it is)."""
        self._ensure()
        return self._refused

    def _kind_dir(self, kind: str) -> bool:
        """Whether ``root/kind`` is usable: made if missing, refused if unsafe."""
        if not self._ensure():
            return False
        d = self.root / kind
        try:
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=0o700)
        except FileNotFoundError:  # the directory was removed while running: made again
            self._ready = False
            return self._ensure() and self._kind_dir(kind)
        except OSError:
            return False
        problem = _unsafe(d, follow=False)
        if problem:
            self._refuse(problem)
            return False
        return True

    def _lock(self) -> contextlib.AbstractContextManager[Any]:
        """The file lock of sweeps and clear (none where a link could redirect the lock file)."""
        lock = os.path.join(self._root, ".lock")
        if os.path.islink(self._root) or not os.path.isdir(self._root) or not _lockable(lock):
            return contextlib.nullcontext()
        return FileLock(lock, timeout=60, mode=_LOCK_MODE)

    def _count(self, name: str, n: int = 1) -> None:
        with self._counter_lock:
            self._counters[name] += n

    # Reading ------------------------------------------------------------------

    def get(self, kind: str, key: str, *, memory: bool = True) -> str | None:
        """The payload stored for ``kind``/``key``, or None (a corrupt entry is removed: None).

        ``memory=False``: the entry is not kept in the in-process layer (one the caller
        remembers in its own form, as ``memoize`` does a manifest's key in its call memo).
        """
        _check(kind, key)
        memo = self._memory.get((kind, key)) if memory else None
        if memo is not None:
            with self._counter_lock:
                self._counters["memory_hits"] += 1
                self._counters["hits"] += 1
            _event("hit", kind=kind, key=short(key), layer="memory")
            return memo
        return trace_run("cache.lookup", lambda: self._lookup(kind, key, memory), kind=kind, key=short(key))

    def _lookup(self, kind: str, key: str, memory: bool) -> str | None:
        """Disk, then the shared store (a hit there fills memory, if ``memory``, and disk)."""
        on_disk = self._ensure()
        if on_disk:
            found = self._get_disk(kind, key, memory, count_miss=self._shared is None)
            if found is not None or self._shared is None:
                return found
        if self._shared is None:
            self._count("misses")
            return None
        return self._get_shared(kind, key, memory, fill=on_disk)

    def _shared_up(self) -> bool:
        return self._shared is not None and time.monotonic() >= self._shared_down_until

    def _shared_failed(self, exc: Exception) -> None:
        """The shared store failed: left alone for SHARED_RETRY seconds (computing what misses meanwhile)."""
        self._count("shared_errors")
        self._shared_down_until = time.monotonic() + SHARED_RETRY
        _event("shared", warning=True, store=self._shared.url if self._shared else "", error=str(exc))

    def _get_shared(self, kind: str, key: str, memory: bool, *, fill: bool) -> str | None:
        start = time.perf_counter_ns()
        if not self._shared_up():
            self._count("misses")
            return None
        assert self._shared is not None
        try:
            data = self._shared.get(f"{kind}/{key}")
        except Exception as exc:  # any failure of the store is a miss, never an error
            self._shared_failed(exc)
            self._count("misses")
            return None
        if data is None:
            self._count("misses")
            _event("miss", kind=kind, key=short(key), layer="shared", duration_ns=time.perf_counter_ns() - start)
            return None
        payload, problem = self._codec.decode(data, kind, key)
        if payload is None:  # left in the store (another fleet's key is not ours to remove); a put replaces it
            self._count("misses")
            if is_auth_problem(problem):
                self._forged(kind, key, problem, self._shared.url)
            else:
                self._count("corrupt")
                _event("corrupt", warning=True, kind=kind, key=short(key), layer="shared", problem=problem)
            return None
        with self._counter_lock:
            self._counters["hits"] += 1
            self._counters["shared_hits"] += 1
        if memory:
            self._memory.put((kind, key), payload)
        if fill and self._refused is None:
            try:
                self._write(kind, key, data)
            except OSError as exc:
                _event("store", warning=True, kind=kind, key=short(key), error=str(exc))
        _event("hit", kind=kind, key=short(key), layer="shared", duration_ns=time.perf_counter_ns() - start)
        return payload

    def _forged(self, kind: str, key: str, problem: str, where: str) -> None:
        """An entry that failed authentication: one warning, and a miss."""
        self._count("forged")
        message = f"cuepy cache entry {kind}/{short(key)} in {where} not used: {problem}"
        warnings.warn(message, CacheWarning, stacklevel=2)
        _event("forged", warning=True, kind=kind, key=short(key), store=where, problem=problem)

    def _get_disk(self, kind: str, key: str, memory: bool, *, count_miss: bool = True) -> str | None:
        start = time.perf_counter_ns()
        path = self._entry_file(kind, key)
        try:
            fd = os.open(path, _READ_ENTRY)
            with open(fd, "rb") as f:
                st = os.fstat(f.fileno())
                problem = _unsafe_stat(st) if stat.S_ISREG(st.st_mode) else "is not a regular file"
                data = f.read() if not problem else b""
        except (FileNotFoundError, NotADirectoryError):
            if count_miss:
                self._count("misses")
            _event("miss", kind=kind, key=short(key), duration_ns=time.perf_counter_ns() - start)
            return None
        except OSError as exc:  # (ELOOP: a symbolic link, never followed)
            if count_miss:
                self._count("misses")
            _event("miss", kind=kind, key=short(key), error=str(exc))
            return None
        if problem:  # another user's entry, or one others may write: not trusted, left alone
            if count_miss:
                self._count("misses")
            _event("refused", warning=True, kind=kind, key=short(key), path=str(path), problem=problem)
            return None
        payload, problem = self._codec.decode(data, kind, key)
        if payload is None:
            if is_auth_problem(problem):
                self._forged(kind, key, problem, str(path))
            self._corrupt(path, kind, key, problem)
            if count_miss:
                self._count("misses")
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recency, for eviction
        if memory:
            self._memory.put((kind, key), payload)
        self._count("hits")
        _event("hit", kind=kind, key=short(key), layer="disk", bytes=len(data),
               duration_ns=time.perf_counter_ns() - start)  # fmt: skip
        return payload

    # Loaded values ----------------------------------------------------------------

    def kept(self, key: str) -> Value | None:
        """A new handle on the Value kept for ``key`` (``keep``), or None. A kept value in whose
        context an evaluation was stopped (an export under a time limit, by any holder) may be
        partly evaluated: it is dropped, and None returned."""
        _check_key(key)
        with self._loaded_lock:
            value = self._loaded.get(key)
            if value is None:
                return None
            if not value.usable():
                del self._loaded[key]
            else:
                self._loaded.move_to_end(key)
                handle = value.lookup("")  # another handle on the same value: the caller may close it
                value = None
        if value is not None:
            value.close()
            _event("dropped", key=short(key), layer="kept", reason="an evaluation in its context was stopped")
            return None
        self._count("memory_hits")
        self._count("hits")
        _event("hit", key=short(key), layer="kept")
        return handle

    def keep(self, key: str, value: Value) -> None:
        """Keep (a handle on) ``value``, loaded from the entry ``key``, in this process.

        CUE values are immutable and safe to read from several threads, so a
        kept value may be handed out again (``kept``); it goes when its entry
        is found corrupt, with ``forget_memory`` and ``clear``, or when newer
        ones push it out (``loaded_modules``).
        """
        _check_key(key)
        if not isinstance(value, Value):
            raise TypeError(f"keep holds a cuepy.Value, not {type(value).__name__}")
        if self._loaded_max == 0:
            return
        kept = value.lookup("")
        dropped: list[Value] = []
        with self._loaded_lock:
            old = self._loaded.pop(key, None)
            if old is not None:
                dropped.append(old)
            self._loaded[key] = kept
            while len(self._loaded) > self._loaded_max:
                dropped.append(self._loaded.popitem(last=False)[1])
        for v in dropped:
            v.close()

    def _forget_loaded(self, key: str | None = None) -> None:
        with self._loaded_lock:
            if key is None:
                dropped = list(self._loaded.values())
                self._loaded.clear()
            else:
                found = self._loaded.pop(key, None)
                dropped = [found] if found is not None else []
        for v in dropped:
            v.close()

    # Memoizing ------------------------------------------------------------------

    def memoize(
        self,
        kind: str,
        *,
        directory: str | os.PathLike[str],
        request: Mapping[str, Any],
        inputs: Callable[[], _memoize.Inputs],
        compute: Callable[[], str | _memoize.Computed],
        use: Callable[[str, str | None], T],
        labels: Mapping[str, str] | None = None,
        inputs_key: Callable[[], Hashable] | None = None,
        computes_listing: bool = False,
    ) -> T:
        """The result of ``compute()`` for ``request`` on the files it reads, from the cache or computed.

        - ``kind``: what the payload is (the entries' directory).
        - ``directory``: where the computation starts (made absolute; names in
          the key are relative to the module root ``inputs()`` reports, so a
          copy elsewhere shares the result).
        - ``request``: JSON data naming everything but the files that decides
          the result (options, values...), with no absolute paths.
        - ``inputs()``: what the computation reads (``cuepy.api.load_inputs``
          for a CUE load): asked when the manifest knows no key, twice (before
          and after hashing).
        - ``compute()``: the payload (text) on a miss, or a ``Computed``: the
          payload and the listing of what the computation read.
        - ``computes_listing``: ``compute()`` gives a ``Computed``; on a miss
          its listing serves as the second one (asked again only before a
          stored result is used).
        - ``use(payload, key)``: the result made from a payload; ``key`` is None
          when the payload was computed but not stored (a source changed
          meanwhile). A stored payload it rejects with ValueError is discarded
          as corrupt and computed again.
        - ``labels``: name to directory, for directories whose files are named
          ``@name/...`` in the key (``modules=`` of a load).
        - ``inputs_key()``: what decides ``inputs()``'s answer besides the files it lists
          (for a CUE load: its configuration); requests with the same one share a listing
          in this process while its files are unchanged, and ``inputs()`` is not asked.

        Raises what ``inputs``/``compute``/``use`` raise, and CacheError when a
        file the inputs list cannot be read.
        """
        if kind not in _checked_kinds:
            _check(kind, "0" * 64)
            _checked_kinds.add(kind)
        return _memoize.memoize(self, kind, directory=_memoize.absolute(directory), request=request,
                                inputs=inputs, compute=compute, use=use, labels=labels,
                                inputs_key=inputs_key, computes_listing=computes_listing)  # fmt: skip

    def discard(self, kind: str, key: str, problem: str) -> None:
        """Remove an entry whose payload turned out unusable, reporting it as corrupt."""
        _check(kind, key)
        self._corrupt(self.path(kind, key), kind, key, problem)

    def _corrupt(self, path: str | Path, kind: str, key: str, problem: str) -> None:
        self._count("corrupt")
        with contextlib.suppress(OSError):
            os.unlink(path)
        self._memory.discard((kind, key))
        self._forget_loaded(key)
        _event("corrupt", warning=True, kind=kind, key=short(key), path=str(path), problem=problem)

    # Single-flight ------------------------------------------------------------

    @contextlib.contextmanager
    def flight(self, kind: str, key: str, *, shared: bool = True, processes: bool = True) -> Iterator[bool]:
        """Hold the right to compute ``kind``/``key``: one thread of this process at a time
        (a lock per key), with ``processes`` one process of those sharing the directory (a file
        lock per key under ``<directory>/.locks-v1``, released by the OS if its holder dies), and,
        with a shared store that has leases and ``shared``, one machine of those sharing the store
        (a lease per key, expiring after ``lease`` seconds if its holder dies). ``shared=False``
        for work only this machine can do (reading its own files); ``processes=False`` for work
        cheap enough that a file lock would cost more than doing it twice.

        Yields whether it waited for another holder (then the entry is probably
        stored: look again before computing). After ``wait`` seconds it stops
        waiting and yields anyway: the caller computes too.
        """
        _check(kind, key)
        deadline = time.monotonic() + self.wait
        with self._local_flight(kind, key, deadline, processes) as waited:
            if waited:  # a thread or process of this machine computed it (or gave up): no lease needed
                self._waited(kind, key, "local")
                yield True
            elif not shared:
                yield False
            else:
                with self._shared_flight(kind, key, deadline) as waited:
                    if waited:
                        self._waited(kind, key, "shared")
                    yield waited

    def _waited(self, kind: str, key: str, layer: str) -> None:
        self._count("waits")
        _event("wait", kind=kind, key=short(key), layer=layer)

    @contextlib.contextmanager
    def _local_flight(self, kind: str, key: str, deadline: float, processes: bool) -> Iterator[bool]:
        """The key's thread lock, then (``processes``) its file lock; yields whether it waited for either."""
        ident = (str(self.directory), kind, key)
        with _flights_lock:
            slot = _flights.get(ident)
            if slot is None:
                slot = _flights[ident] = _Flight()
            slot.users += 1
        waited = False
        try:
            held = slot.lock.acquire(blocking=False)
            if not held:
                waited = True
                held = slot.lock.acquire(timeout=max(deadline - time.monotonic(), 0.0))
            try:
                file_lock = self._key_lock(kind, key) if processes else None
                if file_lock is not None:
                    try:
                        try:
                            file_lock.acquire(timeout=0)
                        except LockTimeout:
                            waited = True
                            file_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0))
                    except (LockTimeout, OSError):  # waited long enough (or no lock here): compute
                        file_lock = None
                try:
                    yield waited
                finally:
                    if file_lock is not None:
                        with contextlib.suppress(OSError):
                            file_lock.release()
            finally:
                if held:
                    slot.lock.release()
        finally:
            with _flights_lock:
                slot.users -= 1
                if slot.users == 0 and _flights.get(ident) is slot:
                    del _flights[ident]

    @contextlib.contextmanager
    def _shared_flight(self, kind: str, key: str, deadline: float) -> Iterator[bool]:
        """The key's lease on the shared store, if it has leases and is up; yields whether it
        waited for another machine. The lease is given up at the end (a failure to: it expires)."""
        backend = self._shared
        if backend is None or not self._leases or not self._shared_up():
            yield False
            return
        name = f"{kind}/{key}"
        token, waited = self._take_lease(backend, name, deadline)
        renewal = _Renewal(backend, name, token, self.lease, self._shared_failed) if token is not None else None
        try:
            yield waited
        finally:
            if renewal is not None and (token := renewal.stop()) is not None and self._shared_up():
                try:
                    backend.release(name, token)
                except Exception as exc:  # the lease expires by itself
                    self._shared_failed(exc)

    def _take_lease(self, backend: Backend, name: str, deadline: float) -> tuple[str | None, bool]:
        """(our lease's token or None, whether we waited). While another machine holds the lease,
        look for its entry (done as soon as it is stored) and try the lease again (taken when
        its holder gave it up without storing, or died and it expired), until ``deadline``. A
        store that fails or has no lease ends the wait: the caller computes."""
        from cuepy.cache.backends import LeaseUnsupported

        waited = False
        interval = _LEASE_POLL_FIRST
        try:
            token = backend.try_lease(name, self.lease)
            while token is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, True
                waited = True
                time.sleep(min(interval, remaining))
                interval = min(interval * 1.5, _LEASE_POLL_MAX)
                if backend.get(name) is not None:
                    return None, True
                token = backend.try_lease(name, self.lease)
            return token, waited
        except LeaseUnsupported:
            self._leases = False
        except Exception as exc:  # a store that fails never fails the request: computed here
            self._shared_failed(exc)
        return None, waited

    def _key_lock(self, kind: str, key: str) -> FileLock | None:
        """The file lock of one key, or None where the directory is not used."""
        if not self._ensure():
            return None
        locks = self.directory / _LOCKS
        try:
            with contextlib.suppress(FileExistsError):
                locks.mkdir(mode=0o700)
        except OSError:
            return None
        if _unsafe(locks, follow=False):
            return None
        path = os.fspath(locks / f"{kind}-{key}.lock")
        if not _lockable(path):
            return None
        return FileLock(path, thread_local=False, poll_interval=0.01, mode=_LOCK_MODE)

    def _sweep_locks(self, now: float) -> None:
        """Remove key lock files unused for an hour (a holder's lock stays valid: filelock
        notices an unlinked lock file and locks again)."""
        locks = self.directory / _LOCKS
        if os.path.islink(locks):
            return
        with contextlib.suppress(OSError), os.scandir(locks) as it:
            for entry in it:
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_TEMP_SECONDS:
                        os.unlink(entry.path)

    # Writing ------------------------------------------------------------------

    def put(self, kind: str, key: str, payload: str, *, memory: bool = True) -> None:
        """Store ``payload`` for ``kind``/``key`` (atomically), then keep the directory within bounds.

        A failure to write (disk full, read-only directory) is reported as an
        event and otherwise ignored: the cache is an optimisation. ``memory=False``:
        not kept in the in-process layer (see ``get``).
        """
        _check(kind, key)
        if not isinstance(payload, str):  # (checked first: the memory layer would serve it)
            raise TypeError(f"a cache payload is a str, not {type(payload).__name__}")
        if memory:
            self._memory.put((kind, key), payload)

        def run() -> None:
            start = time.perf_counter_ns()
            data = self._codec.encode(kind, key, payload)
            if self._shared is not None and self._shared_up():
                try:
                    self._shared.put(f"{kind}/{key}", data)
                except Exception as exc:  # the store is an optimisation too
                    self._shared_failed(exc)
            if self._refused is not None:
                return
            try:
                size = self._write(kind, key, data)
            except OSError as exc:
                _event("store", warning=True, kind=kind, key=short(key), error=str(exc))
                return
            self._count("stores")
            _event("store", kind=kind, key=short(key), bytes=size, duration_ns=time.perf_counter_ns() - start)
            if not self._sweep_due(size):
                return
            try:
                self.evict()
            except Exception as exc:  # a lock timeout or a racing delete: the next store sweeps again
                with self._sweep_lock:
                    self._unswept = self._sweep_every()
                _event("evict", warning=True, error=str(exc))

        trace_run("cache.store", run, kind=kind, key=short(key))

    def _sweep_every(self) -> int:
        return max(self.max_bytes // _SWEEP_EVERY, 1)

    def _sweep_due(self, stored: int) -> bool:
        """Whether a store of ``stored`` bytes calls for a sweep: each time a sixteenth of
        ``max_bytes`` has been counted. (A sweep stats every entry under the directory's lock:
        after each store, a batch of renders was quadratic and its processes queued on that
        lock; after each process's first store, it was a millisecond of each cold miss.)"""
        with self._sweep_lock:
            self._unswept += stored
            if self._unswept < self._sweep_every():
                return False
            self._unswept = 0
            return True

    def _write(self, kind: str, key: str, data: bytes) -> int:
        """Write an encoded entry atomically."""
        if not self._kind_dir(kind):
            raise OSError(errno.EACCES, f"cache directory not used: {self._refused}")
        target = self.path(kind, key)
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX)
        except FileNotFoundError:  # removed since _kind_dir: once more
            self._ready = False
            if not self._kind_dir(kind):
                raise
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return len(data)

    # Maintenance --------------------------------------------------------------

    def _kinds(self) -> list[str]:
        """The kind directories under root: real directories only (a symbolic link is not followed)."""
        try:
            with os.scandir(self.root) as it:
                return sorted(e.name for e in it if _KIND.fullmatch(e.name) and e.is_dir(follow_symlinks=False))
        except OSError:
            return []

    def _entries(self) -> Iterator[tuple[str, _Entry, os.stat_result]]:
        """Every entry (and stray file) of every kind directory, never through a symbolic link."""
        if os.path.islink(self.root):
            return
        for kind in self._kinds():
            try:
                fd = os.open(self.root / kind, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
            except OSError:
                continue
            try:
                it = os.scandir(fd)
            except OSError:
                os.close(fd)
                continue
            with it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield kind, _Entry(self.root / kind, entry.name), st
            os.close(fd)

    def _links(self) -> list[Path]:
        """Symbolic links where the cache has directories (root, root/kind): never followed."""
        links = [self.root] if os.path.islink(self.root) else []
        with contextlib.suppress(OSError), os.scandir(self.root) as it:
            links += [Path(e.path) for e in it if e.is_symlink()]
        return links

    def evict(self, max_bytes: int | None = None) -> int:
        """Remove least recently used entries until the directory holds at most ``max_bytes``.

        Returns the number of entries removed. Stale temporary files of
        crashed writers are removed too.
        """
        bound = self.max_bytes if max_bytes is None else _whole_number("max_bytes", max_bytes)
        removed = 0
        with self._lock():
            now = time.time()
            self._sweep_locks(now)
            live: list[tuple[float, int, str, str]] = []
            total = 0
            for kind, entry, st in self._entries():
                if entry.name.startswith(_TEMP_PREFIX):
                    if now - st.st_mtime > _STALE_TEMP_SECONDS:
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
                    continue
                if stat.S_ISDIR(st.st_mode):
                    continue  # not an entry (nor ours to remove: verify leaves it too)
                live.append((st.st_mtime, st.st_size, entry.path, kind))
                total += st.st_size
            if total <= bound:
                return 0
            live.sort()
            for _mtime, size, path, kind in live:
                if total <= bound:
                    break
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                total -= size
                removed += 1
                key = Path(path).stem
                self._memory.discard((kind, key))
                _event("evict", kind=kind, key=short(key), bytes=size)
        self._count("evictions", removed)
        return removed

    def stats(self) -> Stats:
        """Entries and bytes on disk (all processes), and this process's counters."""
        kinds = {k: KindStats() for k in sorted({*KINDS, *self._kinds()})}
        for kind, entry, st in self._entries():
            if entry.name.startswith(_TEMP_PREFIX):
                continue
            kinds[kind].entries += 1
            kinds[kind].bytes += st.st_size
        with self._counter_lock:
            counters = dict(self._counters)
        return Stats(
            directory=str(self.directory),
            max_bytes=self.max_bytes,
            entries=sum(k.entries for k in kinds.values()),
            bytes=sum(k.bytes for k in kinds.values()),
            kinds=kinds,
            memory_entries=len(self._memory),
            loaded_modules=len(self._loaded),
            memory_bytes=self._memory.bytes,
            shared=self._shared.url if self._shared is not None else None,
            **counters,
        )

    def verify(self) -> VerifyReport:
        """Check every entry on disk; remove (and report) those that fail.

        A symbolic link found where the cache keeps entries or directories is
        removed (the link, never what it points to).
        """
        report = VerifyReport()
        for link in self._links():
            with contextlib.suppress(OSError):
                link.unlink()
                report.removed.append(str(link))
        for kind, entry, st in list(self._entries()):
            if entry.name.startswith(_TEMP_PREFIX):
                continue
            report.checked += 1
            key = entry.name.removesuffix(".entry")
            if not stat.S_ISREG(st.st_mode):
                data, problem = b"", "not a regular file"
            else:
                try:
                    fd = os.open(entry.path, _READ_ENTRY)
                    with open(fd, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    data, problem = b"", str(exc)
                else:
                    problem = ""
            payload = None
            if not problem:
                payload, problem = (self._codec.decode(data, kind, key) if entry.name.endswith(".entry")
                                    else (None, "foreign"))  # fmt: skip
            if payload is None:
                if stat.S_ISDIR(st.st_mode):
                    continue  # not ours to remove: reported as checked only
                self._corrupt(entry.path, kind, key if KEY.fullmatch(key) else "0" * 64, problem)
                report.removed.append(entry.path)
        return report

    def clear(self) -> int:
        """Remove every entry (this format's and older ones); returns how many.

        Symbolic links in the cache are removed, never followed.
        """
        removed = 0
        self._memory.clear()
        self._forget_loaded()
        if not self.directory.is_dir():
            return 0
        with self._lock():
            for link in self._links():
                with contextlib.suppress(OSError):
                    link.unlink()
            for kind, entry, st in list(self._entries()):
                if stat.S_ISDIR(st.st_mode):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
                    if not entry.name.startswith(_TEMP_PREFIX):
                        _event("evict", kind=kind, key=short(entry.name), reason="clear")
        return removed

    def forget_memory(self) -> None:
        """Empty the in-process layers (entries on disk stay)."""
        self._memory.clear()
        self._forget_loaded()


class CacheWarning(UserWarning):
    """The cache directory is not used (another user's, or writable by others), or an entry
    failed authentication (forged, replayed, written with another key)."""


class _Flight:
    """The in-process lock of one key being computed, and how many threads use it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


_flights: dict[tuple[str, str, str], _Flight] = {}
_flights_lock = threading.Lock()
_warned_messages: set[str] = set()


def _warn_once(message: str) -> None:
    with _flights_lock:
        if message in _warned_messages:
            return
        _warned_messages.add(message)
    warnings.warn(message, CacheWarning, stacklevel=3)


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "on", "true", "yes")


@dataclass(frozen=True, slots=True)
class _Entry:
    """A file in a kind directory."""

    parent: Path
    name: str

    @property
    def path(self) -> str:
        return os.path.join(self.parent, self.name)


def _lockable(path: str) -> bool:
    """Whether a file lock may be taken at ``path``: nothing there yet, or a regular file (not a
    link that could redirect it, a directory, or a FIFO)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _unsafe(path: str | Path, *, follow: bool, make: bool = False) -> str:
    """What makes ``path`` unfit to hold the cache ("" if nothing); ``make``: made if missing."""
    try:
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except FileNotFoundError:
            if not make:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, mode=0o700)
            st = os.stat(path) if follow else os.lstat(path)
    except OSError as exc:
        return f"{path} cannot be read: {exc}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    problem = _unsafe_stat(st)
    return f"{path} {problem}" if problem else ""


def _unsafe_stat(st: os.stat_result) -> str:
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group" if st.st_mode & stat.S_IWGRP else "others"
        return f"is writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def _check(kind: str, key: str) -> None:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError(f"a cache kind is a short lowercase name (a-z, 0-9, _ and -), not {kind!r}")
    _check_key(key)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise ValueError(f"a cache key is 64 lowercase hex digits, not {key!r}")


def encode_entry(kind: str, key: str, payload: str) -> bytes:
    """Header line + payload, as stored."""
    body = payload.encode()
    header = b" ".join([_MAGIC, str(FORMAT).encode(), kind.encode(), key.encode(), str(len(body)).encode(),
                        hashlib.sha256(body).hexdigest().encode()])  # fmt: skip
    return header + b"\n" + body


def decode_entry(data: bytes, kind: str, key: str) -> tuple[str | None, str]:
    """(payload, "") when ``data`` is a sound entry for ``kind``/``key``, else (None, what is wrong)."""
    if not data:
        return None, "empty"
    newline = data.find(b"\n", 0, _HEADER_MAX)
    if newline < 0:
        return None, "no header"
    parts = data[:newline].split(b" ")
    if len(parts) != 6 or parts[0] != _MAGIC:
        return None, "foreign"
    if parts[1] != str(FORMAT).encode():
        return None, f"format {parts[1]!r}"
    if parts[2] != kind.encode() or parts[3] != key.encode():
        return None, "entry of another key"
    body = data[newline + 1 :]
    if not parts[4].isdigit() or int(parts[4]) != len(body):
        return None, f"truncated ({len(body)} of {parts[4].decode(errors='replace')} bytes)"
    if hashlib.sha256(body).hexdigest().encode() != parts[5]:
        return None, "checksum mismatch"
    try:
        return body.decode(), ""
    except UnicodeDecodeError:
        return None, "not UTF-8"


def default_directory() -> Path:
    """``$CUEPY_CACHE_DIR``, else ``platformdirs.user_cache_dir("cuepy")``."""
    env = os.environ.get("CUEPY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("cuepy"))


def disabled_by_env() -> bool:
    """Whether ``CUEPY_CACHE`` turns the cache off (``off``, ``0``, ``false``, ``no``)."""
    return os.environ.get("CUEPY_CACHE", "").strip().lower() in ("off", "0", "false", "no", "disable", "disabled")


_default: Cache | None = None
_default_config: tuple[str, ...] | None = None
_DEFAULT_ENV = ("CUEPY_CACHE_DIR", "CUEPY_CACHE_MAX_SIZE", "CUEPY_CACHE_URL", "CUEPY_CACHE_KEY", "CUEPY_CACHE_ENCRYPT",
                "CUEPY_CACHE_WAIT", "CUEPY_CACHE_LEASE")
_default_lock = threading.Lock()
_warned_directories: set[Path] = set()


def default_cache() -> Cache | None:
    """The process-wide cache, or None when ``CUEPY_CACHE=off``.

    Made on first use from the environment, and made again when
    ``CUEPY_CACHE_DIR``, ``CUEPY_CACHE_MAX_SIZE``, ``CUEPY_CACHE_URL``,
    ``CUEPY_CACHE_KEY``, ``CUEPY_CACHE_ENCRYPT``, ``CUEPY_CACHE_WAIT`` or ``CUEPY_CACHE_LEASE`` change.
    """
    global _default, _default_config
    if disabled_by_env():
        return None
    config = tuple(os.environ.get(name, "") for name in _DEFAULT_ENV)
    with _default_lock:
        if _default is None or _default_config != config:
            _default, _default_config = Cache(), config
        return _default


def resolve(cache: Cache | bool | None) -> Cache | None:
    """The cache a ``cache=`` argument names: a Cache; None or True, the default; False, none."""
    if isinstance(cache, Cache):
        return cache
    if cache is None or cache is True:
        return default_cache()
    if cache is False:
        return None
    raise TypeError(f"cache must be a cuepy.cache.Cache, True, False or None, not {type(cache).__name__}")
