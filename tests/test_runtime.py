"""The process around the Go runtime: threads, fork, memory, handles, tracing."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import structlog
from conftest import MakeModule

import cuepy

# Subprocesses import the same cuepy as this test process (the installed one
# in CI), never a source tree that happens to be the working directory.
_OUTSIDE = Path(__file__).resolve().parent
_ENV = dict(os.environ, PYTHONPATH=str(Path(cuepy.__file__).resolve().parent.parent))


def _run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, cwd=_OUTSIDE,
        env=_ENV if env is None else env,
    )  # fmt: skip


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _work(i: int, root: Path) -> tuple[object, object, str]:
    v = cuepy.compile(f"a: {i}\nb: [for x in [1, 2, 3] {{x * a}}]\nc: \"n\\(a)\"")
    loaded = cuepy.load(root)
    both = cuepy.unify(loaded, {"n": i})
    return v.to_python(), both.to_python(), cuepy.extract(both, format="yaml")


def test_four_threads_match_one_thread(make_module: MakeModule) -> None:
    root = make_module({"p.cue": "package p\nn: int\nsquare: n * n\nlabel: \"item-\\(n)\""})
    serial = [_work(i, root) for i in range(40)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda i: _work(i, root), range(40)))
    assert parallel == serial


def test_threads_share_one_value() -> None:
    v = cuepy.compile('import "list"\nitems: [for i in list.Range(0, 200, 1) {id: i, sq: i * i}]')
    expected = v.lookup("items[150]").to_python()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: v.lookup("items[150]").to_python(), range(400)))
    assert results == [expected] * 400


def test_forked_child_gets_clear_error() -> None:
    cuepy.compile("a: 1").to_python()  # the Go runtime is running now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what happened through the pipe, never run pytest's teardown
        os.close(read)
        try:
            cuepy.compile("a: 1")
            msg = b"no error"
        except cuepy.CueForkError as exc:
            msg = b"ok: " + str(exc).encode()
        except BaseException as exc:
            msg = repr(exc).encode()
        os.write(write, msg)
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    msg = os.read(read, 4096).decode()
    os.close(read)
    assert status == 0
    assert msg.startswith("ok: ") and "spawn" in msg


def test_child_started_with_spawn_works() -> None:
    code = "import cuepy; print(cuepy.compile('a: 20 + 22').lookup('a').to_python())"
    out = _run_python(code)
    assert out.stdout.strip() == "42"


_CYCLES = """
import gc, json
from pathlib import Path
import cuepy

def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def cycle(i):
    with cuepy.compile(f"a: {i}\\nb: {{x: a + 1, y: \\"s\\\\(a)\\"}}\\nc: [a, a, a]") as v:
        assert v.lookup("b.x").to_python() == i + 1
        cuepy.extract(v, format="json")

for i in range(2000):  # warm up: caches, arenas, the first contexts
    cycle(i)
gc.collect()
before = rss_kib()
for i in range(10_000):
    cycle(i)
gc.collect()
print(json.dumps({"before": before, "after": rss_kib()}))
"""


def test_compile_extract_free_cycles_keep_rss_flat() -> None:
    # In a process of its own: what other tests left in this one's heaps would blur the reading.
    rss = json.loads(_run_python(_CYCLES).stdout)
    before, after = rss["before"], rss["after"]
    assert after - before < max(0.10 * before, 16 * 1024), f"RSS grew from {before} KiB to {after} KiB"


def test_shared_context_renewal_keeps_go_heap_flat() -> None:
    def burst() -> int:
        for i in range(3 * cuepy.COMPILES_PER_CONTEXT):
            cuepy.compile(f"x{i % 50}: {i}").close()
        gc.collect()
        lib_gc()
        return cuepy.memstats().heap_bytes

    def lib_gc() -> None:
        from cuepy._native import native

        native()[0].cue_gc()

    burst()
    first = burst()
    later = [burst() for _ in range(4)][-1]
    assert later < first * 1.5 + 2 * 1024 * 1024, f"Go heap grew from {first} to {later} bytes"


def test_no_handles_leak() -> None:
    gc.collect()
    before = cuepy.live_handles()
    for i in range(100):
        v = cuepy.compile(f"a: {{b: {i}}}")
        list(v.fields())
        v.lookup("a").to_python()
        del v
        with pytest.raises(cuepy.CueError):
            cuepy.compile("a: 1\na: 2")
    gc.collect()
    assert cuepy.live_handles() - before <= 1  # the shared context may have been renewed once


def test_stage_events_through_structlog(make_module: MakeModule) -> None:
    root = make_module({"p.cue": "package p\na: 1"})
    with structlog.testing.capture_logs() as logs:
        v = cuepy.load(root)
        cuepy.extract(v, format="json")
        with pytest.raises(cuepy.CueSyntaxError):
            cuepy.compile("a: {", filename="broken.cue")
    events = [e["event"] for e in logs]
    assert events[:2] == ["cuepy.load.started", "cuepy.load.complete"]
    assert "cuepy.extract.complete" in events and "cuepy.build.failed" in events
    load_done = next(e for e in logs if e["event"] == "cuepy.load.complete")
    assert load_done["duration_ns"] > 0 and load_done["alloc_bytes"] > 0 and load_done["alloc_objects"] > 0
    assert load_done["unifications"] > 0 and load_done["conjuncts"] > 0
    failed = next(e for e in logs if e["event"] == "cuepy.build.failed")
    assert failed["filename"] == "broken.cue" and "expected" in failed["error"]


def test_trace_collects_stage_events(make_module: MakeModule) -> None:
    root = make_module({"p.cue": "package p\na: int"})
    with cuepy.trace() as t:
        v = cuepy.load(root)
        v.fill("a", 3).validate(concrete=True)
    stages = [e.stage for e in t.events]
    assert stages == ["load", "build", "fill", "validate"]
    assert all(e.ok and e.duration_ns > 0 for e in t.events)
    assert t.totals()["load"][0] == 1
    cuepy.compile("b: 1")
    assert len(t.events) == 4, "events after the block are not collected"


def test_trace_alone_prints_nothing() -> None:
    code = "import cuepy\nwith cuepy.trace() as t:\n    cuepy.compile('a: 1')\nprint(len(t.events))"
    out = _run_python(code)
    assert out.stdout == "1\n" and out.stderr == ""


def test_library_does_not_configure_logging() -> None:
    code = textwrap.dedent("""
        import structlog, cuepy
        cuepy.compile("a: 1").to_python()
        print(structlog.is_configured())
    """)
    out = _run_python(code)
    assert out.stdout.strip() == "False"
    assert out.stderr == ""


def test_gc_target_defaults_to_400_and_honours_gogc() -> None:
    # A process of its own each time: the GC target is process-wide.
    code = (
        "import cuepy; print(cuepy.memstats().gc_percent); print(cuepy.set_gc_percent(100));"
        "print(cuepy.set_gc_percent(-5)); print(cuepy.memstats().gc_percent)"
    )
    env = {k: v for k, v in _ENV.items() if k != "GOGC"}
    assert _run_python(code, env=env).stdout.split() == ["400", "400", "100", "-1"]
    assert _run_python(code, env={**env, "GOGC": "150"}).stdout.split() == ["150", "150", "100", "-1"]
    with pytest.raises(TypeError):
        cuepy.set_gc_percent("400")  # type: ignore[arg-type]
