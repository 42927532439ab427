"""CUE modules that ship inside the cuepy package, resolved without a registry."""

from __future__ import annotations

import functools
from pathlib import Path

_HERE = Path(__file__).resolve().parent

CATALOG_MODULE = "cuepy.dev/opm@v0"
CATALOG_VERSION = "v0.1.0"
CATALOG_DIR = _HERE / "catalog"


def embedded_modules() -> dict[str, Path]:
    """``module@version`` to directory, for every module shipped in the package."""
    return dict(_shipped())


@functools.cache
def _shipped() -> tuple[tuple[str, Path], ...]:
    # Package data does not come and go while the process runs: looked for once, not on every load.
    if (CATALOG_DIR / "cue.mod" / "module.cue").is_file():
        return ((f"{CATALOG_MODULE.split('@')[0]}@{CATALOG_VERSION}", CATALOG_DIR),)
    return ()
