"""Builds libcuepy (Go) before the cffi extension; metadata is in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

import build_cue


class BuildGoThenExtension(build_ext):
    """Build the Go shared library into the package, then the extension."""

    def run(self) -> None:
        package_dir = Path("cuepy") if self.inplace else Path(self.build_lib) / "cuepy"
        build_cue.build_go_library(package_dir.resolve())
        super().run()

    def build_extensions(self) -> None:
        # No build-machine paths in the extension: only -rpath $ORIGIN (its own link argument).
        for attr in ("linker_so", "linker_so_cxx"):
            if isinstance(getattr(self.compiler, attr, None), list):
                setattr(self.compiler, attr, build_cue.strip_rpaths(getattr(self.compiler, attr)))
        super().build_extensions()


setup(
    cffi_modules=["build_cue.py:ffibuilder"],
    cmdclass={"build_ext": BuildGoThenExtension},
    # cffi builds cuepy._cue against the stable ABI (_cue.abi3.so): one wheel for CPython >= 3.11.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
