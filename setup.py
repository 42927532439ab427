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


setup(
    cffi_modules=["build_cue.py:ffibuilder"],
    cmdclass={"build_ext": BuildGoThenExtension},
)
