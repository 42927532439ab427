"""Concurrency stress: 8 threads x 1,000 mixed operations give the same results
as the same 8,000 operations run one after another."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeModule

import cuepy

THREADS, PER_THREAD = 8, 1000


class Ops:
    """Operation i, a pure function of i (and of shared read-only values)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.shared = cuepy.compile(
            "#S: {name: string, n: int & >=0, tags: [...string]}\ns: #S\nlabels: [string]: string\n"
            "items: [for i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] {id: i, sq: i * i}]"
        )
        self.ops: list[Callable[[int], Any]] = [
            self.compile, self.compile, self.export, self.unify, self.fill, self.read_shared,
            self.encode, self.error, self.navigate, self.load,
        ]  # fmt: skip

    def __call__(self, i: int) -> Any:
        return self.ops[i % len(self.ops)](i)

    def compile(self, i: int) -> Any:
        with cuepy.compile(f'a: {i}\nb: [for x in [1, 2, 3] {{x * a}}]\nc: "n\\(a)"\nd: *{i % 7} | int') as v:
            return v.to_python()

    def export(self, i: int) -> Any:
        with cuepy.compile(f"#D: {{n: int}}\nx: #D & {{n: {i}}}\nb: '\\x{i % 256:02x}'\nf: {i}.5") as v:
            return v.export("json"), v.export("yaml"), v.export("cue"), v.export("cue", final=True)

    def unify(self, i: int) -> Any:
        with cuepy.unify(self.shared, {"s": {"name": f"n{i}", "n": i, "tags": [str(i)]}}) as v:
            return cuepy.extract(v, "s", format="json")

    def fill(self, i: int) -> Any:
        with self.shared.fill("labels", {f"k{i % 5}": f"v{i}"}) as v:
            return cuepy.extract(v, "labels")

    def read_shared(self, i: int) -> Any:
        with self.shared.lookup(f"items[{i % 10}]") as item:
            return item.to_python(), item.export("json")

    def encode(self, i: int) -> Any:
        data = {"i": i, "big": 10**25 * i, "b": bytes([i % 256]), "l": [i / 4, None, "é"]}
        with cuepy.encode(data) as v:
            return v.to_python() == data, v.export("yaml")

    def error(self, i: int) -> Any:
        sources = [f"a: {{{i}", f"a: {i}\na: {i + 1}", "a: int", f"x: {i} & string"]
        try:
            with cuepy.compile(sources[i % 4], filename=f"e{i}.cue") as v:
                v.to_python()
        except cuepy.CueError as exc:
            return type(exc).__name__, str(exc), [str(p) for p in exc.positions]
        return "no error"

    def navigate(self, i: int) -> Any:
        with cuepy.compile(f"a: {{b: {i}, c: [1, {i}]}}\n#d: 1\n_h: 2") as v:
            out = []
            for label, child in v.fields(definitions=True, hidden=True):
                with child:
                    out.append((label, child.kind.name, child.is_concrete()))
            return out

    def load(self, i: int) -> Any:
        with cuepy.load(self.root, overlay={"x.cue": f"package p\nx: {i}\ny: sq\n"}, tags={"n": str(i % 9)}) as v:
            return v.to_python()


@pytest.mark.slow
def test_threads_match_serial(make_module: MakeModule) -> None:
    root = make_module({"p.cue": 'package p\nn: *1 | int @tag(n, type=int)\nsq: n * n\nname: "item-\\(n)"'})
    ops = Ops(root)
    total = THREADS * PER_THREAD
    serial = [ops(i) for i in range(total)]

    results: list[Any] = [None] * total
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def run(t: int) -> None:
        barrier.wait()
        try:
            # Interleave: thread t takes t, t + 8, t + 16, ... so every kind of operation runs everywhere.
            for i in range(t, total, THREADS):
                results[i] = ops(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]
    mismatched = [i for i in range(total) if results[i] != serial[i]]
    assert not mismatched, f"{len(mismatched)} results differ, first op {mismatched[0]}: " \
                           f"{results[mismatched[0]]!r:.300} != {serial[mismatched[0]]!r:.300}"  # fmt: skip
    ops.shared.close()


def test_threads_leave_no_handles(make_module: MakeModule) -> None:
    root = make_module({"p.cue": "package p\nn: *1 | int @tag(n, type=int)\nsq: n * n"})
    cuepy.compile("warm: 1").close()
    gc.collect()
    before = cuepy.live_handles()
    ops = Ops(root)

    def run(t: int) -> None:
        for i in range(t, 800, THREADS):
            ops(i)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ops.shared.close()
    gc.collect()
    assert cuepy.live_handles() - before <= 1  # the shared compile context may have been renewed
