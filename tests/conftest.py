"""Shared fixtures: CUE modules written to real directories, a real registry."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cuepy

MakeModule = Callable[..., Path]


def write_module(root: Path, module: str, files: dict[str, str], deps: dict[str, str] | None = None) -> Path:
    """Write a CUE module: cue.mod/module.cue plus ``files`` (relative path to source)."""
    dep_lines = "".join(f'\t"{m}": v: "{v}"\n' for m, v in (deps or {}).items())
    deps_block = f"deps: {{\n{dep_lines}}}\n" if deps else ""
    (root / "cue.mod").mkdir(parents=True, exist_ok=True)
    (root / "cue.mod" / "module.cue").write_text(
        f'module: "{module}"\nlanguage: version: "v0.9.0"\n{deps_block}'
    )
    for name, src in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(src).lstrip("\n"))
    return root


@pytest.fixture
def make_module(tmp_path: Path) -> MakeModule:
    counter = iter(range(1000))

    def make(files: dict[str, str], module: str = "example.com/app@v0", deps: dict[str, str] | None = None) -> Path:
        return write_module(tmp_path / f"mod{next(counter)}", module, files, deps)

    return make


@pytest.fixture
def registry() -> Iterator[cuepy.Registry]:
    with cuepy.Registry("127.0.0.1:0") as reg:
        yield reg
