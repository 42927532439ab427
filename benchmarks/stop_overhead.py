"""What the evaluator hooks of go/cmd/cuepatch cost: this checkout against a baseline built
without them (a checkout of a commit before them, built in place).

    git worktree add /tmp/base f59f8f8 && (cd /tmp/base && python build_cue.py --inplace)
    python benchmarks/stop_overhead.py --baseline /tmp/base

Each round runs both builds in fresh processes, interleaved (the machine is shared and
noisy); each process times its workload several times and reports its best. Prints the
per-workload median ratio hooked / baseline (1.00: no cost).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
import cuepy, cuepy.examples
chain = "".join(f"a{i}: a{i + 1}\n" for i in range(400)) + "a400: 1\n"
fields = "#S: [string]: {a: int, b: a + 1, c: [for i in [1, 2, 3] {i * a}]}\nx: #S & {\n" + "".join(
    f"f{i}: a: {i}\n" for i in range(2000)) + "}\n"
work = {
    "large example (definition)": lambda: cuepy.load(cuepy.examples.path("large"),
                                                     files=["module_definition.cue"]).to_python(),
    "large example (compiled)": lambda: cuepy.load(cuepy.examples.path("large"),
                                                   files=["module_compiled.cue"]).to_python(),
    "reference chain (400)": lambda: cuepy.Context().compile(chain).to_python(),
    "2,000 constrained fields": lambda: cuepy.Context().compile(fields).to_python(),
}
best = {}
for name, fn in work.items():
    fn()
    times = []
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    best[name] = min(times)
print(json.dumps(best))
"""


def run(checkout: Path, repeat: int) -> dict[str, float]:
    env = {"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(repeat)], env=env, capture_output=True, text=True,
                         cwd=checkout)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: the workload failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout without the hooks, built in place")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {}
    for r in range(args.rounds):
        pair = [("base", args.baseline), ("hooked", ROOT)]
        if r % 2:
            pair.reverse()
        got = {label: run(path, args.repeat) for label, path in pair}
        for name, hooked in got["hooked"].items():
            ratios.setdefault(name, []).append(hooked / got["base"][name])
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in ratios.items()), flush=True)
    print("\nhooked / baseline (median of rounds):")
    for name, values in ratios.items():
        print(f"  {name:28s} {statistics.median(values):.3f}  (rounds {min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
