"""``cuepy bench --module``: the benchmark on a module of one's own, on a catalog cuepy did not write."""

from __future__ import annotations

import json

import pytest
from catalogs_helpers import STYLES

from cuepy.bench import run
from cuepy.bench._models import UserModule
from cuepy.cli import main

FAST = {"repeats": 1, "min_repeats": 1, "round_seconds": 0.01, "path_seconds": 0.2, "stage_ops": 1}


def test_run_on_a_module_of_ones_own() -> None:
    s = STYLES["embedstyle"]
    d = s.module_dir("small")
    user = UserModule(directory=d, file=s.module_file, values=d / "values.json",
                      dependencies={k: v for k, v in s.modules.items()})  # fmt: skip
    results = run(modules=(), user_modules=(user,), paths=("definition", "flattened", "cached", "render_hit"),
                  progress=False, **FAST)  # fmt: skip
    rows = {r.path: r for r in results.results}
    assert set(rows) == {"definition", "flattened", "cached", "render_hit"}, results.notes
    assert all(r.module == f"small/{s.module_file}" and r.components == 2 for r in rows.values())
    assert rows["cached"].ns_per_op < rows["definition"].ns_per_op


def test_cli_module_options(capsys: pytest.CaptureFixture[str]) -> None:
    s = STYLES["fieldstyle"]
    d = s.module_dir("small")
    (dep,) = s.modules.items()
    argv = ["bench", "--module", str(d), "--file", s.module_file, "--dep", f"{dep[0]}={dep[1]}",
            "--paths", "definition,flattened", "--json", "--no-progress", "--repeats", "1",
            "--round-seconds", "0.01", "--path-seconds", "0.2", "--min-repeats", "1"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["path"] for r in out["results"]} == {"definition", "flattened"}
    assert {r["module"] for r in out["results"]} == {f"small/{s.module_file}"}
    assert "--module" in out["command"]


def test_cli_bad_dep(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--module", ".", "--dep", "nonsense", "--no-progress"]) == 2
    assert "--dep takes PATH@VERSION=DIR" in capsys.readouterr().err


def test_cli_missing_compiled_file(capsys: pytest.CaptureFixture[str]) -> None:
    # A --compiled file that is not there stops the run (before: a note, and the flattener's
    # module measured in its place, as if the user had asked for that).
    s = STYLES["fieldstyle"]
    argv = ["bench", "--module", str(s.module_dir("small")), "--file", s.module_file, "--compiled", "nope.cue",
            "--paths", "definition,compiled", "--no-progress", "--repeats", "1"]  # fmt: skip
    assert main(argv) == 1
    assert "the compiled module is not a file" in capsys.readouterr().err
