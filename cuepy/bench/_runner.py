"""``run``: every path on every module, interleaved, timed, traced."""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cuepy
from cuepy._embedded import CATALOG_DIR, CATALOG_MODULE, CATALOG_VERSION
from cuepy.api import registry_name
from cuepy.bench import _tools
from cuepy.bench._analysis import goals, ratios, scaling
from cuepy.bench._models import PATHS, BenchConfig, BenchResults, Machine, PathName, Row, UserModule
from cuepy.bench._progress import Progress
from cuepy.bench._report import StageReport, StageStats, report, trace
from cuepy.stop import cores
from cuepy.trace import failure_fields, memstats

DEFINITION_FILE = "module_definition.cue"
COMPILED_FILE = "module_compiled.cue"
VALUES_FILE = "values.cue"
EXAMPLE_COMPONENTS = {"simple": 2, "moderate": 4, "large": 12, "nested": 1}
SLOW_NS = 1e9
"""An operation this slow is not warmed up twice: its first run (cold costs are noise there) is a round."""
RELEASE = "release"
"""The extra measurement behind render_hit's baseline: the same release computed through CUE."""


# Modules --------------------------------------------------------------------------


@dataclass
class BenchModule:
    name: str
    components: int
    directory: Path
    compiled: str | None
    file: str = DEFINITION_FILE
    load_options: cuepy.LoadOptions = field(default_factory=cuepy.LoadOptions)
    """How every load of the module resolves its dependencies (a user's module: its registry and
    modules served from directories)."""
    values_file: Path | None = None
    """A data file of values (a user's module); the examples' values.cue otherwise."""
    _values: dict[str, Any] | None = None

    def values(self) -> dict[str, Any] | None:
        """The values a release is given, as data (None: none known)."""
        if self._values is None:
            if self.values_file is not None:
                with cuepy.load(self.values_file.parent, files=[self.values_file.name]) as v:
                    data = v.to_python()
            elif (self.directory / VALUES_FILE).is_file():
                with cuepy.load(self.directory, files=[VALUES_FILE]) as v:
                    data = v.lookup("values").to_python()
            else:
                return None
            self._values = data if isinstance(data, dict) else {}
        return self._values


def module_names(spec: str) -> tuple[str, ...]:
    """``"simple,large,24"`` as a tuple of module names."""
    return tuple(s.strip() for s in spec.split(",") if s.strip())


def _prepare_module(name: str, seed: int, workdir: Path) -> BenchModule:
    from cuepy.examples import EXAMPLES, generate, path

    if name in EXAMPLES:
        d = path(name)
        compiled = COMPILED_FILE if (d / COMPILED_FILE).is_file() else None
        return BenchModule(name, EXAMPLE_COMPONENTS.get(name, 0), d, compiled)
    try:
        n = int(name.removeprefix("generated-"))
    except ValueError:
        raise ValueError(f"unknown module {name!r}: an example ({', '.join(EXAMPLES)}) or a component count") from None
    d = generate(n, seed=seed, directory=workdir / f"generated-{n}")
    return BenchModule(f"generated-{n}", n, Path(d), None)


def _prepare_user_module(user: UserModule) -> BenchModule:
    options = user.load_options()
    directory = user.directory.absolute()
    if user.compiled is not None and not (directory / user.compiled).is_file():  # (not a silent fallback)
        raise FileNotFoundError(errno.ENOENT, "the compiled module is not a file", str(directory / user.compiled))
    components = user.components
    if not components:
        import cuepy.opm

        components = len(cuepy.opm.read(directory, file=user.file, options=options).components)
    return BenchModule(user.name, components, directory, user.compiled, user.file, options,
                       user.values.absolute() if user.values else None)  # fmt: skip


# Paths --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    ns: float
    bytes: float | None
    allocs: float | None
    cpu: float | None = None


class Bench(ABC):
    """One path on one module: untimed warm-up operations (traced), timed rounds, maybe a longer traced split."""

    path: str
    first_is_miss: bool = False
    """The first operation fills a cache: a second untimed one follows before timing."""

    @abstractmethod
    def once(self) -> tuple[Sample, StageReport | None]:
        """One warm-up operation, traced where the path can be: its measures and its stage split."""

    @abstractmethod
    def sample(self, batch: int) -> Sample:
        """``batch`` operations; the mean per operation."""

    def stages(self, ops: int) -> StageReport | None:
        """The stage split of ``ops`` traced operations (None: only what ``once`` gives)."""
        return None


class PyBench(Bench):
    def __init__(self, path: str, op: Callable[[], object], *, first_is_miss: bool = False) -> None:
        self.path = path
        self.op = op
        self.first_is_miss = first_is_miss

    def once(self) -> tuple[Sample, StageReport | None]:
        before, cpu = memstats(), time.process_time_ns()
        split = self.stages(1)
        cpu, after = time.process_time_ns() - cpu, memstats()
        sample = Sample(float(split.wall_ns or 0), after.alloc_bytes - before.alloc_bytes,
                        after.alloc_objects - before.alloc_objects, cpu)  # fmt: skip
        return sample, split

    def sample(self, batch: int) -> Sample:
        op = self.op
        before = memstats()
        cpu = time.process_time_ns()
        start = time.perf_counter_ns()
        for _ in range(batch):
            op()
        elapsed = time.perf_counter_ns() - start
        cpu = time.process_time_ns() - cpu
        after = memstats()
        return Sample(elapsed / batch, (after.alloc_bytes - before.alloc_bytes) / batch,
                      (after.alloc_objects - before.alloc_objects) / batch, cpu / batch)  # fmt: skip

    def stages(self, ops: int) -> StageReport:
        # (what logs through structlog's defaults while traced would land on stdout, the --json channel)
        with trace() as collected, contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter_ns()
            for _ in range(ops):
                self.op()
            wall = time.perf_counter_ns() - start
        return report(collected, ops=ops, wall_ns=wall)


class AnchorBench(Bench):
    path = "go_native"

    def __init__(self, anchor: Path, module: BenchModule) -> None:
        self.anchor, self.module = anchor, module
        self.modules = {f"{CATALOG_MODULE.split('@')[0]}@{CATALOG_VERSION}": CATALOG_DIR}
        self.warmup = 1
        self.startup_cpu: int | None = None

    def _run(self, n: int, warmup: int) -> _tools.AnchorResult:
        options = self.module.load_options
        modules = {**self.modules, **{k: Path(v) for k, v in (options.modules or {}).items()}}
        return _tools.run_anchor(self.anchor, self.module.directory, [self.module.file], modules, n, warmup,
                                 registry=registry_name(options.registry))  # fmt: skip

    def once(self) -> tuple[Sample, StageReport | None]:
        if self.startup_cpu is None:
            self.startup_cpu = _tools.anchor_startup_cpu(self.anchor)
        r = self._run(1, 0)
        self.warmup = 1 if r.ns_per_op < SLOW_NS else 0  # (a slow operation's cold costs are noise)
        cpu = max(0, r.cpu_ns - self.startup_cpu)
        return Sample(r.ns_per_op, r.bytes_per_op, r.allocs_per_op, cpu), None

    def sample(self, batch: int) -> Sample:
        r = self._run(batch, self.warmup)
        # CPU per operation: the process's, less an idle process's, over every operation it ran (warm-up too)
        cpu = max(0, r.cpu_ns - (self.startup_cpu or 0)) / (batch + self.warmup)
        return Sample(r.ns_per_op, r.bytes_per_op, r.allocs_per_op, cpu)


class CueCliBench(Bench):
    path = "cue_cli"

    def __init__(self, cue: Path, module: BenchModule, env: dict[str, str], workdir: Path) -> None:
        self.cue, self.module, self.env = cue, module, env
        self.stats_file = workdir / "cue-stats.json"
        self.last: _tools.CueRun | None = None

    def _run(self) -> _tools.CueRun:
        self.last = _tools.run_cue(self.cue, self.module.directory, [self.module.file], self.env, self.stats_file)
        return self.last

    def once(self) -> tuple[Sample, StageReport | None]:
        return self.sample(1), self._split(self.last) if self.last is not None else None

    def sample(self, batch: int) -> Sample:
        runs = [self._run() for _ in range(batch)]
        go = [r.stats.get("Go", {}) for r in runs]
        alloc_bytes = [g["AllocBytes"] for g in go if "AllocBytes" in g]
        alloc_objects = [g["AllocObjects"] for g in go if "AllocObjects" in g]
        return Sample(statistics.fmean(r.wall_ns for r in runs),
                      statistics.fmean(alloc_bytes) if alloc_bytes else None,
                      statistics.fmean(alloc_objects) if alloc_objects else None,
                      statistics.fmean(r.cpu_ns for r in runs))  # fmt: skip

    def stages(self, ops: int) -> StageReport | None:
        return self._split(self.last) if self.last is not None else None

    @staticmethod
    def _split(run: _tools.CueRun) -> StageReport:
        cue, go = run.stats.get("CUE", {}), run.stats.get("Go", {})
        stage = StageStats(
            stage="cue eval (process)", count=1, total_ns=run.wall_ns, median_ns=float(run.wall_ns),
            min_ns=run.wall_ns, max_ns=run.wall_ns,
            alloc_bytes=int(go.get("AllocBytes", 0)), alloc_objects=int(go.get("AllocObjects", 0)),
            unifications=int(cue.get("Unifications", 0)), disjuncts=int(cue.get("Disjuncts", 0)),
            conjuncts=int(cue.get("Conjuncts", 0)),
        )  # fmt: skip
        return StageReport(ops=1, wall_ns=run.wall_ns, stages=(stage,))


def _export(value: cuepy.Value) -> None:
    with value:
        cuepy.extract(value, format="json")


@dataclass
class _Shared:
    """What every module's benches share in one run."""

    config: BenchConfig
    workdir: Path
    notes: list[str]
    tools: _tools.Tools | None = None
    cue_env: dict[str, str] = field(default_factory=dict)
    cache: Any = None
    """a cuepy.cache.Cache in the run's directory"""


def _benches(module: BenchModule, shared: _Shared) -> list[Bench]:
    """The benches of the configured paths that apply to ``module`` (a note for each that cannot run)."""
    want = set(shared.config.paths)
    d = module.directory
    benches: list[Bench] = []

    def skip(path: str, why: str) -> None:
        shared.notes.append(f"{module.name}: {path} not measured: {why}")

    file, options = module.file, module.load_options
    if "definition" in want:
        benches.append(PyBench("definition", lambda: _export(cuepy.load(d, files=[file], options=options))))
    if "compiled" in want and module.compiled is not None:
        compiled = module.compiled
        benches.append(PyBench("compiled", lambda: _export(cuepy.load(d, files=[compiled], options=options))))
    if "flattened" in want:
        try:
            from cuepy.flatten import flatten

            result = flatten(d, file=file, verify=False, options=options)
            benches.append(PyBench("flattened", lambda: _export(result.load())))
        except Exception as exc:
            skip("flattened", _why(exc))
    if want & {"cached", "render_hit", "render"}:
        if shared.cache is None:
            skip("cached/render_hit/render", "cuepy.cache is not available")
        else:
            from cuepy.opm import ModuleRelease, release, render
            from cuepy.opm import load as load_module
            from cuepy.opm import render_release as cached_render

            cache = shared.cache
            if "cached" in want:
                benches.append(PyBench("cached", lambda: _export(load_module(d, file=file, cache=cache,
                                                                             options=options)),
                                       first_is_miss=True))  # fmt: skip
            values = module.values() if want & {"render_hit", "render"} else None
            if want & {"render_hit", "render"} and values is None:
                skip("render_hit/render", "no values for the module (give a values file)")
            if "render" in want and values is not None:
                ns = shared.config.namespace
                benches.append(PyBench("render", lambda: render(d, values, namespace=ns, file=file, cache=cache,
                                                                options=options),
                                       first_is_miss=True))  # fmt: skip
            if "render_hit" in want and values is not None:
                ns = shared.config.namespace
                benches.append(PyBench("render_hit", lambda: ModuleRelease.model_validate(cached_render(
                    d, values, namespace=ns, file=file, cache=cache, options=options)),
                    first_is_miss=True))  # fmt: skip
                benches.append(PyBench(RELEASE, lambda: release(d, values, namespace=ns, file=file, options=options)))
    tools = shared.tools
    if tools is not None and tools.anchor is not None and "go_native" in want:
        benches.append(AnchorBench(tools.anchor, module))
    if tools is not None and tools.cue is not None and "cue_cli" in want:
        if options.modules is not None:
            skip("cue_cli", "the cue command cannot serve modules from directories (publish them to a registry)")
        else:
            registry = registry_name(options.registry)
            env = dict(shared.cue_env, CUE_REGISTRY=registry) if registry else shared.cue_env
            benches.append(CueCliBench(tools.cue, module, env, shared.workdir))
    order = {p: i for i, p in enumerate((*PATHS, RELEASE))}
    return sorted(benches, key=lambda b: order[b.path])


def _why(exc: BaseException) -> str:
    failure = failure_fields(exc)
    where = f" ({failure['position']})" if "position" in failure else ""
    return f"{type(exc).__name__}: {failure['error']}{where}"


# Running -------------------------------------------------------------------------


@dataclass
class _Plan:
    bench: Bench
    first_ns: float
    estimate_ns: float
    batch: int = 1
    rounds: int = 1
    samples: list[Sample] = field(default_factory=list)
    stages: StageReport | None = None
    failed: str = ""


def _rotated(items: list[_Plan], k: int) -> Iterator[_Plan]:
    if not items:
        return
    k %= len(items)
    yield from items[k:]
    yield from items[:k]


def _bench_module(module: BenchModule, shared: _Shared, progress: Progress) -> list[Row]:
    config = shared.config
    progress.label(f"{module.name}: preparing")
    benches = _benches(module, shared)
    units = config.repeats + 2
    progress.add(max(0, len(benches) - len(PATHS)) * units)
    progress.update(max(0, len(PATHS) - len(benches)) * units)
    plans: list[_Plan] = []
    for bench in benches:
        # Warm-up: a first operation, and a second one after a cache miss or when cheap. A slow
        # operation (>= 1 s) that fills no cache is not repeated: it counts as the first round.
        progress.label(f"{module.name}: warming up {bench.path}")
        try:
            first, split = bench.once()
            estimate, counted = first, not bench.first_is_miss and first.ns >= SLOW_NS
            if not counted:
                estimate, split = bench.once()
        except Exception as exc:
            shared.notes.append(f"{module.name}: {bench.path} failed: {_why(exc)}")
            progress.update(units)
            continue
        plan = _Plan(bench, first.ns, max(estimate.ns, 1.0), stages=split, samples=[first] if counted else [])
        plan.batch = 1 if counted else max(1, math.ceil(config.round_seconds * 1e9 / plan.estimate_ns))
        affordable = int(config.path_seconds * 1e9 / (plan.estimate_ns * plan.batch))
        plan.rounds = max(config.min_repeats, min(config.repeats, affordable))
        plans.append(plan)
        progress.update(1 + config.repeats - plan.rounds + len(plan.samples))
    for r in range(max((p.rounds for p in plans), default=0)):  # interleaved: the machine is shared and noisy
        for plan in _rotated(plans, r):
            if len(plan.samples) >= plan.rounds or plan.failed:
                continue
            progress.label(f"{module.name}: {plan.bench.path} round {len(plan.samples) + 1}/{plan.rounds}")
            try:
                plan.samples.append(plan.bench.sample(plan.batch))
            except Exception as exc:
                plan.failed = _why(exc)
                shared.notes.append(f"{module.name}: {plan.bench.path} failed: {plan.failed}")
            progress.update(1)
    for plan in plans:  # the warm-up's split, or a longer one where it is cheap
        progress.label(f"{module.name}: stage split of {plan.bench.path}")
        affordable = plan.estimate_ns * config.stage_ops <= config.path_seconds * 1e9 / 5
        try:
            if not plan.failed and ((config.stage_ops > 1 and affordable) or plan.stages is None):
                plan.stages = plan.bench.stages(config.stage_ops if affordable else 1) or plan.stages
        except Exception as exc:
            shared.notes.append(f"{module.name}: stage split of {plan.bench.path} failed: {_why(exc)}")
        progress.update(1)
    return _rows(module, plans)


def _rows(module: BenchModule, plans: list[_Plan]) -> list[Row]:
    by_path = {p.bench.path: p for p in plans if p.samples and not p.failed}
    rows = []
    for path in PATHS:
        plan = by_path.get(path)
        if plan is None:
            continue
        extra: dict[str, Any] = {}
        if path == "render_hit" and RELEASE in by_path:
            baseline = by_path[RELEASE]
            cpu = [s.cpu for s in baseline.samples if s.cpu is not None]
            extra = {"baseline_ns_per_op": statistics.median(s.ns for s in baseline.samples),
                     "baseline_cpu_ns_per_op": statistics.median(cpu) if cpu else None,
                     "baseline_stages": baseline.stages}  # fmt: skip
        rows.append(_row(module, path, plan, extra))
    return rows


def _row(module: BenchModule, path: PathName, plan: _Plan, extra: dict[str, Any]) -> Row:
    times = sorted(s.ns for s in plan.samples)
    median = statistics.median(times)
    q1, q3 = (
        (statistics.quantiles(times, n=4, method="inclusive")[i] for i in (0, 2))
        if len(times) > 1
        else (median, median)
    )
    mem = [s.bytes for s in plan.samples if s.bytes is not None]
    objects = [s.allocs for s in plan.samples if s.allocs is not None]
    cpu = [s.cpu for s in plan.samples if s.cpu is not None]
    return Row(
        module=module.name,
        components=module.components,
        path=path,
        ns_per_op=median,
        ns_min=times[0],
        ns_q1=q1,
        ns_q3=q3,
        ns_max=times[-1],
        rounds=len(times),
        ops_per_round=plan.batch,
        first_ns=plan.first_ns,
        bytes_per_op=statistics.median(mem) if mem else None,
        allocs_per_op=statistics.median(objects) if objects else None,
        cpu_ns_per_op=statistics.median(cpu) if cpu else None,
        ns_per_component=median / max(1, module.components),
        stages=plan.stages,
        **extra,
    )


# Set-up -------------------------------------------------------------------------


def machine(go_version: str = "") -> Machine:
    """The machine, the versions, the load right now."""
    cpus = cores()
    model, memory = platform.processor() or platform.machine(), 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return Machine(
        cpus=cpus,
        cpu_model=model,
        memory_bytes=memory,
        platform=platform.platform(),
        python=sys.version.split()[0],
        cuepy_version=cuepy.__version__,
        cue_version=str(cuepy.__cue_version__),
        go_version=go_version or "unknown",
        load_average=(round(load[0], 2), round(load[1], 2), round(load[2], 2)) if load else None,
    )


@contextlib.contextmanager
def _setup(config: BenchConfig, workdir: Path, notes: list[str], progress: Progress) -> Iterator[_Shared]:
    shared = _Shared(config, workdir, notes)
    want = set(config.paths)
    if want & {"cached", "render_hit", "render"}:
        try:
            from cuepy.cache import Cache

            # A warm process's cache: a repeat load returns the kept Module (loading
            # the stored Module, as a new process does, is benchmarks/cache_bench.py's).
            shared.cache = Cache(workdir / "cuepy-cache")
        except ImportError as exc:
            notes.append(f"cached, render_hit, render not measured: cuepy.cache is not available ({exc})")
    registry: cuepy.Registry | None = None
    if want & {"go_native", "cue_cli"}:
        go_dir = _tools.find_go_dir(config.go_dir)
        if go_dir is None:
            notes.append("go_native, cue_cli not measured: cuepy's go/ directory not found "
                         "(run from a checkout, or pass --go-dir / set CUEPY_GO_DIR)")  # fmt: skip
        else:
            try:
                names = tuple(n for p, n in (("go_native", "cuepy-native"), ("cue_cli", "cue")) if p in want)
                shared.tools = _tools.build(go_dir, names, on_build=lambda name, go: progress.note(
                    f"building {name} with {go} (once per source change)"))  # fmt: skip
            except (RuntimeError, OSError) as exc:
                notes.append(f"go_native, cue_cli not measured: {exc}")
    try:
        if shared.tools is not None and shared.tools.cue is not None:
            registry = cuepy.Registry("127.0.0.1:0")
            registry.publish(CATALOG_DIR, CATALOG_VERSION)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CUE_")}
            shared.cue_env = dict(env, CUE_REGISTRY=registry.registry, CUE_CACHE_DIR=str(workdir / "cue-cache"))
        yield shared
    finally:
        if registry is not None:
            registry.close()


def run(
    config: BenchConfig | None = None,
    *,
    progress: bool = True,
    command: str = "",
    **options: Any,
) -> BenchResults:
    """Run the benchmark: each configured path on each module, interleaved, then ratios and goals.

    ``config`` (default: the full run; ``BenchConfig.quick_config()`` for the
    one-minute one) or ``options`` (fields of :class:`BenchConfig`, e.g.
    ``modules=("simple", "24")``, ``paths=("definition", "compiled")``).
    ``progress`` draws a progress bar on stderr; ``command`` is recorded in
    the results (how they were made).
    """
    config = (config or BenchConfig()).model_copy(update=options) if options else (config or BenchConfig())
    config = BenchConfig.model_validate(config.model_dump())  # (validate the updates)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    notes: list[str] = []
    rows: list[Row] = []
    count = len(config.modules) + len(config.user_modules)
    bar = Progress(count * len(PATHS) * (config.repeats + 2), enabled=progress)
    go_version = ""
    try:
        with tempfile.TemporaryDirectory(prefix="cuepy-bench-") as tmp, _setup(config, Path(tmp), notes, bar) as shared:
            go_version = shared.tools.go_version if shared.tools else ""
            for name in config.modules:
                module = _prepare_module(name, config.seed, Path(tmp))
                rows.extend(_bench_module(module, shared, bar))
            for user in config.user_modules:
                rows.extend(_bench_module(_prepare_user_module(user), shared, bar))
    finally:
        bar.close()
    table = tuple(rows)
    return BenchResults(
        machine=machine(go_version),
        config=config,
        command=command or f"cuepy.bench.run({config.model_dump(exclude_defaults=True)})",
        started=started,
        seconds=round(time.monotonic() - clock, 1),
        results=table,
        ratios=ratios(table),
        scaling=scaling(table),
        goals=goals(table),
        notes=tuple(notes),
    )
