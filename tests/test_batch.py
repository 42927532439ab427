"""cuepy.batch on real executors: a dask.distributed LocalCluster with worker processes, thread pools."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import cuepy
import cuepy.examples as ex
import cuepy.opm
from cuepy.batch import Job, JobResult, render_many, run_many
from cuepy.cache import keys
from cuepy.trace import bind

DEF = "module_definition.cue"
JOBS = 50


def _values(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cuepy.load(directory, files=["values.cue"]).lookup("values").export("json"))
    return data


def _jobs(directory: Path, n: int) -> list[Job]:
    base = _values(directory)
    jobs = []
    for i in range(n):
        values = json.loads(json.dumps(base))
        values["api"]["replicas"] = 1 + i % 7
        jobs.append(Job(str(directory), values, namespace=f"ns{i % 5}", name=f"app-{i}", file=DEF))
    return jobs


def _serial(job: Job) -> Any:
    return cuepy.opm.render_release(job.path, job.values, namespace=job.namespace, name=job.name, file=job.file,
                                    cache=False)  # fmt: skip


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture(scope="module")
def dask_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    # Worker processes must not be daemonic: a bounded job runs in a process the worker starts.
    # The workers (and the processes they start) use a cache directory of this test run.
    mp = pytest.MonkeyPatch()
    mp.setenv("CUEPY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    with mp.context(), dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               local_directory=str(tmp_path_factory.mktemp("dask")))  # fmt: skip
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
            mp.undo()


def test_render_many_on_a_dask_cluster(dask_client: Any, tmp_path: Path) -> None:
    """50 releases on a LocalCluster of 2 worker processes equal serial results; a bad job is its own error;
    every job's stage events reach the caller's trace, tagged with the job."""
    directory = ex.path("simple")
    jobs: list[Any] = _jobs(directory, JOBS)
    jobs.append(Job(str(tmp_path / "missing"), None, namespace="x", file=DEF))
    seen: list[int] = []
    with cuepy.trace() as t:
        results = list(render_many(jobs, executor=dask_client.get_executor(), timeout=120,
                                   progress=lambda done, total, r: seen.append(done)))  # fmt: skip
    assert seen == list(range(1, len(jobs) + 1))
    assert sorted(r.index for r in results) == list(range(len(jobs)))
    by_index = {r.index: r for r in results}
    bad = by_index.pop(JOBS)
    assert isinstance(bad.error, cuepy.CueError), bad.error
    for i, r in by_index.items():
        assert r.ok, (i, r.error)
        assert r.value == _serial(jobs[i]), i
        assert r.events, i
    per_job = t.by_job()
    assert set(per_job) >= set(range(JOBS))
    assert all(e.fields["job"] in range(len(jobs)) for e in t.events)
    # each job's events counted once: as many as came back with the results
    assert len(t.events) == sum(len(r.events) for r in results)


@pytest.mark.slow
def test_a_thousand_generated_instances_on_dask(dask_client: Any) -> None:
    """1,000 module instances (two modules, values, namespaces and names drawn per job) on the LocalCluster,
    sent in the default chunks, equal the serial results one by one."""
    jobs: list[Job] = []
    for name in ("simple", "moderate"):
        directory = ex.path(name)
        base = _values(directory)
        for i in range(500):
            values = json.loads(json.dumps(base))
            for j, component in enumerate(sorted(c for c in values if isinstance(values[c], dict))):
                if "replicas" in values[component]:
                    values[component]["replicas"] = 1 + (i * (j + 3)) % 17
            jobs.append(Job(str(directory), values, namespace=f"{name}-ns{i % 13}", name=f"{name}-{i}", file=DEF))
    results = list(render_many(jobs, executor=dask_client.get_executor(), timeout=120, progress=False))
    assert sorted(r.index for r in results) == list(range(len(jobs)))
    for r in results:
        assert r.ok, (r.index, r.error)
        assert r.value == _serial(jobs[r.index]), r.index


@pytest.mark.parametrize("chunksize", [1, 4])
def test_a_hanging_job_is_killed_on_dask(dask_client: Any, chunksize: int) -> None:
    """A job that hangs is killed at its timeout (CueLimitError); the others complete, also the jobs
    sent to the worker in the same chunk (4..7 with chunksize 4)."""
    work = [0.01] * 6 + [600.0] + [0.01] * 6
    start = time.monotonic()
    results = list(run_many(_sleep, work, executor=dask_client.get_executor(), timeout=4, chunksize=chunksize))
    took = time.monotonic() - start
    assert took < 60, took
    by_index = {r.index: r for r in results}
    assert sorted(by_index) == list(range(len(work)))
    assert isinstance(by_index[6].error, cuepy.CueLimitError) and by_index[6].error.limit == "time"
    assert all(r.ok and r.value == work[i] for i, r in by_index.items() if i != 6)


def test_chunks_keep_each_job_its_result() -> None:
    """Jobs sent in chunks come back one result per job, under its own index, progress counting each."""
    work = [0.01 * (i % 3) for i in range(11)]
    seen: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        results = list(run_many(_sleep, work, executor=pool, timeout=None, chunksize=3,
                                progress=lambda done, total, r: seen.append(done)))  # fmt: skip
    assert {r.index: r.value for r in results} == dict(enumerate(work))
    assert seen == list(range(1, len(work) + 1))
    with pytest.raises(ValueError, match="chunksize"):
        run_many(_sleep, work, chunksize=0)


def test_thread_pool_timeout_and_events(tmp_path: Path) -> None:
    """On a ThreadPoolExecutor: a hanging job is killed, the rest complete; results stream as they finish."""
    order: list[JobResult] = []
    with ThreadPoolExecutor(2) as pool:
        for r in run_many(_sleep, [0.2, 600.0, 0.2, 0.2], executor=pool, timeout=3, progress=False):
            order.append(r)
    assert [r.index for r in order][-1] == 1  # the killed one last
    assert isinstance(order[-1].error, cuepy.CueLimitError)
    # The job's own function is named, not the wrapper collecting its events ("_captured: ...").
    assert str(order[-1].error).startswith("_sleep: the evaluation exceeded the time limit of 3 s")
    assert [r.value for r in order[:-1]] == [0.2, 0.2, 0.2]


def test_unbounded_jobs_in_threads_report_events_once(tmp_path: Path) -> None:
    """timeout=None on a thread pool: jobs run in the pool's threads, their events reach the trace once."""
    keys.forget()
    jobs = _jobs(ex.path("simple"), 4)
    with cuepy.trace() as t, cuepy.trace(threads=True) as everywhere, ThreadPoolExecutor(2) as pool:
        results = list(render_many([Job(**{**j.__dict__, "cache": False}) for j in jobs], executor=pool,
                                   timeout=None))  # fmt: skip
    assert all(r.ok for r in results)
    releases = [e for e in t.events if e.stage == "release"]
    assert sorted(e.fields["job"] for e in releases) == [0, 1, 2, 3]
    assert len(everywhere.events) == len(t.events)


def test_trace_follows_threads_and_nesting() -> None:
    """A trace() sees stages of threads given its context (bind) or all threads (threads=True);
    nested stages carry depth and parent, and self time counts each nanosecond once."""
    directory = ex.path("simple")
    values = _values(directory)

    def work(ns: str) -> Any:
        return cuepy.opm.render_release(directory, values, namespace=ns, file=DEF, cache=False)

    with cuepy.trace() as t, ThreadPoolExecutor(2) as pool:
        list(pool.map(bind(work), ["a", "b"]))
    assert sum(1 for e in t.events if e.stage == "release") == 2
    with cuepy.trace() as plain, ThreadPoolExecutor(2) as pool:
        list(pool.map(work, ["a", "b"]))
    assert plain.events == []  # a pool's threads do not inherit the context...
    with cuepy.trace(threads=True) as everywhere, ThreadPoolExecutor(2) as pool:
        list(pool.map(work, ["a", "b"]))
    assert sum(1 for e in everywhere.events if e.stage == "release") == 2  # ...unless asked for
    nested = [e for e in t.events if e.depth > 0]
    assert nested and all(e.parent for e in nested)
    assert {e.parent for e in t.events if e.stage == "fill"} <= {"release"}
    assert sum(e.self_ns for e in t.events) == pytest.approx(t.wall_ns(), rel=0.01)
    assert t.wall_ns() < sum(e.duration_ns for e in t.events)
