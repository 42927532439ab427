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
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, Literal, TypeVar

from cuepy.errors import CueError, CueInternalError, CueLimitError

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
"""Seconds a bounded call may take by default."""

STARTUP_TIMEOUT = 120.0
"""Seconds a new worker may take to start (import cuepy, start the Go runtime); not part of a call's time."""

_POLL = 0.02  # seconds between checks of the worker's memory
_DATA_HEADROOM = 512 << 20  # RLIMIT_DATA = memory + this: a hard stop for bursts between two checks
_GO_SHARE = 0.8  # GOMEMLIMIT = this share of memory: Go's collector works harder before the limit

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
        self._stderr: str | None = None

    # Lifetime ---------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The worker's process id, or None while no worker runs."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """Stop the worker process (a new one starts on the next call)."""
        with self._lock:
            self._stop()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._stop()
        except Exception:
            pass

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        fd, self._stderr = tempfile.mkstemp(prefix="cuepy-worker-", suffix=".log")
        os.close(fd)
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self.memory, self._stderr), daemon=True,
                              name="cuepy-limits-worker")  # fmt: skip
        process.start()
        child.close()
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
            with contextlib.suppress(OSError):
                os.unlink(stderr)

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
        tail = self._stderr_tail()
        how = f"exited with status {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how = f"was killed by {signal.Signals(-code).name}"
        if self.memory is not None and ("out of memory" in tail or code == -signal.SIGKILL):
            return CueLimitError(f"{what}: {self._memory_text()}{tail}", limit="memory")
        if "fatal error: stack overflow" in tail:
            return CueLimitError(
                f"{what}: the evaluation exceeded the Go stack limit and its worker process {how}: CUE's "
                "evaluator recursed without end, a bug of cuelang.org/go that would have killed this process "
                f"(docs/hardening.md){tail}",
                limit="stack",
            )
        return CueInternalError(f"{what}: the cuepy worker process {how}{tail}")

    def _stderr_tail(self) -> str:
        """The worker's last output, led by the Go runtime's fatal error line if there is one."""
        if self._stderr is None:
            return ""
        try:
            with open(self._stderr, "rb") as f:
                data = f.read(4 << 20)
        except OSError:
            return ""
        text = data.decode(errors="replace")
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

    ``load_options`` are those of :func:`cuepy.load` (a served
    :class:`cuepy.Registry` is passed on by address). With ``worker``, the
    call runs there (and under its limits) instead of in a fresh process.
    """
    options = dict(load_options)
    if options.get("registry") is not None and not isinstance(options["registry"], str):
        options["registry"] = str(options["registry"].registry)
    if "context" in options:
        raise TypeError("load_extract loads in the worker's own context; context= is not supported")
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


def _serve(conn: Connection, memory: int | None, stderr: str) -> None:
    """The worker's main loop: run each call it is sent, send back its outcome."""
    fd = os.open(stderr, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)  # the Go runtime's fatal errors go to fd 2: keep them for the parent's message
    os.close(fd)
    if memory is not None:
        os.environ["GOMEMLIMIT"] = str(int(memory * _GO_SHARE))  # read when the Go runtime starts
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            limit = memory + _DATA_HEADROOM
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from cuepy._native import native

    native()  # start the Go runtime now, not within the first call's time
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
    if not x > 0:
        raise ValueError(f"{what} must be positive, not {x!r}")
    return x


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
