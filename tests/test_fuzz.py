"""The quick fuzz: a few hundred inputs through the targets of tests/fuzz
(compile, load with overlays, encode, extraction in every format, flatten and
the cache entry reader), from hypothesis strategies and from the generator of
tests/fuzz/run.py. The long run: ``python tests/fuzz/run.py --count 100000``
(docs/hardening.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))

import targets
from gen import TOKENS, Generator, load_seeds

QUICK = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
SEEDS = load_seeds()

# Strategies --------------------------------------------------------------------

labels = st.sampled_from(["a", "b", "x", "#D", "_h", '"k-1"', "a?", "b!", "[string]", "l"])
atoms = st.sampled_from([
    "1", "-5", "0.5", "1e400", "1e-400", "1e100001", "123456789012345678901234567890", "int", "string", "bytes",
    "null", "true", "_", "_|_", ">0", '=~"^a"', '"s"', "'\\xff'", '"\\ud800"', "[...]", "{...}", "a", "x",
])  # fmt: skip


def _compose(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(st.tuples(labels, children), max_size=3).map(
            lambda fs: "{" + ", ".join(f"{k}: {v}" for k, v in fs) + "}"
        ),
        st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.tuples(children, st.sampled_from(["&", "|", "+", "*", "==", "<"]), children).map(" ".join),
        st.tuples(children, children).map(lambda t: f"*{t[0]} | {t[1]}"),
        children.map(lambda c: f"[for k, v in {c} {{v}}]"),
        children.map(lambda c: f'"pre-\\({c})"'),
        children.map(lambda c: f"close({{a: {c}}})"),
    )


expressions = st.recursive(atoms, _compose, max_leaves=12)
sources = st.lists(st.tuples(labels, expressions), min_size=1, max_size=4).map(
    lambda fs: "\n".join(f"{k}: {v}" for k, v in fs).encode("utf-8", "surrogatepass")
)


@st.composite
def mutated(draw: Any, pool: list[bytes]) -> bytes:
    b = bytearray(draw(st.sampled_from(pool))[:400])
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(b)))
        op = draw(st.integers(0, 3))
        if op == 0:
            b[pos:pos] = draw(st.sampled_from(TOKENS)).encode("utf-8", "surrogatepass")
        elif op == 1:
            b[pos : pos + draw(st.integers(1, 8))] = b""
        elif op == 2 and b:
            b[min(pos, len(b) - 1)] = draw(st.integers(0, 255))
        else:
            del b[pos:]
    return bytes(b)


python_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=10,
)  # fmt: skip

# Tests ---------------------------------------------------------------------------


@QUICK
@given(st.binary(max_size=120))
def test_compile_bytes(src: bytes) -> None:
    targets.fuzz_compile(src)


@QUICK
@given(sources)
def test_compile_grammar(src: bytes) -> None:
    targets.fuzz_compile(src)


@QUICK
@given(mutated([s for s in SEEDS if not s.lstrip().startswith((b"{", b"["))]))
def test_compile_and_load_mutated_seeds(src: bytes) -> None:
    targets.fuzz_compile(src)
    targets.fuzz_load(src, "cue")


@QUICK
@given(mutated([s for s in SEEDS if s.lstrip()[:1] in (b"{", b"[")] or SEEDS), st.sampled_from(["json", "yaml"]))
def test_load_data_files(src: bytes, kind: str) -> None:
    targets.fuzz_load(src, kind)


@QUICK
@given(python_data)
def test_encode_round_trip(data: Any) -> None:
    targets.fuzz_encode(data)


@pytest.mark.skipif(targets.CACHE_STORE is None, reason="cuepy.cache is not there")
@settings(QUICK, max_examples=40)
@given(
    st.binary(max_size=300)
    | st.text(max_size=200).map(targets.valid_cache_entry if targets.CACHE_STORE else str.encode)
)
def test_cache_entry_reader(data: bytes) -> None:
    targets.fuzz_cache_entry(data)


@pytest.mark.skipif(targets.FLATTEN is None, reason="cuepy.flatten is not there")
def test_flatten_mutations() -> None:
    gen = Generator(seed=1, targets=["flatten"])
    outcomes = [targets.fuzz_flatten(gen(i).data) for i in range(12)]
    assert "flatten:ok" in outcomes  # unmutated examples come through


def test_generator_of_the_long_run() -> None:
    """The first inputs of ``tests/fuzz/run.py --seed 7``, in this process."""
    gen = Generator(seed=7, targets=["compile", "load-cue", "load-json", "load-yaml", "encode", "cache"])
    for i in range(300):
        inp = gen(i)
        if inp.target == "compile":
            targets.fuzz_compile(inp.data)
        elif inp.target.startswith("load-"):
            targets.fuzz_load(inp.data, inp.target.removeprefix("load-"))
        elif inp.target == "encode":
            targets.fuzz_encode(inp.data)
        else:
            targets.fuzz_cache_entry(inp.data)
