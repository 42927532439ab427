"""cuepy.limits: bounded evaluations in a worker process (the corpus has the hostile inputs)."""

from __future__ import annotations

import threading

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
