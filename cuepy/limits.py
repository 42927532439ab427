"""Bounded evaluation: time and memory limits for CUE work, in a worker process.

CUE's evaluator cannot be stopped from the inside: cuelang.org/go v0.17.1
takes no ``context.Context``, cancellation callback or step budget anywhere
in ``cue/cuecontext``, ``cue.Value`` or ``internal/core/adt`` (see
docs/hardening.md). A module can be written to evaluate for hours (a long
reference chain, a disjunction explosion, ``list.Repeat`` of a million
elements) or to take all memory, and a thread cannot be killed. So a bounded
evaluation runs in a worker process, started with multiprocessing's
'spawn' method (a forked child cannot use the Go runtime), which is killed
when it exceeds its limit; the caller gets a :class:`~cuepy.CueLimitError`
and its own process is untouched.

Arguments and results cross the process boundary pickled: plain data, CUE
source, paths, exceptions (``CueError`` keeps its details). A
:class:`cuepy.Value` cannot cross; extract it in the worker::

    from cuepy import limits

    data = limits.load_extract("deploy/app", files=["module.cue", "values.cue"], select="components",
                               timeout=30, memory=1 << 30)

    def render(directory: str) -> str:          # a module-level function: it is pickled by name
        v = cuepy.load(directory)
        return cuepy.extract(v, "manifests", format="yaml")

    yaml_text = limits.run_bounded(render, "deploy/app", timeout=30)

    with limits.Worker(timeout=10) as worker:   # one process for many calls
        for d in directories:
            worker.run(render, d)

As with all of multiprocessing's 'spawn' method, a script that starts
workers must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, Literal, TypeVar

from cuepy.api import merge_options
from cuepy.errors import CueError, CueForkError, CueInternalError, CueLimitError, CueUsageError

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
"""Seconds a bounded call may take by default."""

STARTUP_TIMEOUT = 120.0
"""Seconds a new worker may take to start (import cuepy, start the Go runtime); not part of a call's time."""

_POLL = 0.02  # seconds between checks of the worker's memory
_DATA_HEADROOM = 512 << 20  # RLIMIT_DATA = memory + this: a hard stop for bursts between two checks
_GO_SHARE = 0.8  # Go's memory limit = this share of memory: Go's collector works harder before the limit
_MAX_MEMORY = 1 << 56  # bytes (64 PiB): larger limits are not limits (and RLIMIT_DATA could not hold them)
_CLOSE_GRACE = 2.0  # seconds close() waits for a call in flight to notice its worker was killed
_PARENT_POLL = 0.2  # seconds between the worker's checks that its parent is alive
_STDERR_KEEP = 64 << 10  # bytes of the worker's output kept (the first and the last)

Format = Literal["python", "json", "yaml", "cue"]


class Worker:
    """A worker process for bounded CUE work, reused across calls.

    Each :meth:`run` may take ``timeout`` seconds (``None``: no limit) and
    the worker may hold ``memory`` bytes of resident memory (``None``: no
    limit). A call that exceeds either gets its worker killed and raises
    :class:`~cuepy.CueLimitError` (``limit`` is ``"time"`` or ``"memory"``);
    the next call starts a new worker. Exceptions raised by the function
    reach the caller as they are. One call runs at a time; threads share a
    worker safely. Close it (or use ``with``) to stop the process.
    """

    def __init__(self, *, timeout: float | None = DEFAULT_TIMEOUT, memory: int | None = None) -> None:
        self.timeout = _check_limit(timeout, "timeout")
        bound = _check_limit(memory, "memory")
        self.memory = int(bound) if bound is not None else None
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._stderr: _Output | None = None
        self._closing = False
        self._owner = os.getpid()

    # Lifetime ---------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The worker's process id, or None while no worker runs."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """Stop the worker process (a new one starts on the next call).

        Never waits for a call in flight: its worker is killed and that call
        raises :class:`~cuepy.CueLimitError` (``limit="killed"``).
        """
        if os.getpid() != self._owner:
            self._disown()
            return
        process = self._process
        if process is not None and self._lock.locked():
            self._closing = True  # a call is in flight: kill its worker, the call cleans up
            with contextlib.suppress(Exception):
                process.kill()
            if not self._lock.acquire(timeout=_CLOSE_GRACE):
                return
        else:
            self._lock.acquire()
        try:
            self._stop()
        finally:
            self._closing = False
            self._lock.release()

    def _check_owner(self) -> None:
        if os.getpid() != self._owner:
            self._disown()
            raise CueForkError(
                "this cuepy.limits.Worker belongs to the process that made it (pid "
                f"{self._owner}); a forked child cannot use it: make a new Worker in the child"
            )

    def _disown(self) -> None:
        """Forget the parent's worker in a forked child (it is not ours to stop)."""
        self._process = self._conn = self._stderr = None
        self._owner = os.getpid()
        self._lock = threading.Lock()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if os.getpid() == self._owner:
                self._stop()
        except Exception:
            pass

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        # The worker's stderr (the Go runtime's fatal errors) comes back through a pipe,
        # read by a thread here: no file is left behind, whatever happens to either process.
        read_end, write_end = os.pipe()
        errpipe = Connection(write_end, readable=False)
        self._stderr = _Output(read_end)
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self.memory, errpipe, os.getpid()), daemon=True,
                              name="cuepy-limits-worker")  # fmt: skip
        try:
            process.start()
        finally:
            child.close()
            errpipe.close()
        self._process, self._conn = process, parent
        try:
            ready = parent.poll(STARTUP_TIMEOUT) and parent.recv_bytes() == b"ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            tail = self._stderr_tail()
            self._stop()
            raise CueInternalError(f"the cuepy worker process did not start{tail}")

    def _stop(self) -> None:
        process, conn, stderr = self._process, self._conn, self._stderr
        self._process = self._conn = self._stderr = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5)
            with contextlib.suppress(ValueError):
                process.close()
        if stderr is not None:
            stderr.close()

    # Calls ------------------------------------------------------------------

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the worker, within this worker's limits.

        ``fn`` must be picklable (a module-level function, not a lambda or a
        closure), and so must the arguments and the result.
        """
        try:
            payload = pickle.dumps((fn, args, kwargs))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(
                f"a bounded call needs a picklable function (defined at module level) and arguments: {exc}"
            ) from None
        self._check_owner()
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._stop()
                self._start()
            assert self._conn is not None
            try:
                self._conn.send_bytes(payload)
                status, result = self._wait(getattr(fn, "__qualname__", repr(fn)))
            except BaseException:
                self._stop()  # killed, died, or the caller was interrupted: never leave it running
                raise
        if status == "ok":
            return result  # type: ignore[no-any-return]
        if isinstance(result, MemoryError) and self.memory is not None:
            with self._lock:
                self._stop()  # a process that ran out of memory is not trusted again
            raise CueLimitError(self._memory_text(), limit="memory") from result
        raise result

    def _wait(self, what: str) -> tuple[str, Any]:
        assert self._conn is not None and self._process is not None
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        statm = f"/proc/{self._process.pid}/statm"
        page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        while True:
            wait = _POLL if self.memory is not None else 0.5
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            if self._conn.poll(wait):
                try:
                    data = self._conn.recv_bytes()
                except EOFError:
                    raise self._died(what) from None
                status, result = pickle.loads(data)
                return str(status), result
            if not self._process.is_alive():
                raise self._died(what)
            if self.memory is not None and _rss(statm, page) > self.memory:
                self._process.kill()
                raise CueLimitError(f"{what}: {self._memory_text()}", limit="memory")
            if deadline is not None and time.monotonic() >= deadline:
                self._process.kill()
                raise CueLimitError(
                    f"{what}: the evaluation exceeded the time limit of {self.timeout:g} s; "
                    "its worker process was killed",
                    limit="time",
                )

    def _memory_text(self) -> str:
        return f"the evaluation exceeded the memory limit of {_size(self.memory or 0)}; its worker process was stopped"

    def _died(self, what: str) -> CueError:
        process = self._process
        process.join(5)
        code = process.exitcode
        if self._stderr is not None:
            self._stderr.wait(1.0)
        tail = self._stderr_tail()
        how = f"exited with status {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how = f"was killed by {signal.Signals(-code).name}"
        if self._closing:
            return CueLimitError(f"{what}: the Worker was closed during the call; its worker process {how}",
                                 limit="killed")  # fmt: skip
        if self.memory is not None and ("out of memory" in tail or code == -signal.SIGKILL):
            return CueLimitError(f"{what}: {self._memory_text()}{tail}", limit="memory")
        if "fatal error: stack overflow" in tail:
            return CueLimitError(
                f"{what}: the evaluation exceeded the Go stack limit and its worker process {how}: CUE's "
                "evaluator recursed without end, a bug of cuelang.org/go that would have killed this process "
                f"(docs/hardening.md){tail}",
                limit="stack",
            )
        if code is not None and code < 0 and -code in (signal.SIGKILL, signal.SIGTERM):
            return CueLimitError(
                f"{what}: the cuepy worker process {how} (by another process, or the kernel's out-of-memory "
                f"killer); the evaluation did not finish{tail}",
                limit="killed",
            )
        return CueInternalError(f"{what}: the cuepy worker process {how}{tail}")

    def _stderr_tail(self) -> str:
        """The worker's last output, led by the Go runtime's fatal error line if there is one."""
        if self._stderr is None:
            return ""
        text = self._stderr.text()
        fatal = next((line for line in text.splitlines() if line.startswith("fatal error:")), "")
        tail = text[-1500:].strip()
        if fatal and fatal not in tail:
            tail = f"{fatal}\n...\n{tail}"
        return f"; its last output:\n{tail}" if tail else ""


def run_bounded(
    fn: Callable[..., T],
    /,
    *args: Any,
    timeout: float | None = DEFAULT_TIMEOUT,
    memory: int | None = None,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)`` in a fresh worker process, killed past ``timeout`` seconds or ``memory`` bytes.

    Raises :class:`~cuepy.CueLimitError` when a limit is exceeded and
    whatever ``fn`` raises otherwise. ``fn``, the arguments and the result
    must be picklable: return data, not :class:`cuepy.Value`. Starting the
    worker (about half a second) is not counted against ``timeout``; to
    avoid it on every call, keep a :class:`Worker`.
    """
    with Worker(timeout=timeout, memory=memory) as worker:
        return worker.run(fn, *args, **kwargs)


def load_extract(
    path: str | os.PathLike[str] = ".",
    *,
    select: str | None = None,
    format: Format = "python",
    timeout: float | None = DEFAULT_TIMEOUT,
    memory: int | None = None,
    worker: Worker | None = None,
    **load_options: Any,
) -> Any:
    """``cuepy.extract(cuepy.load(path, **load_options), select, format=format)``, bounded.

    ``load_options`` are those of :func:`cuepy.load`, ``options=`` (a
    :class:`cuepy.LoadOptions`) among them; ``registry=``, ``modules=``,
    ``cache_dir=`` and ``offline=`` are merged into one LoadOptions here (a
    served :class:`cuepy.Registry` is passed on by address). With ``worker``,
    the call runs there (and under its limits) instead of in a fresh process.
    """
    options = dict(load_options)
    if "context" in options:
        raise TypeError("load_extract loads in the worker's own context; context= is not supported")
    options["options"] = merge_options(options.pop("options", None), **{
        name: options.pop(name) for name in ("registry", "modules", "cache_dir", "offline") if name in options
    })  # fmt: skip
    path = os.fspath(path)
    if worker is not None:
        return worker.run(_load_extract, path, select, format, options)
    return run_bounded(_load_extract, path, select, format, options, timeout=timeout, memory=memory)


def compile_extract(
    source: str | bytes,
    *,
    select: str | None = None,
    format: Format = "python",
    filename: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    memory: int | None = None,
    worker: Worker | None = None,
) -> Any:
    """``cuepy.extract(cuepy.compile(source, filename=filename), select, format=format)``, bounded."""
    if worker is not None:
        return worker.run(_compile_extract, source, filename, select, format)
    return run_bounded(_compile_extract, source, filename, select, format, timeout=timeout, memory=memory)


# In the worker ---------------------------------------------------------------


def _load_extract(path: str, select: str | None, format: Format, options: Mapping[str, Any]) -> Any:
    import cuepy

    with cuepy.load(path, **options) as value:
        return cuepy.extract(value, select, format=format)


def _compile_extract(source: str | bytes, filename: str | None, select: str | None, format: Format) -> Any:
    import cuepy

    with cuepy.compile(source, filename=filename) as value:
        return cuepy.extract(value, select, format=format)


def _serve(conn: Connection, memory: int | None, stderr: Connection, parent: int) -> None:
    """The worker's main loop: run each call it is sent, send back its outcome."""
    os.dup2(stderr.fileno(), 2)  # the Go runtime's fatal errors go to fd 2: the parent reads them
    stderr.close()
    _watch_parent(parent)
    if memory is not None:
        # (for the loads' environment; the Go runtime itself read its environment at start-up)
        os.environ["GOMEMLIMIT"] = str(int(memory * _GO_SHARE))
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            limit = memory + _DATA_HEADROOM
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from cuepy._native import native

    native()  # start the Go runtime now, not within the first call's time
    if memory is not None:
        set_go_memory_limit(int(memory * _GO_SHARE))  # Go's collector works harder before the limit
    conn.send_bytes(b"ready")
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, args, kwargs = pickle.loads(payload)
            outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except BaseException as exc:
            outcome = ("error", exc)
        conn.send_bytes(_dump(outcome))


def _dump(outcome: tuple[str, Any]) -> bytes:
    try:
        return pickle.dumps(outcome)
    except Exception as exc:
        status, result = outcome
        if status == "ok":
            error: BaseException = TypeError(
                f"the result of a bounded call must be picklable data ({exc}); extract values "
                "in the call (cuepy.extract) instead of returning them"
            )
        else:
            error = CueInternalError(f"{type(result).__name__}: {result}")
        return pickle.dumps(("error", error))


# Helpers -----------------------------------------------------------------------


def _check_limit(x: float | None, what: str) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"{what} must be a number or None, not {type(x).__name__}")
    if not x > 0:  # (NaN too)
        raise CueUsageError(f"{what} must be positive, not {x!r}")
    if what == "memory" and not x <= _MAX_MEMORY:
        raise CueUsageError(f"memory must be a finite number of bytes up to {_MAX_MEMORY} (or None), not {x!r}")
    if math.isinf(x):
        return None  # timeout=inf: no limit
    return x


def _watch_parent(parent: int) -> None:
    """In the worker: exit as soon as the parent is gone (its evaluation is no one's any more).

    A thread polls the parent id (the kernel re-parents an orphan); cffi releases the GIL
    during calls into Go, so it runs while CUE evaluates. (PR_SET_PDEATHSIG would tie the
    worker to the thread that started it, not to the process.)
    """

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(_PARENT_POLL)

    if os.getppid() != parent:
        os._exit(70)
    threading.Thread(target=watch, daemon=True, name="cuepy-parent-watch").start()


class _Output:
    """A worker's stderr, read from a pipe by a thread: its first and last bytes."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._head = bytearray()
        self._tail = bytearray()
        self._done = threading.Event()
        threading.Thread(target=self._read, daemon=True, name="cuepy-worker-stderr").start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self._fd, 65536):
                room = _STDERR_KEEP - len(self._head)
                if room > 0:
                    self._head += chunk[:room]
                    chunk = chunk[room:]
                self._tail += chunk
                del self._tail[:-_STDERR_KEEP]
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._done.set()

    def wait(self, timeout: float) -> None:
        self._done.wait(timeout)

    def text(self) -> str:
        head, tail = bytes(self._head), bytes(self._tail)
        return (head + (b"\n...\n" if tail else b"") + tail).decode(errors="replace")

    def close(self) -> None:
        pass  # the reader ends (and closes its end) when the worker's end closes


def go_memory_limit() -> int:
    """Go's soft memory limit in this process (``GOMEMLIMIT``), in bytes."""
    from cuepy._native import native

    lib, _ = native()
    return int(lib.cue_set_memory_limit(-1))


def set_go_memory_limit(limit: int | None) -> int:
    """Set Go's soft memory limit (``debug.SetMemoryLimit``; ``None``: none) and return the previous one.

    Setting ``GOMEMLIMIT`` in ``os.environ`` takes effect at the next ``cuepy.load`` too.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise CueUsageError(f"limit must be a non-negative int of bytes or None, not {limit!r}")
    from cuepy._native import native

    lib, _ = native()
    return int(lib.cue_set_memory_limit(min(limit, 2**63 - 1) if limit is not None else 2**63 - 1))


def _rss(statm: str, page: int) -> int:
    try:
        with open(statm, "rb") as f:
            return int(f.read().split()[1]) * page
    except (OSError, IndexError, ValueError):
        return 0  # not Linux, or the process is gone: RLIMIT_DATA still applies


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.4g} {unit}"
        size /= 1024
    return f"{size:.4g} GiB"
