"""cuepy.bench: stage reports, the benchmark's results and the ``cuepy bench`` command (all quick)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

import cuepy
from cuepy import bench
from cuepy.bench import _tools
from cuepy.bench._analysis import goals, ratios, scaling

# Subprocesses import the cuepy this test imports, from outside the checkout.
_ENV = dict(os.environ, PYTHONPATH=str(Path(cuepy.__file__).resolve().parent.parent))
GO_DIR = Path(__file__).resolve().parent.parent / "go"
HAS_GO = (GO_DIR / "go.mod").is_file() and _tools.find_go() is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# One round of one operation per path: shape, not speed.
TINY: dict[str, Any] = {"repeats": 1, "min_repeats": 1, "round_seconds": 0.01, "path_seconds": 0.1, "stage_ops": 1}
TINY_ARGS = ["--repeats", "1", "--round-seconds", "0.01", "--path-seconds", "0.1", "--stage-ops", "1"]


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


# Stage reports --------------------------------------------------------------------


def test_report_summarises_a_trace_with_nesting(make_module: Any) -> None:
    mod = make_module({"a.cue": "package a\nx: 1\ny: x + 1\nz: [for i in [1, 2, 3] {i * y}]\n"})
    with bench.trace() as collected:
        start = time.perf_counter_ns()
        with cuepy.load(mod) as v:
            data = cuepy.extract(v, format="json")
        wall = time.perf_counter_ns() - start
    assert json.loads(data)["z"] == [2, 4, 6]
    report = bench.report(collected, wall_ns=wall)

    assert [s.stage for s in report.stages] == ["load", "export", "extract"]
    load, export, extract = report.stages
    assert all(s.count == 1 and s.failed == 0 for s in report.stages)
    assert load.total_ns > 0 and load.median_ns == load.total_ns == load.min_ns == load.max_ns
    assert load.alloc_bytes > 0 and load.alloc_objects > 0
    assert load.unifications > 0 and load.conjuncts > 0  # counted while the value is built
    # export runs inside extract: extract's self time excludes it
    assert load.top_level is True and extract.top_level is True and export.top_level is False
    assert extract.self_ns is not None and extract.self_ns <= extract.total_ns - export.total_ns + 1
    assert report.outside_ns is not None and 0 <= report.outside_ns <= wall
    split = report.self_ns_per_op()
    assert set(split) == {"load", "export", "extract", bench.OUTSIDE}
    assert sum(split.values()) == pytest.approx(wall, rel=0.05)
    top = report.top()
    assert top is not None and top[0] in split and top[1] == max(split.values())

    table = str(report)
    assert table == report.table()
    assert "load" in table and "extract" in table and "  export" in table and "wall" in table

    assert bench.StageReport.model_validate_json(report.model_dump_json()) == report
    with pytest.raises(pydantic.ValidationError):
        report.ops = 2
    with pytest.raises(pydantic.ValidationError):
        load.count = 0


def test_report_of_a_plain_trace_and_per_op(make_module: Any) -> None:
    mod = make_module({"a.cue": "package a\nx: 1\n"})
    with cuepy.trace() as collected:
        for _ in range(2):
            with cuepy.load(mod) as v:
                v.lookup("x").to_python()
    report = bench.report(collected, ops=2)
    load = report.stage("load")
    assert load is not None and load.count == 2
    # Every trace knows its nesting (events record depth and self time as they run).
    assert load.self_ns == load.total_ns and load.top_level is True and report.outside_ns is None
    assert report.stage("nope") is None
    assert "n/op" in report.table() and "total ms/op" in report.table()
    assert bench.report([]).stages == ()


# The benchmark --------------------------------------------------------------------


def _check_json_shape(data: dict[str, Any]) -> None:
    assert {"machine", "config", "command", "results", "ratios", "scaling", "goals", "notes"} <= set(data)
    for row in data["results"]:
        assert {"module", "components", "path", "ns_per_op", "bytes_per_op", "allocs_per_op", "stages"} <= set(row)
        assert row["path"] in bench.PATHS
        assert row["ns_per_op"] > 0 and row["ns_min"] <= row["ns_per_op"] <= row["ns_max"]
    valid = {*bench.PATHS, "release"}
    for module, found in data["ratios"].items():
        assert module in {r["module"] for r in data["results"]}
        for key, ratio in found.items():
            a, _, b = key.partition("/")
            assert re.fullmatch(r"[a-z_]+/[a-z_]+", key) and a in valid and b in valid, key
            assert {"time", "bytes", "allocs", "cpu"} == set(ratio)
    for goal in data["goals"]:
        assert {"name", "target", "limit", "measured", "met", "margin", "held_back_by"} <= set(goal)


def test_run_in_process() -> None:
    paths = ("definition", "compiled", "flattened", "cached", "render_hit", "render")
    results = bench.run(modules=("simple",), paths=paths, progress=False, **TINY)
    assert isinstance(results, bench.BenchResults)
    by_path = {r.path: r for r in results.results}
    expected = {"definition", "compiled"}
    if _available("cuepy.flatten"):
        expected.add("flattened")
    if _available("cuepy.cache"):
        expected |= {"cached", "render_hit", "render"}
    assert set(by_path) == expected, results.notes
    for row in results.results:
        assert row.module == "simple" and row.components == 2
        assert row.rounds == 1 and row.ops_per_round >= 1
        assert row.ns_per_component == pytest.approx(row.ns_per_op / 2)
        assert row.cpu_ns_per_op is not None
    definition = by_path["definition"]
    assert definition.bytes_per_op and definition.bytes_per_op > 0 and definition.allocs_per_op
    assert definition.stages is not None and definition.stages.stage("load") is not None
    assert definition.first_ns is not None and definition.first_ns > 0

    found = results.ratios["simple"]
    assert found["definition/compiled"].time == pytest.approx(definition.ns_per_op / by_path["compiled"].ns_per_op)
    if "render_hit" in by_path:
        hit = by_path["render_hit"]
        assert hit.baseline_ns_per_op is not None and hit.baseline_ns_per_op > hit.ns_per_op
        assert found["release/render_hit"].time == pytest.approx(hit.baseline_ns_per_op / hit.ns_per_op)
        assert "cached/compiled" in found
    assert [g.name for g in results.goals][:3] == [
        "cuepy load + extract vs the Go program",
        "definition through the warm cache vs compiled",
        "render hit vs release through CUE",
    ]
    assert results.goals[0].met is None and "not measured" in results.goals[0].margin  # no go_native asked

    _check_json_shape(json.loads(results.model_dump_json()))
    text = str(results)
    assert "definition" in text and "Goals" in text and "Ratios" in text
    md = bench.markdown(results)
    assert "| module |" in md and "### Goals" in md


def test_cli_json_in_a_subprocess(tmp_path: Path) -> None:
    png, md = tmp_path / "bench.png", tmp_path / "bench.md"
    args = [sys.executable, "-m", "cuepy.cli", "bench", "--modules", "simple", "--paths",
            "definition,compiled,cached,render_hit,go_native", *TINY_ARGS, "--json", "--no-progress",
            "--go-dir", str(GO_DIR), "--markdown", str(md)]  # fmt: skip
    if HAS_MATPLOTLIB:
        args += ["--plot", str(png)]
    done = subprocess.run(args, cwd=tmp_path, env=_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # one JSON object, nothing else on stdout
    _check_json_shape(data)
    paths = {r["path"] for r in data["results"]}
    assert {"definition", "compiled"} <= paths
    assert data["command"].startswith("cuepy bench --json --no-progress --modules simple")
    assert "definition/compiled" in data["ratios"]["simple"]
    if HAS_GO:
        anchor = next(r for r in data["results"] if r["path"] == "go_native")
        assert anchor["bytes_per_op"] > 0 and anchor["allocs_per_op"] > 0 and anchor["stages"] is None
        assert "definition/go_native" in data["ratios"]["simple"]
        assert data["goals"][0]["measured"] > 0
    else:
        assert any("go_native" in n for n in data["notes"])
    assert "| simple | 2 | definition |" in md.read_text(encoding="utf-8")
    if HAS_MATPLOTLIB:
        assert png.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.skipif(not HAS_GO, reason="needs Go and cuepy's go/ directory")
def test_cue_cli_path() -> None:
    # The first build of cmd/cue compiles ~100 packages more than libcuepy; later ones reuse it.
    _tools.build(GO_DIR, ("cue",), timeout=900)
    built: list[str] = []
    again = _tools.build(GO_DIR, ("cue",), on_build=lambda name, go: built.append(name))
    assert built == [] and again.cue is not None  # nothing built: no "building" message either
    assert again.go_version.startswith("go1.")
    results = bench.run(modules=("simple",), paths=("cue_cli",), go_dir=GO_DIR, progress=False, **TINY)
    (row,) = results.results
    assert row.path == "cue_cli" and row.bytes_per_op and row.allocs_per_op and row.cpu_ns_per_op
    assert row.stages is not None
    (stage,) = row.stages.stages
    assert stage.stage == "cue eval (process)" and stage.unifications > 0 and stage.alloc_bytes > 0


def test_cli_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from cuepy.bench.cli import command_line, config_from
    from cuepy.cli import main, parser

    args = parser().parse_args(["bench", "--quick", "--json"])
    config = config_from(args)
    assert config.quick and config.modules == ("simple", "moderate", "large") and config.repeats == 3
    assert command_line(args) == "cuepy bench --quick --json"
    full = config_from(parser().parse_args(["bench", "--modules", "simple, 24", "--repeats", "2"]))
    assert full.modules == ("simple", "24") and full.repeats == 2 and full.min_repeats == 2
    assert bench.BenchConfig().modules == ("simple", "moderate", "large", "24", "48", "96", "192", "384")
    with pytest.raises(pydantic.ValidationError):
        config_from(parser().parse_args(["bench", "--paths", "definition,nope"]))
    assert main(["bench", "--paths", "nope"]) == 2
    # Each bad option on a line of its own, named as given, without pydantic's layout.
    assert main(["bench", "--paths", "definition,nope", "--repeats", "0"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said[-2:] == ["cuepy bench: --paths: Input should be 'definition', 'compiled', 'flattened', 'cached', "
                         "'render_hit', 'render', 'go_native' or 'cue_cli' (given: 'nope')",
                         "cuepy bench: --repeats: Input should be greater than or equal to 1 (given: 0)"]  # fmt: skip
    assert main(["bench", "--modules", "simple,2000"]) == 2
    with pytest.raises(pydantic.ValidationError, match="unknown module 'huge'"):
        bench.BenchConfig(modules=("huge",))


# Analysis and output on made-up rows ------------------------------------------------


def _row(module: str, n: int, path: bench.PathName, ms: float, **extra: Any) -> bench.Row:
    ns = ms * 1e6
    return bench.Row(module=module, components=n, path=path, ns_per_op=ns, ns_min=ns * 0.9, ns_q1=ns * 0.95,
                     ns_q3=ns * 1.05, ns_max=ns * 1.1, rounds=3, ops_per_round=1, bytes_per_op=n * 1e6,
                     allocs_per_op=n * 1e4, cpu_ns_per_op=ns, ns_per_component=ns / n, **extra)  # fmt: skip


def _made_up() -> bench.BenchResults:
    rows = [
        _row("simple", 2, "definition", 40), _row("simple", 2, "compiled", 10), _row("simple", 2, "cached", 10.2),
        _row("simple", 2, "go_native", 38), _row("simple", 2, "render_hit", 0.1, baseline_ns_per_op=300e6),
        _row("large", 12, "definition", 300), _row("large", 12, "compiled", 20), _row("large", 12, "cached", 23),
        _row("large", 12, "go_native", 250),
        _row("generated-24", 24, "cached", 24), _row("generated-48", 48, "cached", 50),
        _row("generated-96", 96, "cached", 150),
        _row("generated-24", 24, "render_hit", 1), _row("generated-96", 96, "render_hit", 1.2),
    ]  # fmt: skip
    table = tuple(rows)
    machine = bench.Machine(cpus=2, cpu_model="test", memory_bytes=2**30, platform="test", python="3",
                            cuepy_version="0", cue_version="v0.17.1", go_version="go")  # fmt: skip
    return bench.BenchResults(machine=machine, config=bench.BenchConfig(), command="test", started="now",
                              seconds=1.0, results=table, ratios=ratios(table), scaling=scaling(table),
                              goals=goals(table))  # fmt: skip


def test_ratios_scaling_and_goals() -> None:
    results = _made_up()
    assert results.ratios["simple"]["definition/compiled"].time == pytest.approx(4.0)
    assert results.ratios["simple"]["definition/compiled"].bytes == pytest.approx(1.0)
    assert results.ratios["simple"]["release/render_hit"].time == pytest.approx(3000)
    assert "flattened/compiled" not in results.ratios["simple"]
    pairs = {(s.path, s.from_components, s.to_components): s.time for s in results.scaling}
    assert pairs[("definition", 2, 12)] == pytest.approx(7.5)
    assert pairs[("cached", 24, 96)] == pytest.approx(150 / 24)
    go, cached, render, flat_cached, flat_render = results.goals
    assert go.met is False and go.where == "large" and go.measured == pytest.approx(300 / 250)
    assert go.margin == "missed by 9%; inconclusive: the limit lies within the spread of the rounds (1.09x-1.33x)"
    assert go.conclusive is False and go.spread == pytest.approx((300 * 0.95 / 262.5, 315 / 237.5))
    assert go.measured_cpu == pytest.approx(1.2) and go.met_cpu is False
    assert go.held_back_by.startswith("no stage split for definition; Go allocations 12.0 MB/op")
    assert cached.met is False and cached.where == "large" and cached.measured == pytest.approx(1.15)
    assert cached.margin.startswith("missed by 10%; inconclusive")
    assert render.met is True and render.measured == pytest.approx(3000) and not render.held_back_by
    # 24 -> 96: 1 ms -> 1.56 ms per component (worst pair), not 24 -> 48
    assert flat_cached.met is False and flat_cached.where == "24 -> 96 components"
    assert flat_cached.measured == pytest.approx((150 / 96) / (24 / 24))
    assert flat_cached.conclusive is True and flat_cached.margin == "missed by 20%"
    assert flat_render.met is True  # a hit's time per component falls with size


def test_text_markdown_and_plot(tmp_path: Path) -> None:
    results = _made_up()
    text = results.table()
    assert "generated-96" in text
    assert all(len(line) <= 100 for line in text.splitlines()), max(text.splitlines(), key=len)
    # the cached goal's medians miss but the limit lies within the rounds' spread: unclear, not MISSED
    assert "[unclear] definition through the warm cache" in text
    assert "[MISSED] time per component flat (cached)" in text and "[met] render hit" in text
    assert "Measured: definition is 1.2x slower than go_native (worst case: large)" in text
    assert "render_hit is 3000x faster than release" in text
    assert "Goals (5 of 5 judged by this run)" in text
    # a legend line per path measured, the n column explained, the docs named
    for path in ("definition", "compiled", "cached", "render_hit", "go_native"):
        assert re.search(rf"^  {path} +\S", text, re.M), path
    assert "n = components in the module" in text and "docs/benchmarks.md" in text
    # one direction: every ratio in words
    assert re.search(r"^simple +definition vs compiled +4x slower +4x slower +same +same$", text, re.M)
    assert re.search(r"^simple +render_hit vs release +3000x faster", text, re.M)
    assert not re.search(r"\b0\.\d+x\b", text.split("Growth of")[0])
    assert "WARNING" not in text  # no load average recorded
    md = bench.markdown(results)
    assert "| large | 12 | compiled |" in md
    target = bench.plot(results, tmp_path / "plot.png")
    data = target.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


def test_text_warns_when_busy_and_says_what_quick_judges() -> None:
    results = _made_up()
    busy = results.model_copy(update={
        "machine": results.machine.model_copy(update={"load_average": (5.5, 4.4, 2.9)}),
        "config": bench.BenchConfig.quick_config(),
        "goals": tuple(g for g in results.goals if "flat" not in g.name) + tuple(
            goals([r for r in results.results if not r.module.startswith("generated-")])[3:]),
    })  # fmt: skip
    text = busy.table()
    assert "WARNING: the machine was busy: load average 5.50 (1 min), 4.40 (5 min) on 2 CPUs" in text
    assert "Goals (3 of 5 judged by this run)" in text and "--quick runs the three examples only" in text
    assert "[not judged] time per component flat (cached)" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_plot_without_matplotlib_stops_before_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from cuepy.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what find_spec reports for a missing package
    start = time.monotonic()
    assert main(["bench", "--modules", "simple", "--plot", str(tmp_path / "p.png"), "--no-progress"]) == 2
    assert time.monotonic() - start < 5  # nothing was run
    err = capsys.readouterr().err
    assert "--plot needs matplotlib" in err and "nothing was run" in err
    assert not (tmp_path / "p.png").exists()


def test_progress_ticks_on_a_terminal() -> None:
    import io

    from cuepy.bench._progress import WIDTH, Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = Progress(10, stream=stream, tick=0.05)
    bar.label("building cue")
    time.sleep(0.5)  # no update: the ticker redraws the line anyway
    bar.close()
    draws = [d for d in stream.getvalue().split("\r") if d.strip()]
    assert len(draws) >= 4 and all("building cue" in d and len(d) <= WIDTH + 1 for d in draws)

    plain = io.StringIO()
    bar = Progress(10, stream=plain)
    bar.note("building cuepy-native with go1.25")
    bar.close()
    assert "cuepy bench: building cuepy-native with go1.25 (after 0s)\n" in plain.getvalue()


def test_cache_commands_count_and_clear_the_bench_programs(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    tools = directory / "bench-tools" / "0123"
    tools.mkdir(parents=True)
    (tools / "cue").write_bytes(b"x" * 3 * 2**20)
    (directory / "someone-else.txt").write_text("hi")
    base = [sys.executable, "-m", "cuepy.cli", "cache", "--dir", str(directory)]

    def run(*args: str) -> str:
        done = subprocess.run([*base, *args], env=_ENV, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = run("stats")
    assert "bench-tools/ 3.0 MiB (cuepy bench's Go programs" in out and "someone-else.txt 2 B" in out
    assert "total:     3.0 MiB" in out
    data = json.loads(run("stats", "--json"))
    assert data["others"]["bench-tools/"] == 3 * 2**20 and data["total_bytes"] >= 3 * 2**20
    out = run("clear")
    assert "removed 0 entries and cuepy bench's Go programs (3.0 MiB)" in out
    assert "left in place (not cuepy's): someone-else.txt (2 B)" in out
    assert not (directory / "bench-tools").exists() and (directory / "someone-else.txt").exists()
