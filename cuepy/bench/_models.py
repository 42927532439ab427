"""The benchmark's results as pydantic models (frozen): rows, ratios, scaling, goals."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator

from cuepy.api import LoadOptions
from cuepy.bench._report import StageReport, _Frozen

PathName = Literal["definition", "compiled", "flattened", "cached", "render_hit", "render", "go_native", "cue_cli"]
PATHS: tuple[PathName, ...] = get_args(PathName)
"""Every benchmark path, in display order."""

EXAMPLE_MODULES: tuple[str, ...] = ("simple", "moderate", "large")
GENERATED_SIZES: tuple[int, ...] = (24, 48, 96, 192, 384)


class UserModule(_Frozen):
    """A module of one's own to benchmark (``cuepy bench --module DIR``), on any catalog."""

    directory: Path
    """The module's directory (inside a CUE module)."""
    file: str = "module_definition.cue"
    """The module file: the ModuleDefinition (with blueprints) to measure."""
    compiled: str | None = None
    """A hand-compiled form of the same module in ``directory``, if there is one (the compiled path)."""
    values: Path | None = None
    """A JSON or YAML file of values for the module (render_hit, its release, render); without it those
    are not measured."""
    registry: str | None = None
    """CUE_REGISTRY for the module's dependencies (as ``cuepy.load(registry=)``)."""
    dependencies: dict[str, Path] = Field(default_factory=dict)
    """Modules served from directories, ``"path@vX.Y.Z"`` -> directory (as ``cuepy.load(modules=)``)."""
    components: int = 0
    """Its number of components, for the table (0: counted when loaded)."""

    @property
    def name(self) -> str:
        return f"{self.directory.name}/{self.file}"

    def load_options(self) -> LoadOptions:
        """How its loads resolve dependencies: ``registry`` and ``dependencies`` as a LoadOptions."""
        return LoadOptions(registry=self.registry or None,
                           modules={k: str(v) for k, v in self.dependencies.items()} or None)  # fmt: skip


class BenchConfig(_Frozen):
    """What ``cuepy.bench.run`` measures and how long it tries."""

    modules: tuple[str, ...] = Field(
        default=(*EXAMPLE_MODULES, *(str(n) for n in GENERATED_SIZES)),
        description="example names (simple, moderate, large, nested) and component counts of generated modules",
    )
    paths: tuple[PathName, ...] = PATHS
    repeats: int = Field(default=7, ge=1, description="timed rounds per path and module (at most)")
    min_repeats: int = Field(default=3, ge=1, description="timed rounds per path and module (at least)")
    round_seconds: float = Field(
        default=0.3, gt=0, description="a round repeats the operation until it lasts this long"
    )
    path_seconds: float = Field(
        default=25.0, gt=0, description="fewer rounds (down to min_repeats) beyond this per path"
    )
    stage_ops: int = Field(default=3, ge=1, description="traced operations for the stage split (fewer for slow paths)")
    seed: int = Field(default=0, description="seed of the generated modules")
    namespace: str = "bench"
    go_dir: Path | None = Field(
        default=None, description="cuepy's go/ directory (for go_native and cue_cli); found if None"
    )
    quick: bool = False
    user_modules: tuple[UserModule, ...] = Field(
        default=(), description="modules of one's own, measured after ``modules``"
    )

    @field_validator("modules")
    @classmethod
    def _known_modules(cls, modules: tuple[str, ...]) -> tuple[str, ...]:
        from cuepy.examples import EXAMPLES
        from cuepy.examples.generate import MAX_COMPONENTS

        for name in modules:
            count = name.removeprefix("generated-")
            if name not in EXAMPLES and not (count.isdigit() and 1 <= int(count) <= MAX_COMPONENTS):
                raise ValueError(f"unknown module {name!r}: an example ({', '.join(EXAMPLES)}) or a component "
                                 f"count from 1 to {MAX_COMPONENTS}")  # fmt: skip
        return modules

    @classmethod
    def quick_config(cls) -> BenchConfig:
        """The README's one-minute run: the three examples, fewer and shorter rounds."""
        return cls(
            modules=EXAMPLE_MODULES,
            repeats=3,
            min_repeats=2,
            round_seconds=0.05,
            path_seconds=0.6,
            stage_ops=1,
            quick=True,
        )


class Row(_Frozen):
    """One path on one module: time, Go memory and stage split per operation."""

    module: str
    components: int
    path: PathName
    ns_per_op: float = Field(description="median over rounds of the mean time of one operation")
    ns_min: float = Field(description="fastest round")
    ns_q1: float = Field(description="first quartile of the rounds")
    ns_q3: float = Field(description="third quartile of the rounds")
    ns_max: float = Field(description="slowest round")
    rounds: int
    ops_per_round: int
    first_ns: float | None = Field(default=None, description="the first, untimed operation (cold: for cached a miss)")
    bytes_per_op: float | None = Field(default=None, description="Go heap bytes allocated per operation (median)")
    allocs_per_op: float | None = Field(default=None, description="Go heap objects allocated per operation (median)")
    cpu_ns_per_op: float | None = Field(
        default=None,
        description="CPU time (user + system, all threads) per operation, median; steadier than wall time on a "
        "busy machine. go_native: the process's less an idle one's, over all its operations",
    )
    ns_per_component: float
    stages: StageReport | None = Field(default=None, description="stage split of traced operations")
    baseline_ns_per_op: float | None = Field(
        default=None, description="render_hit only: the same release computed through CUE (cuepy.opm.release), median"
    )
    baseline_cpu_ns_per_op: float | None = None
    baseline_stages: StageReport | None = None


class Ratio(_Frozen):
    """A ratio of two rows of one module: time, Go memory and allocations (None where undefined)."""

    time: float | None
    bytes: float | None = None
    allocs: float | None = None
    cpu: float | None = None


class Scaling(_Frozen):
    """How one path grows from one module to a larger one (the seed's 2→4, 4→12, 2→12)."""

    path: PathName
    from_module: str
    to_module: str
    from_components: int
    to_components: int
    time: float
    bytes: float | None = None
    allocs: float | None = None


class Goal(_Frozen):
    """One performance goal: its target, what was measured, met or missed by how much."""

    name: str
    target: str
    comparison: Literal["<=", ">="]
    limit: float
    measured: float | None = Field(description="the worst case over modules (None: not measured)")
    measured_cpu: float | None = Field(default=None, description="the same ratio on CPU time, at the same module(s)")
    spread: tuple[float, float] | None = Field(
        default=None, description="the ratio from the quartiles of the rounds (least, most)"
    )
    where: str = Field(default="", description="the module (or sizes) of the worst case")
    met: bool | None = Field(default=None, description="on wall time (the medians)")
    met_cpu: bool | None = Field(default=None, description="on CPU time")
    conclusive: bool | None = Field(default=None, description="False when the limit lies within the spread")
    margin: str = Field(default="", description="'met' / 'missed by N%' / why not measured")
    held_back_by: str = Field(default="", description="for a miss: the stage that holds it back")


class Machine(_Frozen):
    """Where the benchmark ran."""

    cpus: int
    cpu_model: str
    memory_bytes: int
    platform: str
    python: str
    cuepy_version: str
    cue_version: str
    go_version: str
    load_average: tuple[float, float, float] | None = None


class BenchResults(_Frozen):
    """Everything ``cuepy.bench.run`` measured; ``model_dump_json()`` is the ``--json`` output."""

    machine: Machine
    config: BenchConfig
    command: str
    started: str
    seconds: float
    results: tuple[Row, ...]
    ratios: dict[str, dict[str, Ratio]] = Field(description="module -> 'a/b' -> ratio of path a to path b")
    scaling: tuple[Scaling, ...] = ()
    goals: tuple[Goal, ...] = ()
    notes: tuple[str, ...] = ()

    def table(self) -> str:
        from cuepy.bench._output import text

        return text(self)

    def __str__(self) -> str:
        return self.table()
