"""The binding's overhead: cuepy against a plain Go program on the same CUE version.

Builds go/cmd/cuepy-native (the Go anchor), then measures in one run:
- lookup + to_python of a scalar, per call;
- load + extract (whole value as JSON) of the large example, per operation.
Prints each time and the ratio cuepy / Go. Run: python benchmarks/core_overhead.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cuepy
from cuepy._embedded import CATALOG_DIR, CATALOG_MODULE, CATALOG_VERSION
from cuepy.examples import path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import build_cue  # noqa: E402


def build_anchor() -> Path:
    out = Path(tempfile.mkdtemp()) / "cuepy-native"
    subprocess.run([build_cue.find_go(), "build", "-o", str(out), "./cmd/cuepy-native"], cwd=ROOT / "go", check=True)
    return out


def go_ns(anchor: Path, *args: str) -> float:
    out = subprocess.run([str(anchor), *args], capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["ns_per_op"])


def py_scalar_ns(n: int) -> float:
    v = cuepy.compile('a: b: {c: "hello", d: 42}')
    for _ in range(1000):
        v.lookup("a.b.c").to_python()
    start = time.perf_counter_ns()
    for _ in range(n):
        v.lookup("a.b.c").to_python()
    return (time.perf_counter_ns() - start) / n


def py_load_ns(directory: Path, files: list[str], n: int) -> float:
    def op() -> None:
        with cuepy.load(directory, files=files) as v:
            cuepy.extract(v, format="json")

    for _ in range(2):
        op()
    start = time.perf_counter_ns()
    for _ in range(n):
        op()
    return (time.perf_counter_ns() - start) / n


def main() -> None:
    anchor = build_anchor()
    module_flag = f"{CATALOG_MODULE.split('@')[0]}@{CATALOG_VERSION}={CATALOG_DIR}"
    rows = []
    scalar_go, scalar_py = [], []
    for _ in range(5):  # interleaved rounds: the machine is shared and noisy
        scalar_go.append(go_ns(anchor, "scalar", "-n", "200000"))
        scalar_py.append(py_scalar_ns(200000))
    rows.append(("lookup+to_python (scalar)", statistics.median(scalar_py), statistics.median(scalar_go)))
    large = path("large")
    for file in ("module_definition.cue", "module_compiled.cue"):
        go, py = [], []
        for _ in range(5):
            go.append(go_ns(anchor, "load", "-n", "5", "-module", module_flag, str(large), file, "values.cue"))
            py.append(py_load_ns(large, [file, "values.cue"], 5))
        rows.append((f"load+extract large/{file}", statistics.median(py), statistics.median(go)))
    print(f"cuepy {cuepy.__version__}, CUE {cuepy.__cue_version__}")
    print(f"{'operation':44} {'cuepy':>12} {'Go':>12} {'cuepy/Go':>9}")
    for name, py_ns, go_ns_ in rows:
        print(f"{name:44} {py_ns / 1e3:>10.1f}us {go_ns_ / 1e3:>10.1f}us {py_ns / go_ns_:>8.2f}x")


if __name__ == "__main__":
    main()
