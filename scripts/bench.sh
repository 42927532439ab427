#!/usr/bin/env bash
# The main job on the embedded examples, from a fresh checkout: install
# cuepy, then load each example module (ModuleDefinition and hand-compiled
# Module) and print the time each takes and their ratio.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" bench
.venv/bin/python - <<'PY'
import statistics, time
import cuepy
from cuepy.examples import path

def load_ms(name: str, file: str) -> float:
    start = time.perf_counter()
    v = cuepy.load(path(name), files=[file, "values.cue"])
    cuepy.extract(v, "metadata", format="json")
    return (time.perf_counter() - start) * 1000

print(f"cuepy {cuepy.__version__}, CUE {cuepy.__cue_version__}")
print(f"{'example':10} {'components':>10} {'definition ms':>14} {'compiled ms':>12} {'ratio':>6}")
for name in ("simple", "moderate", "large"):
    runs = {f: [] for f in ("module_definition.cue", "module_compiled.cue")}
    for _ in range(5):
        for f in runs:
            runs[f].append(load_ms(name, f))
    d, c = (statistics.median(runs[f]) for f in runs)
    n = len(list(cuepy.load(path(name), files=["module_compiled.cue"]).lookup("#components").fields()))
    print(f"{name:10} {n:>10} {d:>14.1f} {c:>12.1f} {d / c:>5.1f}x")
PY
