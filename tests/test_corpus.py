"""Every case of the corpus of bad inputs (tests/corpus/): the exact exception
class, a fragment of its message and, where there is one, its line; and after
each case the process still works and has no handle more than before."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus.cases import Case, Env, all_cases

import cuepy

CASES = all_cases()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("corpus"))
    yield e
    e.close()


def _handles() -> int:
    gc.collect()
    return cuepy.live_handles()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, env: Env, tmp_path: Path) -> None:
    env.tmp = tmp_path
    _ = env.registry  # served once, before the baseline
    cuepy.compile("warm: 1").close()
    before = _handles()
    expect = case.expect
    if expect.error is None:
        result = case.run(env)
        assert expect.message in str(result), f"{case.name}: {expect.message!r} not in {str(result)[:300]!r}"
    else:
        with pytest.raises(BaseException) as info:
            case.run(env)
        exc = info.value
        assert type(exc) is expect.error, f"{case.name}: raised {type(exc).__name__}: {exc}"
        assert expect.message in str(exc), f"{case.name}: {expect.message!r} not in {str(exc)!r}"
        if isinstance(exc, cuepy.CueError) and (expect.line is not None or expect.file is not None):
            spots = [(p.file, p.line) for p in exc.positions]
            assert any(
                (expect.file is None or f.endswith(expect.file)) and (expect.line is None or ln == expect.line)
                for f, ln in spots
            ), f"{case.name}: no position {expect.file}:{expect.line} in {spots}"
        del info, exc
    # The process is unharmed and nothing leaked (the shared context may be renewed once).
    with cuepy.compile("after: 1 + 1") as v:
        assert v.to_python() == {"after": 2}
    assert _handles() - before <= 1, f"{case.name} leaked handles"
