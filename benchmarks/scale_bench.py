"""Scale: single-flight, a shared store (Redis) for fresh processes, batch throughput on Dask, a worker's RSS.

    PYTHONPATH=. .venv/bin/python benchmarks/scale_bench.py [--rounds 5] [--jobs 1000] [--renders 10000]
        [--only flight,shared,batch,rss]

Prints, from one run with interleaved rounds (medians of per-round ratios):

* flight: 16 concurrent cold requests for one key (threads) / one cold request
  (goal <= 1.2x), the large example's release through a new cache directory;
* shared: in fresh processes, the large example's release from an empty local
  directory and a warm Redis / from a warm local directory (goal <= 2x), and
  computing it / from the warm Redis (goal >= 50x); the Go runtime is started
  before the clock in each process (and cuepy.opm's modules imported), the rest
  (the store's connection, digests, keys) is counted;
* batch: ``render_many`` of ``--jobs`` releases (distinct values) on a
  dask.distributed LocalCluster of N = 1, 2 worker processes: jobs/s and the
  ratio to N x one worker's (goal >= 0.8), after a warm-up batch per cluster;
* rss: ``--renders`` renders in one worker process (``run_many`` on one thread,
  each job ``cuepy.batch.render`` in a ``cuepy.limits.Worker``, as ``render_many``
  runs them) of what a deployment controller renders: 200 releases reconciled at
  random, one in ten rolled out with new values (a miss), the others as last time
  (a hit). The worker's RSS every 500 renders (and settled: after Python's and
  Go's collectors), and RSS(last) / RSS(after 1,000) (goal <= 1.1x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cuepy
import cuepy.examples as ex
import cuepy.opm
from cuepy.cache import Cache, keys

DEF = "module_definition.cue"
NS = "production"
ROOT = Path(__file__).resolve().parent.parent


def values_of(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cuepy.load(directory, files=["values.cue"]).lookup("values").export("json"))
    return data


# Single-flight ------------------------------------------------------------------------


def bench_flight(rounds: int, work: Path) -> None:
    directory = ex.path("large")
    values = values_of(directory)

    def cold(n: int) -> float:
        keys.forget()
        cache = Cache(Path(tempfile.mkdtemp(dir=work)), shared=False)
        start = time.perf_counter()
        if n == 1:
            cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
        else:
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(lambda _: cuepy.opm.render_release(directory, values, namespace=NS, file=DEF,
                                                                           cache=cache), range(n)))  # fmt: skip
            assert all(r == results[0] for r in results)
        return time.perf_counter() - start

    cold(1)  # warm the process (Go runtime, parse cache, catalog digest): both sides alike
    ratios, ones, many = [], [], []
    for _ in range(rounds):
        a, b = cold(1), cold(16)
        ones.append(a)
        many.append(b)
        ratios.append(b / a)
    print(f"flight: 1 cold request {statistics.median(ones) * 1e3:.0f} ms, 16 concurrent "
          f"{statistics.median(many) * 1e3:.0f} ms: ratio {statistics.median(ratios):.2f}x "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}; goal <= 1.2x)")  # fmt: skip


# Shared store -----------------------------------------------------------------------------

_CHILD = """
import json, sys, time
import cuepy, cuepy.opm
from cuepy._native import native
from cuepy.cache import Cache
import cuepy.opm._cached  # (imports and the Go runtime are the process's start-up, not the cache's work)
import encodings.idna  # (what any first socket connection of a process imports: start-up too)
native()
directory, mode, local, url = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
values = json.loads(sys.argv[5])
cache = False if mode == "compute" else Cache(local, shared=url if mode == "shared" else False)
start = time.perf_counter()
cuepy.opm.render_release(directory, values, namespace="production", file="module_definition.cue", cache=cache)
took = time.perf_counter() - start
stats = cache.stats() if cache else None
print(json.dumps({"seconds": took, "shared_hits": stats.shared_hits if stats else 0,
                  "hits": stats.hits if stats else 0}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def bench_shared(rounds: int, work: Path) -> None:
    directory = ex.path("large")
    values = json.dumps(values_of(directory))
    proc, url = start_redis()
    env = {**os.environ, "PYTHONPATH": str(Path(cuepy.__file__).resolve().parent.parent),
           "CUEPY_CACHE_KEY": "scale-bench-shared-secret-0123"}  # fmt: skip

    def child(mode: str, local: Path) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(directory), mode, str(local), url, values],
                             capture_output=True, text=True, env=env, check=False)  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    try:
        child("shared", Path(tempfile.mkdtemp(dir=work)))  # warm the shared store
        shared_t, disk_t, compute_t, r_disk, r_compute = [], [], [], [], []
        for _ in range(rounds):
            local = Path(tempfile.mkdtemp(dir=work))
            s = child("shared", local)  # empty local directory, warm Redis (fills the local directory)
            assert s["shared_hits"] >= 1, s
            d = child("disk", local)  # the same release from the local directory, no shared store
            assert d["hits"] >= 1, d
            c = child("compute", local)
            shared_t.append(s["seconds"])
            disk_t.append(d["seconds"])
            compute_t.append(c["seconds"])
            r_disk.append(s["seconds"] / d["seconds"])
            r_compute.append(c["seconds"] / s["seconds"])
        print(f"shared: fresh process, large release: warm Redis + empty disk "
              f"{statistics.median(shared_t) * 1e3:.1f} ms, local-disk hit {statistics.median(disk_t) * 1e3:.1f} ms, "
              f"computed {statistics.median(compute_t) * 1e3:.0f} ms")  # fmt: skip
        print(f"shared: Redis / local disk {statistics.median(r_disk):.2f}x (goal <= 2x; rounds "
              f"{', '.join(f'{r:.2f}' for r in r_disk)}); computing / Redis {statistics.median(r_compute):.0f}x "
              f"(goal >= 50x; rounds {', '.join(f'{r:.0f}' for r in r_compute)})")  # fmt: skip
    finally:
        proc.kill()
        proc.wait()


# Batch --------------------------------------------------------------------------------------


def batch_jobs(n: int, tag: str) -> list[Any]:
    from cuepy.batch import Job

    directory = ex.path("simple")
    base = values_of(directory)
    jobs = []
    for i in range(n):
        v = json.loads(json.dumps(base))
        v["api"]["replicas"] = 1 + i % 50
        v["frontend"]["replicas"] = 1 + i // 50
        jobs.append(Job(str(directory), v, namespace=f"{tag}-{i % 20}", name=f"app-{i}", file=DEF))
    return jobs


def bench_batch(rounds: int, n_jobs: int, work: Path, workers: list[int]) -> None:
    import dask
    from distributed import Client, LocalCluster

    from cuepy.batch import render_many

    os.environ["CUEPY_CACHE_DIR"] = str(work / "batch-cache")
    rates: dict[int, list[float]] = {n: [] for n in workers}
    with dask.config.set({"distributed.worker.daemon": False, "logging.distributed": "error"}):
        for r in range(rounds):
            for n in workers:
                with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                  local_directory=str(work)) as cluster, Client(cluster) as client:  # fmt: skip
                    executor = client.get_executor()
                    list(render_many(batch_jobs(4 * n, f"warm{r}-{n}"), executor=executor, timeout=120,
                                     progress=False))  # fmt: skip
                    start = time.perf_counter()
                    results = list(render_many(batch_jobs(n_jobs, f"r{r}-{n}"), executor=executor, timeout=120))
                    took = time.perf_counter() - start
                    failed = [x for x in results if not x.ok]
                    if failed:
                        raise SystemExit(f"{len(failed)} jobs failed: {failed[0].error}")
                    rates[n].append(n_jobs / took)
                    print(f"batch: round {r + 1}, {n} worker(s): {n_jobs} releases in {took:.1f} s, "
                          f"{n_jobs / took:.1f} jobs/s", flush=True)  # fmt: skip
    one = statistics.median(rates[workers[0]])
    for n in workers:
        rate = statistics.median(rates[n])
        print(f"batch: N={n}: {rate:.1f} jobs/s, {rate / (n * one):.2f} x N x one worker's (goal >= 0.8)")


# RSS of a worker ------------------------------------------------------------------------

_SAMPLE_EVERY = 500


def controller_jobs(n: int, seed: int = 15) -> list[tuple[int, Any]]:
    """``n`` renders as a deployment controller makes them: 200 releases (50 namespaces x 4 apps)
    reconciled in random order; one render in ten is a rollout (new values: a miss), the others
    render the release's current values again (a hit once rendered). Items are (index, Job)."""
    import random

    from cuepy.batch import Job

    directory = ex.path("simple")
    base = values_of(directory)
    rng = random.Random(seed)
    releases = [(f"team-{t}", f"app-{a}") for t in range(50) for a in range(4)]
    revision = [0] * len(releases)
    jobs: list[tuple[int, Any]] = []
    for i in range(n):
        r = rng.randrange(len(releases))
        if rng.random() < 0.1:
            revision[r] += 1
        v = json.loads(json.dumps(base))
        v["api"]["image"] = f"ghcr.io/acme/simple-api:1.{revision[r]}.{r}"
        v["frontend"]["replicas"] = 1 + r % 7
        namespace, name = releases[r]
        jobs.append((i, Job(str(directory), v, namespace=namespace, name=name, file=DEF)))
    return jobs


def _rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def render_sampled(item: tuple[int, Any]) -> dict[str, Any] | None:
    """In the worker process: ``cuepy.batch.render`` of the job. After every ``_SAMPLE_EVERY``-th:
    the process's RSS as the OS sees it, then settled (Python's and Go's collectors run, Go's free
    memory returned: what is retained), live libcuepy handles and the in-process cache layers."""
    import gc

    from cuepy._native import native
    from cuepy.batch import render
    from cuepy.cache import _memoize, default_cache

    index, job = item
    render(job)
    if (index + 1) % _SAMPLE_EVERY:
        return None
    rss = _rss()
    gc.collect()
    native()[0].cue_gc()
    cache = default_cache()
    return {"rss": rss, "settled": _rss(), "handles": cuepy.live_handles(), "calls": len(_memoize._calls),
            "memory_bytes": cache.stats().memory_bytes if cache is not None else 0}  # fmt: skip


def bench_rss(n_renders: int, work: Path) -> None:
    from cuepy.batch import run_many

    os.environ["CUEPY_CACHE_DIR"] = str(work / "rss-cache")  # the worker's default cache, inherited
    jobs = controller_jobs(n_renders)
    distinct = len({(j.namespace, j.name, json.dumps(j.values, sort_keys=True)) for _, j in jobs})
    samples: list[tuple[int, dict[str, Any]]] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(1) as executor:
        for result in run_many(render_sampled, jobs, executor=executor, timeout=120, progress=False):
            if not result.ok:
                raise SystemExit(f"render {result.index} failed: {result.error}")
            if result.value is not None:
                samples.append((result.index + 1, result.value))
    took = time.perf_counter() - start
    samples.sort(key=lambda s: s[0])
    print(f"rss: {n_renders} renders in one worker in {took:.0f} s ({n_renders / took:.0f}/s): {distinct} distinct "
          f"releases (misses), {n_renders - distinct} repeated (hits)")  # fmt: skip
    for done, s in samples:
        print(f"rss: {done:6d} renders: RSS {s['rss'] / 2**20:6.1f} MiB, settled {s['settled'] / 2**20:6.1f} MiB, "
              f"{s['handles']} handles, memory layer {s['memory_bytes'] / 2**20:4.1f} MiB, "
              f"{s['calls']} call memos")  # fmt: skip
    base = dict(samples).get(1000, samples[0][1])
    last = samples[-1][1]
    print(f"rss: after {samples[-1][0]} renders / after 1000: RSS {last['rss'] / base['rss']:.3f}x (goal <= 1.1x), "
          f"settled {last['settled'] / base['settled']:.3f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-rounds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--renders", type=int, default=10000)
    parser.add_argument("--only", default="flight,shared,batch,rss")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="cuepy-scale-"))
    try:
        print(f"cuepy scale benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        if "flight" in only:
            bench_flight(args.rounds, work)
        if "shared" in only:
            bench_shared(args.rounds, work)
        if "batch" in only:
            bench_batch(args.batch_rounds, args.jobs, work, [int(n) for n in args.workers.split(",")])
        if "rss" in only:
            bench_rss(args.renders, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
