"""Soak: many mixed operations in one process; memory and handles must stay flat.

``python tests/soak/run.py --ops 100000`` runs loads, compiles, exports in
every format, unifications, fills, encodings, failing operations of every
kind, and flatten and OPM releases when those layers are there, in a fixed
random mix. After a warm-up (the first tenth) it takes the resident set
size (RSS) and the count of live libcuepy handles; at the end both must be
back: RSS within 10 % of the warm figure, handles equal. Exit status 1 if
not. tests/test_soak.py runs a short version.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# cuepy comes from the environment (installed, or PYTHONPATH=. in a source
# tree built in place); the test suite imports this module, so it must not
# put the checkout on sys.path.
import cuepy
from cuepy._native import native
from cuepy.value import ExportFormat

EXAMPLES = Path(cuepy.__file__).parent / "examples"
_FORMATS: tuple[ExportFormat, ...] = ("json", "yaml", "cue")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def settle() -> tuple[int, int]:
    """Collect Python and Go garbage; (RSS, live handles)."""
    for _ in range(3):
        gc.collect()
    native()[0].cue_gc()
    return rss_bytes(), cuepy.live_handles()


@dataclass
class SoakResult:
    ops: int
    seconds: float
    warm_rss: int
    end_rss: int
    warm_handles: int
    end_handles: int
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def rss_growth(self) -> float:
        return (self.end_rss - self.warm_rss) / self.warm_rss

    def ok(self, tolerance: float = 0.10) -> bool:
        return self.rss_growth <= tolerance and self.end_handles == self.warm_handles

    def summary(self) -> dict[str, Any]:
        return {
            "ops": self.ops, "seconds": round(self.seconds, 1),
            "warm_rss_mib": round(self.warm_rss / 2**20, 1), "end_rss_mib": round(self.end_rss / 2**20, 1),
            "rss_growth_percent": round(100 * self.rss_growth, 2),
            "warm_handles": self.warm_handles, "end_handles": self.end_handles, "ops_by_kind": dict(self.counts),
        }  # fmt: skip


class Workload:
    """The operations, each a small closed unit (every Value it makes is closed or dropped)."""

    def __init__(self, root: Path, seed: int, distinct: int = 64) -> None:
        self.rng = random.Random(seed)
        self.distinct = distinct
        self.root = root
        self.module = root / "mod"
        (self.module / "cue.mod").mkdir(parents=True)
        (self.module / "cue.mod" / "module.cue").write_text(
            'module: "soak.example/m@v0"\nlanguage: version: "v0.9.0"\n'
        )
        (self.module / "app.cue").write_text(
            'package app\nimport "soak.example/m/lib"\n'
            'svc: lib.#Service & {name: string | *"web"}\nreplicas: int | *1\n'
        )
        (self.module / "lib").mkdir()
        (self.module / "lib" / "lib.cue").write_text(
            'package lib\n#Service: {name: string, port: *8080 | int, url: "http://\\(name):\\(port)"}\n'
        )
        (self.module / "values.json").write_text('{"replicas": 3}')
        # A long-lived value in a context of its own: one compiled by cuepy.compile would keep the
        # shared compile context (and its handle) alive past its renewal.
        self.schema = cuepy.Context().compile("#S: {name: string, n: int & >=0, tags: [...string]}\ns: #S")
        self.flatten = _optional("cuepy.flatten")
        self.opm = _optional("cuepy.opm")
        self.values: Any = None
        self.ops: list[tuple[str, int, Callable[[int], None]]] = [
            ("compile", 30, self.compile_python),
            ("export", 15, self.compile_export),
            ("load", 8, self.load),
            ("unify", 10, self.unify),
            ("fill", 8, self.fill),
            ("encode", 8, self.encode),
            ("navigate", 6, self.navigate),
            ("error", 15, self.error),
        ]
        if self.flatten is not None:
            self.ops.append(("flatten", 1, self.flatten_example))
        if self.opm is not None and hasattr(self.opm, "release"):
            self.ops.append(("release", 1, self.release_example))
        self.names = [n for n, _, _ in self.ops]
        self.weights = [w for _, w, _ in self.ops]

    def close(self) -> None:
        self.schema.close()

    def step(self, i: int) -> str:
        k = self.rng.choices(range(len(self.ops)), self.weights)[0]
        name, _, fn = self.ops[k]
        fn(i)
        return name

    # Operations --------------------------------------------------------------------

    def compile_python(self, i: int) -> None:
        with cuepy.compile(f'a: {i}\nb: {{x: a + 1, s: "n\\(a)"}}\nc: [for x in [1, 2, 3] {{x * a}}]') as v:
            assert v.to_python()["b"]["x"] == i + 1

    def compile_export(self, i: int) -> None:
        with cuepy.compile(f"#D: {{n: int}}\nd: #D & {{n: {i}}}\nt: \"x\"\nb: '\\x00{i % 256:02x}'") as v:
            fmt = _FORMATS[i % 3]
            assert str(i) in v.export(fmt, final=(fmt == "cue" and i % 2 == 0))

    def load(self, i: int) -> None:
        if i % 2:
            # A controller loads the same few modules again and again: a few overlay
            # contents (64 by default).
            n = i % self.distinct
            with cuepy.load(self.module, overlay={"extra.cue": f"package app\nextra: {n}\n"}) as v:
                assert cuepy.extract(v, "extra") == n
        else:
            with cuepy.load(self.module, files=["app.cue", "values.json"]) as v:
                assert cuepy.extract(v, "svc.url", format="json") == '"http://web:8080"'

    def unify(self, i: int) -> None:
        with cuepy.unify(self.schema, {"s": {"name": f"n{i}", "n": i, "tags": ["a"]}}) as v:
            v.validate(concrete=True)
            assert cuepy.extract(v, "s.n") == i

    def fill(self, i: int) -> None:
        with self.schema.fill("s", {"name": "f", "n": i % 7, "tags": []}) as v, v.lookup("s.n") as n:
            assert n.to_python() == i % 7

    def encode(self, i: int) -> None:
        data = {"i": i, "big": 10**30 + i, "f": i / 3, "s": "é" * (i % 5), "b": bytes([i % 256]), "l": [None, True]}
        with cuepy.encode(data) as v:
            assert v.to_python() == data

    def navigate(self, i: int) -> None:
        with cuepy.compile(f"a: {{b: {i}, c: [1, 2]}}\nd: *1 | int") as v:
            for _, child in v.fields():
                with child:
                    child.kind  # noqa: B018
            with v.lookup("a.c") as c:
                for e in c.elements():
                    e.close()
            with v.lookup("d") as d, d.default() as dd:
                assert dd.to_python() == 1

    def error(self, i: int) -> None:
        kind = i % 6
        try:
            if kind == 0:
                cuepy.compile(f"a: {{{i}")
            elif kind == 1:
                cuepy.compile(f"a: {i}\na: {i + 1}")
            elif kind == 2:
                with cuepy.compile("a: int") as v:
                    v.export("json")
            elif kind == 3:
                with cuepy.compile("a: 1") as v:
                    v.lookup("nope")
            elif kind == 4:
                cuepy.load(self.module, files=["missing.cue"])
            else:
                with cuepy.unify(self.schema, {"s": {"n": -1}}) as v:
                    v.validate(concrete=True)
        except cuepy.CueError:
            return
        raise AssertionError(f"error operation {kind} did not fail")

    def flatten_example(self, i: int) -> None:
        assert self.flatten is not None
        self.flatten.flatten(EXAMPLES / "simple", file="module_definition.cue", verify=i % 2 == 0)

    def release_example(self, i: int) -> None:
        assert self.opm is not None
        if self.values is None:
            with cuepy.load(EXAMPLES / "simple", files=["values.cue"]) as v:
                self.values = cuepy.extract(v, "values")
        self.opm.release(EXAMPLES / "simple", self.values, namespace=f"soak-{i % 3}", file="module_definition.cue")


def _optional(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def soak(ops: int, *, seed: int = 0, distinct: int = 64, report: Callable[[str], None] | None = None) -> SoakResult:
    """Run ``ops`` operations; measure after the first tenth (the warm-up) and at the end."""
    with tempfile.TemporaryDirectory(prefix="cuepy-soak-") as tmp:
        work = Workload(Path(tmp), seed, distinct)
        counts: Counter[str] = Counter()
        warm = max(ops // 10, 1)
        start = time.monotonic()
        warm_rss = warm_handles = 0
        for i in range(ops):
            if i == warm:
                warm_rss, warm_handles = settle()
                if report:
                    report(f"warm after {warm} ops: RSS {warm_rss / 2**20:.1f} MiB, {warm_handles} handles")
            counts[work.step(i)] += 1
            if report and i and i % 10_000 == 0:
                report(f"{i} ops, {time.monotonic() - start:.0f} s, RSS {rss_bytes() / 2**20:.1f} MiB")
        end_rss, end_handles = settle()
        result = SoakResult(ops, time.monotonic() - start, warm_rss, end_rss, warm_handles, end_handles, counts)
        work.close()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--distinct-overlays",
        type=int,
        default=64,
        help="distinct overlay contents among the loads (default 64; as many as loads: every one new)",
    )
    args = p.parse_args()
    result = soak(args.ops, seed=args.seed, distinct=args.distinct_overlays, report=lambda s: print(s, flush=True))
    print(json.dumps(result.summary(), indent=1))
    ok = result.ok()
    print("OK" if ok else "FAILED: RSS grew more than 10 % or handles were left", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
