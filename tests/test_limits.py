"""cuepy.limits: bounded evaluations in a worker process (the corpus has the hostile inputs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import MakeModule

import cuepy
from cuepy import limits

SLOW = 'import "list"\na: list.Repeat([1], 1000000)'


def test_worker_is_reused_and_replaced_after_a_timeout(make_module: MakeModule) -> None:
    root = make_module({"p.cue": "package p\nn: int | *2\nsq: n * n"})
    with limits.Worker(timeout=30) as worker:
        assert limits.load_extract(root, select="sq", worker=worker) == 4
        first = worker.pid
        assert limits.compile_extract("a: 1", format="yaml", worker=worker) == "a: 1\n"
        assert worker.pid == first, "one process serves many calls"
        worker.timeout = 1
        with pytest.raises(cuepy.CueLimitError) as info:
            limits.compile_extract(SLOW, worker=worker)
        assert info.value.limit == "time" and "time limit of 1 s" in str(info.value)
        assert worker.pid is None, "the worker that ran over was killed"
        worker.timeout = 30
        assert limits.load_extract(root, tags=[], worker=worker) == {"n": 2, "sq": 4}
        assert worker.pid not in (None, first)
    assert worker.pid is None
    assert cuepy.compile("a: 2 * 21").to_python() == {"a": 42}, "the caller's process is untouched"


def test_errors_and_results_cross_the_boundary() -> None:
    with limits.Worker(timeout=30) as worker:
        with pytest.raises(ValueError, match="invalid literal"):
            worker.run(int, "x")  # the function's own exception, as it is
        with pytest.raises(cuepy.CueIncompleteError) as info:
            limits.compile_extract("a: int", worker=worker)
        assert info.value.errors[0].path == ("a",) and info.value.positions[0].line == 1
        with pytest.raises(TypeError, match="must be picklable data"):
            worker.run(cuepy.compile, "a: 1")  # a Value cannot come back
        assert worker.run(divmod, 7, 2) == (3, 1), "the worker survives all of that"


def test_threads_share_a_worker() -> None:
    results: list[object] = []
    with limits.Worker(timeout=30) as worker:

        def call(i: int) -> None:
            results.append(limits.compile_extract(f"a: {i} * 2", select="a", worker=worker))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(results) == [0, 2, 4, 6]  # type: ignore[type-var]


def test_arguments_are_checked_before_a_worker_starts() -> None:
    with pytest.raises(TypeError, match="timeout must be a number"):
        limits.Worker(timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="memory must be positive"):
        limits.Worker(memory=0)
    with pytest.raises(TypeError, match="context= is not supported"):
        limits.load_extract(".", context=cuepy.Context())
    with pytest.raises(TypeError, match="cannot be pickled"):
        limits.run_bounded(len, cuepy.compile("a: 1"))


# Issue 13: workers die with their parent, close() never blocks, typed errors -------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_worker_dies_with_its_parent_and_leaves_no_file(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, threading
        from cuepy import limits
        if __name__ == "__main__":
            w = limits.Worker(timeout=None)
            assert limits.compile_extract("a: 1", worker=w) == {{"a": 1}}
            print(w.pid, flush=True)
            limits.compile_extract({SLOW!r}, worker=w)   # minutes of CUE work
    """))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        time.sleep(0.5)  # the worker is evaluating
        assert _alive(worker_pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker_pid), "the worker outlived its parent"
    finally:
        parent.kill()
    assert list(tmpdir.iterdir()) == [], "the worker left files in the temporary directory"


def test_close_never_waits_for_the_call_in_flight() -> None:
    worker = limits.Worker(timeout=None)
    limits.compile_extract("a: 1", worker=worker)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            limits.compile_extract(SLOW, worker=worker)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    start = time.monotonic()
    worker.close()
    took = time.monotonic() - start
    t.join(10)
    assert took < 1.0, f"close() blocked for {took:.1f} s"
    assert len(errors) == 1 and type(errors[0]) is cuepy.CueLimitError, errors
    assert errors[0].limit == "killed" and "closed during the call" in str(errors[0])
    assert worker.pid is None


def test_a_killed_worker_is_a_limit_error() -> None:
    with limits.Worker(timeout=30) as worker:
        limits.compile_extract("a: 1", worker=worker)
        assert worker.pid is not None
        with pytest.raises(cuepy.CueLimitError, match="killed by SIGKILL") as info:
            worker.run(os.kill, worker.pid, signal.SIGKILL)
        assert info.value.limit == "killed"
        assert worker.run(divmod, 7, 2) == (3, 1), "the next call gets a new worker"


@pytest.mark.parametrize("memory", [float("inf"), 1e20, -1, float("nan"), 0])
def test_unusable_memory_limits_are_usage_errors(memory: float) -> None:
    with pytest.raises(cuepy.CueUsageError, match="memory must be"):
        limits.Worker(memory=memory)  # type: ignore[arg-type]
    with pytest.raises(cuepy.CueUsageError, match="memory must be"):
        limits.compile_extract("a: 1", memory=memory)  # type: ignore[arg-type]


def test_timeout_inf_means_no_limit_and_nan_is_refused() -> None:
    assert limits.Worker(timeout=float("inf")).timeout is None
    with pytest.raises(cuepy.CueUsageError, match="timeout must be positive"):
        limits.Worker(timeout=float("nan"))


def test_memory_limit_reaches_go_in_the_worker() -> None:
    with limits.Worker(timeout=30, memory=400 << 20) as worker:
        assert worker.run(limits.go_memory_limit) == int((400 << 20) * 0.8)
    with limits.Worker(timeout=30) as worker:
        assert worker.run(limits.go_memory_limit) == 2**63 - 1


def test_forked_child_gets_a_fork_error() -> None:
    with limits.Worker(timeout=30) as worker:
        limits.compile_extract("a: 1", worker=worker)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: only Python here, then _exit
            try:
                worker.run(divmod, 7, 2)
                outcome = "no error"
            except BaseException as exc:
                outcome = type(exc).__name__
            os.write(write, outcome.encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read) as f:
            assert f.read() == "CueForkError"
        assert worker.run(divmod, 7, 2) == (3, 1), "the parent's worker is untouched"
