"""Run the fuzzer outside pytest: ``python tests/fuzz/run.py --count N``.

Inputs are made by tests/fuzz/gen.py from the seed corpus (tests/fuzz/seeds,
tests/corpus/compile) and a small CUE grammar, input ``i`` of a run being a
pure function of ``(--seed, i)``. They go to the targets of
tests/fuzz/targets.py: compile, load with overlays (CUE, JSON, YAML), encode,
extraction in every format, and cuepy.flatten and the cuepy.cache entry
reader when those exist.

A worker process runs the inputs; this process watches it. A worker that
dies (a crash of the Go side kills its process) or stops making progress on
one input for ``--timeout`` seconds is recorded with the input's number and
replaced, and the run goes on. Findings (crashes, untyped errors, wrong round
trips, internal errors) are written to ``--out`` (default: a temporary
directory) as JSON lines; ``--replay I`` runs input ``I`` alone, in this
process, with a traceback.

Exit status: 0 when nothing was found, 1 otherwise. Slow inputs (a module can
take unbounded time: that is what cuepy.limits is for) and crashes with the
signature of a known bug of CUE itself (KNOWN_CUE_BUGS) are reported, not
counted as findings.
"""

from __future__ import annotations

import argparse
import json
import mmap
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
# cuepy itself comes from the environment (the installed package; in a source
# tree built in place, PYTHONPATH=.): never put the checkout on sys.path
# here, since the test suite imports this module and its worker processes
# would then import an unbuilt source tree.

_STATE = struct.Struct("<qq")  # (index being run, inputs done)


def run_one(gen: Any, index: int) -> str:
    import targets

    inp = gen(index)
    if inp.target == "compile":
        return str(targets.fuzz_compile(inp.data))
    if inp.target.startswith("load-"):
        return str(targets.fuzz_load(inp.data, inp.target.removeprefix("load-")))
    if inp.target == "encode":
        return str(targets.fuzz_encode(inp.data))
    if inp.target == "flatten":
        return str(targets.fuzz_flatten(inp.data))
    if inp.target == "cache":
        return str(targets.fuzz_cache_entry(inp.data))
    raise ValueError(f"unknown target {inp.target}")


def worker(args: argparse.Namespace) -> int:
    """Run inputs [start, count); report progress through the state file, findings as JSON lines."""
    import targets
    from gen import Generator

    gen = Generator(args.seed, args.max_size, args.targets)
    state_file = open(args.state, "r+b")  # noqa: SIM115 - mapped for the whole run
    state = mmap.mmap(state_file.fileno(), _STATE.size)
    outcomes: Counter[str] = Counter()
    findings = open(args.findings, "a")  # noqa: SIM115
    done = 0
    for index in range(args.start, args.count):
        state[:] = _STATE.pack(index, done)
        try:
            outcomes[run_one(gen, index)] += 1
        except targets.Finding as exc:
            outcomes["FINDING"] += 1
            findings.write(json.dumps({"index": index, "kind": "finding", "input": gen(index).describe()[:2000],
                                       "error": str(exc)[:4000]}) + "\n")  # fmt: skip
            findings.flush()
        done += 1
        if done % 100 == 0:  # kept if this worker dies later
            Path(args.outcomes).write_text(json.dumps(outcomes))
    Path(args.outcomes).write_text(json.dumps(outcomes))
    state[:] = _STATE.pack(args.count, done)
    return 0


def supervise(args: argparse.Namespace) -> int:
    out = Path(args.out or tempfile.mkdtemp(prefix="cuepy-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    findings_path, state_path = out / "findings.jsonl", out / "state.bin"
    findings_path.write_text("")
    state_path.write_bytes(b"\0" * _STATE.size)
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    crashes = slow = known_crashes = 0
    start = 0
    reported = started
    print(f"fuzzing {args.count} inputs (seed {args.seed}, max size {args.max_size}); findings in {findings_path}",
          flush=True)  # fmt: skip
    while start < args.count:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--start",
            str(start),
            "--count",
            str(args.count),
            "--seed",
            str(args.seed),
            "--max-size",
            str(args.max_size),
            "--state",
            str(state_path),
            "--findings",
            str(findings_path),
            "--outcomes",
            str(out / f"outcomes-{start}.json"),
        ]
        cmd += ["--targets", *args.targets] if args.targets else []  # fmt: skip
        log_path = out / f"worker-{start}.log"
        log = open(log_path, "wb")  # noqa: SIM115
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        last, since = -1, time.monotonic()
        with open(state_path, "rb") as f:
            while proc.poll() is None:
                time.sleep(0.2)
                f.seek(0)
                index, _ = _STATE.unpack(f.read(_STATE.size))
                if index != last:
                    last, since = index, time.monotonic()
                elif time.monotonic() - since > args.timeout:
                    proc.kill()
                    proc.wait()
                    break
                if time.monotonic() - reported > 60:
                    reported = time.monotonic()
                    print(f"  {index} inputs, {reported - started:.0f} s", flush=True)
            f.seek(0)
            index, _ = _STATE.unpack(f.read(_STATE.size))
        log.close()
        counted = out / f"outcomes-{start}.json"
        if counted.exists():
            outcomes.update(json.loads(counted.read_text()))
        if proc.returncode == 0 and index >= args.count:
            break
        # The worker died on input `index`, or hung on it.
        stderr = log_path.read_text(errors="replace")
        kind = "slow" if proc.returncode in (-9, 137) and time.monotonic() - since > args.timeout else "crash"
        known = _known(stderr) if kind == "crash" else None
        if kind == "slow":
            slow += 1
        elif known:
            kind = "known-cue-bug"
            known_crashes += 1
        else:
            crashes += 1
        with open(findings_path, "a") as fw:
            fw.write(json.dumps({"index": index, "kind": kind, "returncode": proc.returncode, "known": known,
                                 "input": _describe(args, index), "stderr": stderr[-3000:]}) + "\n")  # fmt: skip
        print(f"  input {index}: {kind} (status {proc.returncode}){' ' + known if known else ''}; going on",
              flush=True)  # fmt: skip
        start = index + 1
    elapsed = time.monotonic() - started
    findings = [json.loads(line) for line in findings_path.read_text().splitlines() if line.strip()]
    bad = [f for f in findings if f["kind"] not in ("slow", "known-cue-bug")]
    summary = {
        "inputs": args.count, "seconds": round(elapsed, 1), "per_second": round(args.count / elapsed, 1),
        "crashes": crashes, "known_cue_bug_crashes": known_crashes, "slow": slow, "findings": len(bad),
        "outcomes": dict(sorted(outcomes.items())),
    }  # fmt: skip
    print(json.dumps(summary, indent=1), flush=True)
    for f in bad[:20]:
        print(f"FINDING at input {f['index']} ({f['kind']}): {f.get('error', '')[:1500]}\n  input: {f['input'][:500]}")
    return 1 if bad else 0


# Crashes of the Go side that are bugs of cuelang.org/go v0.17.1 itself, not of
# cuepy, by a signature of the dying worker's output (docs/hardening.md): the
# evaluator recursing without end until the Go runtime's fatal "stack
# overflow", which no recover() can catch. Reproducers, each a whole module:
#   x: {if false {b: 1}}   +  x: <1      (an ordered bound on a struct made only
#                                          of comprehensions: BinOp finalizes the
#                                          vertex being evaluated, again and again)
#   l: [1, l[1:]]                         (a list holding a slice of itself)
KNOWN_CUE_BUGS = {
    "evaluator-recursion": ("fatal error: stack overflow", "cuelang.org/go/internal/core/adt."),
}


def _known(stderr: str) -> str | None:
    for name, marks in KNOWN_CUE_BUGS.items():
        if all(m in stderr for m in marks):
            return name
    return None


def _describe(args: argparse.Namespace, index: int) -> str:
    from gen import Generator

    try:
        return Generator(args.seed, args.max_size, args.targets)(index).describe()[:2000]
    except Exception as exc:  # pragma: no cover
        return f"<cannot describe: {exc}>"


def replay(args: argparse.Namespace) -> int:
    from gen import Generator

    gen = Generator(args.seed, args.max_size, args.targets)
    print(gen(args.replay).describe())
    try:
        print(run_one(gen, args.replay))
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=10_000, help="inputs to run (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="run seed: input i is a function of (seed, i)")
    p.add_argument("--max-size", type=int, default=256, help="bytes per input, about (default 256)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds without progress on one input: slow")
    p.add_argument("--targets", nargs="*", help="compile load-cue load-json load-yaml encode flatten cache")
    p.add_argument("--out", help="directory for findings.jsonl and worker.log")
    p.add_argument("--replay", type=int, help="run input REPLAY alone, here, with a traceback")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    p.add_argument("--findings", help=argparse.SUPPRESS)
    p.add_argument("--outcomes", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.replay is not None:
        return replay(args)
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
