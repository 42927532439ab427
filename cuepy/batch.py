"""Many renders at once, on an executor you already run: ``render_many`` and ``run_many``.

::

    from cuepy.batch import Job, render_many

    jobs = [Job(path, values, namespace=ns, file="module_definition.cue") for ...]
    for result in render_many(jobs, timeout=60):       # results in order of completion
        if result.ok:
            publish(result.job, result.value)           # the release as JSON data
        else:
            report(result.job, result.error)            # a CueError (CueLimitError past the timeout)

* ``executor``: any :class:`concurrent.futures.Executor`: a
  ``ProcessPoolExecutor`` (use the ``spawn`` or ``forkserver`` method: a Go
  runtime does not survive ``fork``), a ``ThreadPoolExecutor``, Dask's
  ``Client.get_executor()`` across machines, Ray's executor. By default, one
  worker per core (see below).
* ``timeout`` (seconds, default 60): CUE cannot be interrupted, so each job
  runs in a worker *process* started with ``spawn`` by the executor's worker
  (one per executor thread, reused across jobs: :class:`cuepy.limits.Worker`)
  and killed at the limit; that job reports :class:`~cuepy.CueLimitError`,
  the others go on. ``memory`` bounds each worker's resident memory the same
  way. With ``timeout=None`` and ``memory=None`` jobs run in the executor's
  workers themselves (nothing can stop a job that hangs).
* errors are per job: a job's exception (a typed :class:`~cuepy.CueError`,
  or whatever a ``run_many`` function raises) is its result's ``error``;
  the batch never stops for one.
* ``chunksize``: jobs sent to a worker together (each still bounded by
  ``timeout`` on its own, and yielded as soon as its group is done). The
  default sends groups of up to 8 jobs while that leaves at least 64 groups:
  an executor's cost per task (Dask's scheduler, on the same cores as its
  workers) then stops eating the workers' share. ``chunksize=1`` yields each
  result the moment it is done.
* progress: ``progress=callable(done, total, result)``, or a status line on
  stderr when it is a terminal (``progress=False`` turns it off).
* instrumentation: each job's stage events are collected where it ran
  (:func:`cuepy.trace.capture`) and come back with its result
  (``result.events``); they are given to the caller's ``cuepy.trace()``
  collectors and structlog tagged ``job=<index>`` (:func:`cuepy.trace.replay`),
  once each. Jobs submitted to a ``ThreadPoolExecutor`` run in a copy of the
  caller's context (``contextvars.copy_context``, :func:`cuepy.trace.bind`),
  so context variables such as structlog's bound context follow them.

The default executor is a thread pool of ``os.cpu_count()`` threads, each
driving its own spawned worker process (so ``cpu_count`` processes do the
work; a process pool driving worker processes would start twice as many).
With ``timeout=None`` and ``memory=None`` it is a spawn
``ProcessPoolExecutor`` of that size.

With Dask distributed, worker processes are daemonic by default and may not
start the per-job worker processes: start the cluster with
``dask.config.set({"distributed.worker.daemon": False})`` (or pass
``timeout=None`` to run jobs in Dask's workers unbounded).

As with all ``spawn`` pools, a script that calls these must guard its entry
point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TextIO

from cuepy.api import LoadOptions
from cuepy.errors import CueError, CueInternalError, CueLimitError
from cuepy.trace import StageEvent
from cuepy.trace import bind as _bind
from cuepy.trace import capture as _capture
from cuepy.trace import replay as _replay

DEFAULT_TIMEOUT = 60.0
"""Seconds one job may take by default."""
MAX_CHUNK = 8
"""Most jobs sent to a worker together by default."""
MIN_TASKS = 64
"""Fewest tasks the default chunk size leaves (so workers stay balanced to the end)."""

ProgressFn = Callable[[int, int, "JobResult"], None]


@dataclass(frozen=True)
class Job:
    """One release to render: ``cuepy.opm.render_release(path, values, namespace=..., name=..., file=...,
    package=..., options=...)``, the release as JSON data."""

    path: str
    values: Mapping[str, Any] | None = None
    namespace: str = "default"
    name: str | None = None
    file: str | None = None
    package: str | None = None
    cache: bool = True
    """Whether the worker uses its default cache (``CUEPY_CACHE_*`` of the worker's environment)."""
    options: LoadOptions | None = None
    """How the module's dependencies resolve (a :class:`cuepy.LoadOptions`; it pickles, a served
    registry as its address); None: the worker's environment."""


@dataclass
class JobResult:
    """What one job gave: its value, or its error."""

    index: int
    """The job's position in the input."""
    job: Any
    """The job as given."""
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    """Time the job took where it ran (0 when it never ran)."""
    events: tuple[StageEvent, ...] = field(default_factory=tuple)
    """Stage events of the job (collected where it ran)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> Any:
        """The value, or the job's error raised."""
        if self.error is not None:
            raise self.error
        return self.value


def render(job: Job | Mapping[str, Any]) -> dict[str, Any]:
    """One render job, in the current process."""
    import cuepy.opm

    j = job if isinstance(job, Job) else Job(**job)
    return cuepy.opm.render_release(j.path, j.values, namespace=j.namespace, name=j.name, file=j.file,
                                    package=j.package, cache=None if j.cache else False, options=j.options)  # fmt: skip


def render_many(
    jobs: Iterable[Job | Mapping[str, Any]],
    *,
    executor: Executor | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    memory: int | None = None,
    progress: ProgressFn | bool | None = None,
    chunksize: int | None = None,
) -> Iterator[JobResult]:
    """Render every job (a :class:`Job` or a mapping of its fields); results in order of completion."""
    return run_many(render, jobs, executor=executor, timeout=timeout, memory=memory, progress=progress,
                    chunksize=chunksize)  # fmt: skip


def run_many(
    fn: Callable[[Any], Any],
    jobs: Iterable[Any],
    *,
    executor: Executor | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    memory: int | None = None,
    progress: ProgressFn | bool | None = None,
    chunksize: int | None = None,
) -> Iterator[JobResult]:
    """``fn(job)`` for every job, as :func:`render_many` runs renders. ``fn`` must be picklable
    (defined at module level), and so must jobs and results."""
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be positive or None, not {timeout!r}")
    if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
        raise ValueError(f"chunksize must be a positive integer or None, not {chunksize!r}")
    items = list(jobs)
    size = chunksize or max(1, min(MAX_CHUNK, len(items) // MIN_TASKS))
    return _run(fn, items, executor, timeout, memory, progress, size)


def _run(
    fn: Callable[[Any], Any],
    items: list[Any],
    executor: Executor | None,
    timeout: float | None,
    memory: int | None,
    progress: ProgressFn | bool | None,
    chunksize: int,
) -> Iterator[JobResult]:
    own = executor is None
    if executor is None:
        workers = os.cpu_count() or 1
        if timeout is None and memory is None:
            executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        else:
            executor = ThreadPoolExecutor(workers, thread_name_prefix="cuepy-batch")
    report = _progress(progress, len(items))
    threads = isinstance(executor, ThreadPoolExecutor)
    futures: dict[Future[Any], range] = {}
    try:
        for first in range(0, len(items), chunksize):
            chunk = range(first, min(first + chunksize, len(items)))
            # Threads run jobs in a copy of the caller's context (its context variables follow).
            task = _bind(_tasks) if threads else _tasks
            futures[executor.submit(task, fn, items[chunk.start:chunk.stop], timeout, memory)] = chunk
        done = 0
        for future in as_completed(futures):
            for i, outcome in zip(futures[future], _outcomes(future, len(futures[future])), strict=True):
                result = _result(outcome, i, items[i])
                _replay(result.events, job=i)
                done += 1
                if report is not None:
                    report(done, len(items), result)
                yield result
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
        else:
            for future in futures:
                future.cancel()


def _outcomes(future: Future[Any], size: int) -> list[tuple[Any, ...] | BaseException]:
    """Each job's (status, value, events, seconds) of a done task, or what failed the task."""
    try:
        outcomes: list[tuple[Any, ...]] = future.result()
    except Exception as exc:  # the executor failed the task (a worker died, the cluster went away)
        error = exc if isinstance(exc, CueError) else CueInternalError(f"the executor failed the job: {exc!r}")
        return [error] * size
    return list(outcomes)


def _result(outcome: tuple[Any, ...] | BaseException, index: int, job: Any) -> JobResult:
    if isinstance(outcome, BaseException):
        return JobResult(index, job, error=outcome)
    status, value, events, seconds = outcome
    if status == "ok":
        return JobResult(index, job, value=value, seconds=seconds, events=tuple(events))
    return JobResult(index, job, error=value, seconds=seconds, events=tuple(events))


# Where the job runs ---------------------------------------------------------------

_local = threading.local()


def _tasks(fn: Callable[[Any], Any], items: list[Any], timeout: float | None,
           memory: int | None) -> list[tuple[Any, ...]]:  # fmt: skip
    """In the executor's worker: a chunk of jobs, one after another, each bounded on its own."""
    return [_task(fn, item, timeout, memory) for item in items]


def _task(fn: Callable[[Any], Any], item: Any, timeout: float | None, memory: int | None) -> tuple[Any, ...]:
    """In the executor's worker: the job, bounded in a worker process unless no limit is set.
    Returns (status, value or error, events, seconds): errors travel as data."""
    start = time.perf_counter()
    if timeout is None and memory is None:
        status, value, events = _captured(fn, item)
        return status, value, events, time.perf_counter() - start
    from cuepy.limits import Worker

    workers: dict[tuple[float | None, int | None], Worker] = _local.__dict__.setdefault("workers", {})
    worker = workers.get((timeout, memory))
    if worker is None:
        worker = workers[(timeout, memory)] = Worker(timeout=timeout, memory=memory)
    try:
        status, value, events = worker.run(_Captured(fn), item)
    except CueError as exc:  # CueLimitError: killed at the limit; CueInternalError: the worker died
        return "error", exc, (), time.perf_counter() - start
    except AssertionError as exc:
        if "daemonic" in str(exc):
            error = CueInternalError(
                "this executor's worker processes are daemonic and cannot start the process a bounded job runs "
                "in: for Dask, set distributed.worker.daemon to False, or pass timeout=None and memory=None")
            return "error", error, (), time.perf_counter() - start
        raise
    return status, value, events, time.perf_counter() - start


class _Captured:
    """``_captured`` of ``fn``, for a worker process: named as ``fn``, which a worker's messages
    name ("the evaluation exceeded the time limit", "the worker process exited")."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.__qualname__ = getattr(fn, "__qualname__", repr(fn))

    def __call__(self, item: Any) -> tuple[str, Any, tuple[StageEvent, ...]]:
        return _captured(self.fn, item)


def _captured(fn: Callable[[Any], Any], item: Any) -> tuple[str, Any, tuple[StageEvent, ...]]:
    """``fn(item)`` with its stage events collected apart; an exception is returned as data."""
    with _capture() as collected:
        try:
            value = fn(item)
        except Exception as exc:
            return "error", exc, tuple(collected.events)
    return "ok", value, tuple(collected.events)


# Progress --------------------------------------------------------------------------


def _progress(progress: ProgressFn | bool | None, total: int) -> ProgressFn | None:
    if callable(progress):
        return progress
    stream = sys.stderr
    if progress is False or (progress is None and not _isatty(stream)):
        return None
    return _Line(stream, total)


def _isatty(stream: TextIO) -> bool:
    with contextlib.suppress(Exception):
        return bool(stream.isatty())
    return False


class _Line:
    """``[ 120/1000] 12 %  3 failed  40.1 jobs/s`` rewritten in place."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.failed = 0
        self.width = len(str(total))

    def __call__(self, done: int, total: int, result: JobResult) -> None:
        self.failed += 0 if result.ok else 1
        rate = done / max(time.monotonic() - self.start, 1e-9)
        end = "\n" if done == total else ""
        self.stream.write(f"\r[{done:{self.width}d}/{total}] {100 * done // max(total, 1):3d} %  "
                          f"{self.failed} failed  {rate:.1f} jobs/s{end}")  # fmt: skip
        self.stream.flush()


__all__ = ["DEFAULT_TIMEOUT", "CueLimitError", "Job", "JobResult", "render", "render_many", "run_many"]
