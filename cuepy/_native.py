"""The one door to libcuepy: lazy loading, version checks, the fork guard and
the error choke point that turns every C-side failure into an exception.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cuepy.errors import CueForkError, CueLimitError, error_from_json

T = TypeVar("T")

# The ABI this Python code speaks; go/cuepy.h's CUEPY_ABI_VERSION must match.
ABI_VERSION = 5

_lock = threading.Lock()
_lib: Any = None
_ffi: Any = None
_forked = False


def _mark_forked() -> None:
    global _forked
    _forked = True


def _not_forked() -> None:
    global _forked
    _forked = False


def _load() -> tuple[Any, Any]:
    global _lib, _ffi
    with _lock:
        if _lib is None:
            try:
                from cuepy._cue import ffi, lib
            except ImportError as exc:
                raise ImportError(_missing_extension(str(exc))) from exc
            _verify_abi(lib)
            # Marked before the fork, not after it in the child: the child frees the other
            # threads' locals (their compile() context) before its after-fork hooks run, and
            # those finalizers must not call into the Go runtime the fork left behind.
            os.register_at_fork(before=_mark_forked, after_in_parent=_not_forked)
            _ffi, _lib = ffi, lib
    return _lib, _ffi


def _missing_extension(problem: str) -> str:
    """Why ``cuepy._cue`` does not import, and what to run: the message of the ImportError."""
    package = Path(__file__).resolve().parent
    checkout = package.parent
    built = sorted(p.name for p in package.glob("_cue.*.so")) + sorted(p.name for p in package.glob("libcuepy.so"))
    if not ((checkout / "build_cue.py").is_file() and (checkout / "go" / "go.mod").is_file()):
        return (
            f"cuepy's native extension is missing or cannot load libcuepy.so ({problem}); "
            "reinstall cuepy (pip install --force-reinstall cuepy-cue; from a checkout: pip install .)"
        )
    installed = [str(Path(d, "cuepy")) for d in sys.path
                 if d and Path(d).resolve() != checkout and Path(d, "cuepy", "__init__.py").is_file()]  # fmt: skip
    from_cwd = Path.cwd().resolve() == checkout
    what = (f"Python imported cuepy from the source checkout {package}, not from an installed copy: "
            f"{'the current directory' if from_cwd else 'PYTHONPATH or sys.path'} puts {checkout} first on "
            "sys.path")  # fmt: skip
    what += f", so it shadows the installed {installed[0]}" if installed else ""
    state = (f"its build ({', '.join(built)}) does not load ({problem})" if built
             else "the checkout's cuepy/ has no built extension (cuepy/_cue.*.so, cuepy/libcuepy.so)")  # fmt: skip
    fixes = [f"build it in place: cd {checkout} && python build_cue.py --inplace (needs Go >= 1.25 and a C compiler)"]
    if installed:
        fixes.append("or use the installed cuepy: run Python from another directory, or with -P "
                     "(e.g. .venv/bin/python -P), which keeps the current directory off sys.path" if from_cwd
                     else f"or use the installed cuepy: take {checkout} out of PYTHONPATH")  # fmt: skip
    return f"{what}; {state}. To fix it, {'; '.join(fixes)}."


def _verify_abi(lib: Any) -> None:
    loaded = int(lib.cue_abi_version())
    compiled = int(lib.CUEPY_ABI_VERSION)
    if not loaded == compiled == ABI_VERSION:
        raise ImportError(
            f"stale cuepy build: libcuepy.so speaks ABI {loaded}, the extension was compiled "
            f"for {compiled} and this cuepy needs {ABI_VERSION}; reinstall cuepy"
        )


def native() -> tuple[Any, Any]:
    """(lib, ffi), loading libcuepy on first use (the Go runtime starts then)."""
    if _forked:
        raise CueForkError(
            "cuepy cannot be used in a process forked after its Go runtime started: "
            "the runtime's threads do not survive fork(). Use the 'spawn' or 'forkserver' "
            "multiprocessing start method (multiprocessing.get_context('spawn')), or start "
            "cuepy only in the child."
        )
    if _lib is None:
        return _load()
    return _lib, _ffi


stopped_evaluations = 0
"""Evaluations stopped so far (a time limit, an interrupt, the depth bound): each leaves its
context unusable (go/internal/stop), so a long-lived context is checked when this changes."""

_STOP_LIMITS = frozenset({"time", "interrupt", "depth"})
_stops_lock = threading.Lock()


def check(err: int) -> None:
    """Raise the CueError for a non-zero error handle (and free it)."""
    if err:
        raise _counted(take_error(err))  # (no local: a raised exception's frame would hold it, a cycle)


def _counted(exc: Exception) -> Exception:
    if isinstance(exc, CueLimitError) and exc.limit in _STOP_LIMITS:
        global stopped_evaluations
        with _stops_lock:
            stopped_evaluations += 1
    return exc


def take_error(err: int) -> Exception:
    lib, ffi = native()
    out = ffi.new("cue_bytes *")
    lib.cue_error_take(err, out)
    return error_from_json(take_bytes(out))


def take_bytes(out: Any) -> bytes:
    """Copy the bytes a cue_bytes holds, then free them."""
    lib, ffi = native()
    try:
        return bytes(ffi.unpack(out.data, out.len))
    finally:
        lib.cue_free(out.data)


def take_handles(out: Any) -> list[int]:
    """Copy the handles a cue_handles holds, then free the array (not the handles)."""
    lib, ffi = native()
    try:
        return list(ffi.unpack(out.items, out.len)) if out.len else []
    finally:
        lib.cue_free(out.items)


def free_handle(handle: int) -> None:
    lib, _ = native()
    check(lib.cue_handle_free(handle))


def live_handles() -> int:
    """Handles the Go side has handed out and not yet had back (for leak tests)."""
    lib, _ = native()
    return int(lib.cue_live_handles())


@functools.cache  # (constant for the process; a flatten's provenance and every cache key ask)
def cue_version() -> str:
    lib, ffi = native()
    ptr = lib.cue_version()
    try:
        return str(ffi.string(ptr).decode())
    finally:
        lib.cue_free(ptr)


_WAIT_SLICE = 0.05
"""Seconds between the main thread's checks for a pending signal while a long call runs."""


def interruptible(call: Callable[[], T], discard: Callable[[T], object] | None = None) -> T:
    """``call()`` (a long call into libcuepy) with Ctrl-C delivered at once.

    In the main thread ``call`` runs in a daemon thread while the main thread waits: a
    KeyboardInterrupt (any signal handler's exception) is raised promptly there and the
    evaluation the call runs is stopped at its next step; the call, left to end in the
    background, hands what it returns to ``discard`` (which frees it). The daemon thread
    follows the main thread's ``time_limit``. Elsewhere (no signal reaches other threads) the
    call runs directly. Exceptions of ``call`` are raised in the caller's thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return call()
    lib, _ = native()
    caller = threading.get_native_id()
    done = threading.Event()
    lock = threading.Lock()
    outcome: list[tuple[bool, Any]] = []
    abandoned = False
    worker: list[int] = []  # the daemon thread's id, while its call runs

    def work() -> None:
        with lock:
            worker.append(threading.get_native_id())
        lib.cue_stop_follow(caller)  # the caller's deadline bounds the call
        try:
            result: tuple[bool, Any] = (True, call())
        except BaseException as exc:  # handed to the waiting thread
            result = (False, exc)
        lib.cue_stop_follow(0)
        with lock:
            lib.cue_stop_interrupt_clear(worker.pop())  # under the lock: no interrupt can come after this
            outcome.append(result)
            orphan = abandoned
        done.set()
        if orphan:
            outcome.clear()  # nobody reads it: an exception's frames would keep the call's objects alive
            if result[0] and discard is not None:
                discard(result[1])
        del result

    threading.Thread(target=work, daemon=True, name="cuepy-call").start()
    try:
        # In slices: the kernel may hand SIGINT to one of Go's threads rather than this one,
        # and then only this thread's next turn of the eval loop runs the handler.
        while not done.wait(_WAIT_SLICE):
            pass
    except BaseException:
        with lock:
            if not outcome:
                abandoned = True  # the worker discards what the call returns
                if worker:
                    lib.cue_stop_interrupt(worker[0])
                raise
        finished, value = outcome[0]
        if finished and discard is not None:  # finished meanwhile: nothing to hand back
            discard(value)
        raise
    finished, value = outcome[0]
    if not finished:
        raise value
    return value  # type: ignore[no-any-return]
