"""Stopping CUE evaluations in process (cuepy.stop): the depth bound, time limits, tainted contexts."""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import cuepy
import cuepy.cache
import cuepy.examples as ex
import cuepy.opm


def chain(n: int) -> str:
    """n fields each referring to the next: cubic in n (2,000 links: some 4 s of evaluation)."""
    return "".join(f"a{i}: a{i + 1}\n" for i in range(n)) + f"a{n}: 1\n"


def slow_module(tmp_path: Path) -> Path:
    (tmp_path / "cue.mod").mkdir()
    (tmp_path / "cue.mod" / "module.cue").write_text('module: "example.com/slow@v0"\nlanguage: version: "v0.9.0"\n')
    (tmp_path / "p.cue").write_text("package p\n" + chain(2000))
    return tmp_path


@pytest.mark.parametrize("source", ["x: {if false {b: 1}}\nx: <1\n", "l: [1, l[1:]]\n"])
def test_runaway_recursion_is_a_limit_error_not_a_dead_process(source: str) -> None:
    # CUE v0.17.1 recurses on these until Go's fatal stack overflow, which ended the interpreter.
    with pytest.raises(cuepy.CueLimitError, match="recursed deeper than 50000 levels") as info:
        cuepy.compile(source).to_python()
    assert info.value.limit == "depth"
    assert cuepy.compile("a: 1, b: a + 1").to_python() == {"a": 1, "b": 2}  # the process goes on


def test_a_thread_waiting_for_a_busy_context_stops_at_its_time_limit(tmp_path: Path) -> None:
    # libcuepy evaluates one context at a time: a value of a context another thread is loading
    # into waits for it, and that wait ends at the waiting thread's own time limit.
    module = slow_module(tmp_path)
    context = cuepy.Context()
    kept = context.compile("k: 1")
    loaded: list[Any] = []
    loading = threading.Thread(target=lambda: loaded.append(cuepy.load(module, context=context, timeout=30)))
    loading.start()
    time.sleep(0.5)  # (the load holds the context by now: it takes seconds)
    start = time.monotonic()
    with pytest.raises(cuepy.CueLimitError, match="time limit ran out") as info, cuepy.time_limit(0.2):
        kept.to_python()
    waited = time.monotonic() - start
    assert info.value.limit == "time" and waited < 2 and loading.is_alive()
    loading.join()
    assert loaded[0].lookup("a0").to_python() == 1  # the wait tainted nothing


def test_the_depth_bound_is_settable() -> None:
    deep = "".join(f"a{i}: [a{i + 1}]\n" for i in range(300)) + "a300: 1\n"
    assert cuepy.compile(deep).lookup("a299").to_python() == [1]
    previous = cuepy.set_max_depth(100)
    try:
        assert previous == cuepy.stop.DEFAULT_MAX_DEPTH
        with pytest.raises(cuepy.CueLimitError) as info:
            cuepy.compile(deep).to_python()
        assert info.value.limit == "depth"
    finally:
        assert cuepy.set_max_depth(previous) == 100
    with pytest.raises(ValueError, match="non-negative int"):
        cuepy.set_max_depth(-1)
    with pytest.raises(ValueError, match="at most 2"):  # (OverflowError before)
        cuepy.set_max_depth(2**63)


def test_a_timeout_stops_a_load_and_its_context_is_refused(tmp_path: Path) -> None:
    module = slow_module(tmp_path)
    context = cuepy.Context()
    kept = context.compile("k: 1")
    start = time.monotonic()
    with pytest.raises(cuepy.CueLimitError, match="time limit ran out") as info:
        cuepy.load(module, context=context, timeout=0.3)
    assert info.value.limit == "time"
    assert time.monotonic() - start < 2  # unstopped, the load takes seconds
    # Its values may be partly evaluated: refused, with the reason, rather than served.
    with pytest.raises(cuepy.CueUsageError, match="was stopped"):
        kept.to_python()
    assert not context.usable()
    assert cuepy.load(tmp_path, files=["cue.mod/module.cue"]).lookup("module").to_python() == "example.com/slow@v0"


def test_a_load_stopped_inside_cue_load_leaves_later_loads_free(tmp_path: Path) -> None:
    # cue/load evaluates the module file, so a passed deadline stops it there; the lock that
    # serialises cue/load used to stay held, and every later load of the process hung.
    module = slow_module(tmp_path)
    with pytest.raises(cuepy.CueLimitError), cuepy.time_limit(1e-6):
        cuepy.load(module, files=["cue.mod/module.cue"])
    got: list[object] = []
    later = threading.Thread(target=lambda: got.append(cuepy.load(tmp_path, files=["cue.mod/module.cue"])), daemon=True)
    later.start()
    later.join(timeout=60)
    assert not later.is_alive(), "a load after a stopped one hangs"
    assert got[0].lookup("module").to_python() == "example.com/slow@v0"  # type: ignore[attr-defined]


def test_a_stopped_compile_leaves_the_shared_context_alone() -> None:
    before = cuepy.compile("b: 1")
    with pytest.raises(cuepy.CueLimitError):
        cuepy.compile(chain(2000), timeout=0.2)
    with pytest.raises(cuepy.CueLimitError), cuepy.time_limit(0.2):
        cuepy.compile(chain(2000))
    assert before.to_python() == {"b": 1}
    assert cuepy.compile("c: 1").to_python() == {"c": 1}


def test_time_limits_nest_and_end_with_their_block() -> None:
    with cuepy.time_limit(30):
        with pytest.raises(cuepy.CueLimitError), cuepy.time_limit(0.2):
            cuepy.compile(chain(2000))
        # The inner deadline is over; the outer one still allows work.
        assert cuepy.compile(chain(50)).lookup("a0").to_python() == 1
    time.sleep(0.05)
    assert cuepy.compile(chain(200)).lookup("a0").to_python() == 1  # no deadline left behind
    with pytest.raises(ValueError, match="positive finite"), cuepy.time_limit(0):
        pass


@pytest.mark.parametrize("seconds", [1e30, 2**70, 1e300])
def test_a_time_limit_beyond_int64_nanoseconds_is_no_limit_and_leaves_none_behind(seconds: float) -> None:
    # Before: OverflowError, and the thread's stack of deadlines kept the one that failed, so
    # every later time limit in that thread raised OverflowError when its block ended.
    with cuepy.time_limit(seconds):
        assert cuepy.compile(chain(50)).lookup("a0").to_python() == 1
    assert cuepy.compile("a: 1", timeout=seconds).export() == '{"a":1}'
    with pytest.raises(cuepy.CueLimitError), cuepy.time_limit(0.2):
        cuepy.compile(chain(2000))
    assert cuepy.compile(chain(200)).lookup("a0").to_python() == 1


def test_a_time_limit_belongs_to_its_thread() -> None:
    results: dict[str, object] = {}

    def limited() -> None:
        try:
            with cuepy.time_limit(0.2):
                cuepy.compile(chain(2000))
        except cuepy.CueLimitError as exc:
            results["limited"] = exc.limit

    def free() -> None:
        results["free"] = cuepy.compile(chain(700)).lookup("a0").to_python()

    threads = [threading.Thread(target=limited), threading.Thread(target=free)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"limited": "time", "free": 1}


def test_another_thread_cancels_a_scope_and_only_it(tmp_path: Path) -> None:
    module = slow_module(tmp_path)
    scope = cuepy.CancelScope()
    outcome: dict[str, object] = {}

    def render() -> None:
        start = time.monotonic()
        try:
            with scope:
                cuepy.load(module)
        except cuepy.CueLimitError as exc:
            outcome["limit"], outcome["after"] = exc.limit, time.monotonic() - start
        # Outside the scope the thread's evaluations go on.
        outcome["later"] = cuepy.compile(chain(100)).lookup("a0").to_python()

    worker = threading.Thread(target=render)
    worker.start()
    time.sleep(0.3)
    scope.cancel()
    worker.join(60)
    assert outcome["limit"] == "interrupt" and outcome["later"] == 1
    assert isinstance(outcome["after"], float) and outcome["after"] < 2  # unstopped: seconds more
    with pytest.raises(cuepy.CueLimitError), scope:  # entered again, cancelled: stops at once
        cuepy.compile(chain(300))


def test_an_inner_scope_leaves_an_outer_cancel_in_force() -> None:
    outer, inner = cuepy.CancelScope(), cuepy.CancelScope()
    with outer:
        with inner:
            outer.cancel()
        with pytest.raises(cuepy.CueLimitError):
            cuepy.compile(chain(300))
    assert cuepy.compile(chain(50)).lookup("a0").to_python() == 1


def test_stops_racing_evaluations_give_a_value_or_a_limit_never_a_wrong_value() -> None:
    # Threads evaluating at once, each under deadlines that fall anywhere in its evaluation
    # (before, during, after): every call either gives the right value or stops with a limit.
    import random

    source = chain(500)  # about 40 ms: deadlines of 1 to 100 ms land before, in and after it
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            try:
                with cuepy.time_limit(rng.uniform(0.001, 0.1)):
                    value = cuepy.compile(source)
                    got = value.lookup("a0").to_python()
                outcome = "value" if got == 1 else f"wrong: {got!r}"
            except cuepy.CueLimitError as exc:
                outcome = f"limit {exc.limit}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(outcomes) == 90
    assert set(outcomes) <= {"value", "limit time"}, sorted(set(outcomes))
    assert cuepy.compile(source).lookup("a0").to_python() == 1


def test_calls_in_parallel_give_their_results_in_order_and_the_first_error() -> None:
    values = cuepy.compile("a: {x: 1}, b: [1, 2], c: a.x + 1, bad: int")
    calls = [lambda p=p: values.lookup(p).to_python() for p in ("a", "b", "c")]
    assert cuepy.stop.in_parallel(calls) == [{"x": 1}, [1, 2], 2]
    finished: list[str] = []

    def slow_then_note() -> int:
        time.sleep(0.3)
        finished.append("slow")
        return 1

    failing = [slow_then_note, lambda: values.lookup("bad").to_python(), lambda: 1 // 0]
    with pytest.raises(cuepy.CueIncompleteError, match="bad"):
        cuepy.stop.in_parallel(failing)
    assert finished == ["slow"]  # every call had ended when it raised

    def stopped() -> None:
        with cuepy.time_limit(1e-6):
            cuepy.compile(chain(300))

    with pytest.raises(cuepy.CueLimitError):  # a stop before the errors that may follow from it
        cuepy.stop.in_parallel([lambda: 1 // 0, stopped])
    assert cuepy.stop.in_parallel([]) == []


def test_calls_in_parallel_follow_the_callers_time_limit_and_scope() -> None:
    start = time.monotonic()
    with pytest.raises(cuepy.CueLimitError) as info, cuepy.time_limit(0.3):
        cuepy.stop.in_parallel([lambda: cuepy.compile(chain(2000)) for _ in range(3)])
    assert info.value.limit == "time"
    assert time.monotonic() - start < 3  # unstopped, each call takes seconds
    scope = cuepy.CancelScope()
    threading.Timer(0.3, scope.cancel).start()
    start = time.monotonic()
    with pytest.raises(cuepy.CueLimitError) as info, scope:
        cuepy.stop.in_parallel([lambda: cuepy.compile(chain(2000)) for _ in range(3)])
    assert info.value.limit == "interrupt"
    assert time.monotonic() - start < 3
    # The pool's threads follow no stop once their call is over.
    assert cuepy.stop.in_parallel([lambda: cuepy.compile(chain(300)).lookup("a0").to_python()] * 3) == [1, 1, 1]


def test_a_keyboard_interrupt_in_parallel_calls_stops_them_all() -> None:
    # Ctrl-C reaches the caller's thread: the pool's calls are stopped too, not waited for.
    def interrupted() -> None:
        time.sleep(0.2)
        raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        cuepy.stop.in_parallel([interrupted, lambda: cuepy.compile(chain(2000))])
    assert time.monotonic() - start < 3  # unstopped, the compile takes seconds
    assert cuepy.compile(chain(300)).lookup("a0").to_python() == 1  # the caller is not left stopped
    assert cuepy.stop.in_parallel([lambda: cuepy.compile(chain(300)).lookup("a0").to_python()] * 2) == [1, 1]


def test_calls_in_parallel_report_their_stages_to_the_callers_trace() -> None:
    with cuepy.trace() as trace:
        cuepy.stop.in_parallel([lambda i=i: cuepy.compile(f"a: {i}") for i in range(3)])
    assert [e.stage for e in trace.events] == ["build"] * 3


def test_calls_in_parallel_nest_without_waiting_on_themselves() -> None:
    # More nested calls than the pool has threads: run in place, they cannot all wait on it.
    def inner(i: int) -> list[int]:
        return cuepy.stop.in_parallel([lambda j=j: cuepy.compile(f"a: {i * 100 + j}").lookup("a").to_python()
                                       for j in range(3)])  # fmt: skip

    outer = [lambda i=i: inner(i) for i in range(64)]
    done: list[object] = []
    runner = threading.Thread(target=lambda: done.append(cuepy.stop.in_parallel(outer)), daemon=True)
    runner.start()
    runner.join(120)  # (a deadlock would never end)
    assert done == [[[i * 100 + j for j in range(3)] for i in range(64)]]


def test_a_render_stopped_at_any_moment_raises_a_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Limits from a microsecond up stop a render in each of its stages, the loading of its
    # transformers among them (made anew each time). Before: a stop there raised IndexError, the
    # phrasing of its message looking for a path the stop does not have.
    from cuepy.opm import _render

    module, stopped = ex.path("simple"), 0
    for limit in [1e-6 * 1.5**i for i in range(40)]:
        monkeypatch.setattr(_render, "_templates", {})
        try:
            with cuepy.time_limit(limit):
                cuepy.opm.render(module, None, namespace="ns", file="module_definition.cue", cache=False)
        except cuepy.CueLimitError:
            stopped += 1
    assert stopped >= 5


def test_stops_at_any_moment_of_cached_opm_calls_leave_the_process_and_the_cache_sound(tmp_path: Path) -> None:
    # Two threads run loads, flattens and cached OPM calls under time limits of every size, or in
    # scopes another thread cancels at random moments: each call gives its result or a
    # CueLimitError, never a hang or another error. Afterwards every call, unbounded, gives what
    # it gives without a cache. (A stop inside cue/load used to leave its lock held; a stop in a
    # kept module's or a render template's context made every later call using it raise
    # CueUsageError; a layout probe took a stop for "not this" and went on in the refused context.)
    modules = {name: shutil.copytree(ex.path(name), tmp_path / name) for name in ("simple", "large")}
    values = {name: json.loads(cuepy.load(d, files=["values.cue"]).lookup("values").export("json"))
              for name, d in modules.items()}  # fmt: skip
    cache = cuepy.cache.Cache(tmp_path / "cache")
    file = "module_definition.cue"
    calls: dict[str, Any] = {
        "load": lambda n, c: cuepy.load(modules[n], files=[file]).export("json"),
        "flatten": lambda n, c: cuepy.flatten(modules[n], file=file).source,
        "opm.load": lambda n, c: cuepy.opm.load(modules[n], file=file, cache=c).export("cue"),
        "release": lambda n, c: cuepy.opm.render_release(modules[n], values[n], namespace="ns", file=file, cache=c),
        "render": lambda n, c: cuepy.opm.render(modules[n], values[n], namespace="ns", file=file, cache=c).to_yaml(),
    }
    expected = {(call, n): run(n, False) for call, run in calls.items() for n in modules}
    scopes: list[cuepy.CancelScope] = []
    wrong: list[tuple[Any, ...]] = []

    def work(seed: int) -> None:
        rnd = random.Random(seed)
        for i in range(30):
            name, call = rnd.choice(list(modules)), rnd.choice(list(calls))
            store = cache if rnd.random() < 0.7 else cuepy.cache.Cache(cache.directory)  # or a new process's view
            bound: Any = rnd.choice([cuepy.time_limit(1e-6), cuepy.time_limit(0.005), cuepy.time_limit(0.05), None])
            if bound is None:
                bound = cuepy.CancelScope()
                scopes.append(bound)
            try:
                with bound:
                    got = calls[call](name, store)
            except cuepy.CueLimitError:
                continue
            except Exception as exc:
                wrong.append((seed, i, call, name, repr(exc)[:300]))
                continue
            if got != expected[(call, name)]:
                wrong.append((seed, i, call, name, "a different result"))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    rnd = random.Random(0)
    deadline = time.monotonic() + 300
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(rnd.random() * 0.03)
        if scopes:
            scopes.pop(rnd.randrange(len(scopes))).cancel()
    assert not any(t.is_alive() for t in threads), "a call hangs"
    assert wrong == []
    for (call, name), result in expected.items():
        assert calls[call](name, cache) == result, (call, name)
