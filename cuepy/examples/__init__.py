"""Example OPM-style CUE modules shipped with cuepy, and a generator.

Embedded examples (each a CUE module depending on ``cuepy.dev/opm@v0``
v0.1.0, with ``module_definition.cue``, ``module_compiled.cue`` and
``values.cue`` in one package):

- ``"simple"``: 2 components (frontend, api),
- ``"moderate"``: 4 components (+ PostgreSQL database, worker),
- ``"large"``: 12 components (e-commerce platform, 8 stateless, 4 stateful),
- ``"nested"``: 1 component using the nested blueprint #WebApplication.

:func:`generate` writes a synthetic module of any size from 1 to 1024
components. See docs/catalog.md for the layout and the release computation.
"""

from __future__ import annotations

import pathlib

from .generate import generate

__all__ = ["EXAMPLES", "generate", "path"]

#: Names of the embedded example modules, smallest first.
EXAMPLES: tuple[str, ...] = ("simple", "moderate", "large", "nested")

_HERE = pathlib.Path(__file__).resolve().parent


def path(name: str) -> pathlib.Path:
    """Return the directory of the embedded example module ``name``.

    Args:
        name: one of :data:`EXAMPLES` (``"simple"``, ``"moderate"``,
            ``"large"``, ``"nested"``).

    Raises:
        ValueError: if ``name`` is not an embedded example.
    """
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; expected one of {', '.join(EXAMPLES)}")
    return _HERE / name
