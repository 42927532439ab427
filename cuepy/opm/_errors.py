"""Turn CUE errors about releases into messages a module author can act on.

CUE reports a release failure at paths inside the catalog's machinery
(``#ModuleRelease.#bound.#components.web.spec...``) with positions mostly in
the catalog. The author wants the component, the path in its spec or in the
values, and the line of *their* file; this module rewrites the message from
``CueError.errors`` and keeps the exception class and the details.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cuepy._embedded import CATALOG_DIR
from cuepy.errors import CueError, CueIncompleteError, ErrorDetail, Position

# Path prefixes under which CUE reaches a component or the values; the first
# match wins, so longer prefixes come first.
_COMPONENT_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("#bound", "#components"),
    ("#module", "#components"),
    ("#components",),
    ("components",),
)
_VALUES_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("#bound", "#values"),
    ("#bound", "values"),  # the module's own values (loaded with values.cue) against the given ones
    ("#module", "#values"),
    ("#module", "values"),
    ("#resolvedValues",),
    ("#values",),
    ("values",),
)
# Pseudo files: the JSON round trip of #resolvedValues and Python data. They
# say nothing about where to look, so they are dropped when real files remain.
_PSEUDO_FILES = frozenset({"json", "<python>", "<source>"})
_IDENTIFIER = re.compile(r"^#?[A-Za-z_$][A-Za-z0-9_$]*$")


def clarify(exc: CueError, headline: str) -> CueError:
    """A copy of ``exc`` (same class, same ``errors``) whose message names components, paths and user lines."""
    details = _relevant(exc.errors)
    if not details:
        return type(exc)(f"{headline}: {exc.text}", exc.errors)
    lines = [_describe(detail, isinstance(exc, CueIncompleteError)) for detail in details]
    return type(exc)(headline + ":\n  " + "\n  ".join(dict.fromkeys(lines)), exc.errors)


def _relevant(details: Sequence[ErrorDetail]) -> list[ErrorDetail]:
    # "2 errors in empty disjunction" carries no position; the errors that
    # follow it say what went wrong, so it is dropped when they exist.
    with_positions = [d for d in details if d.positions]
    return with_positions or list(details)


def _describe(detail: ErrorDetail, incomplete: bool) -> str:
    where = _subject(detail.path)
    message = detail.message
    if incomplete and where.startswith("values"):
        message = f"no value given ({message})"
    positions = _user_positions(detail.positions)
    located = f" (at {', '.join(str(p) for p in positions)})" if positions else ""
    return f"{where}: {message}{located}" if where else f"{message}{located}"


def _subject(path: tuple[str, ...]) -> str:
    """``component "web": spec.container.image``, ``values.replicas`` or the plain path."""
    if path[:1] == ("#ModuleRelease",):
        path = path[1:]
    for prefix in _COMPONENT_PREFIXES:
        if path[: len(prefix)] == prefix and len(path) > len(prefix):
            component, rest = path[len(prefix)], path[len(prefix) + 1 :]
            return f'component "{component}"' + (f": {_join(rest)}" if rest else "")
    for prefix in _VALUES_PREFIXES:
        if path[: len(prefix)] == prefix:
            return _join(("values", *path[len(prefix) :]))
    return _join(path)


def _join(path: Sequence[str]) -> str:
    """A CUE path: ``spec.container.ports[0]."app.kubernetes.io/name"``."""
    text = ""
    for label in path:
        if label.isdigit():
            text += f"[{label}]"
        else:
            text += ("." if text else "") + (label if _IDENTIFIER.match(label) else f'"{label}"')
    return text


def _user_positions(positions: Sequence[Position]) -> list[Position]:
    """Positions outside the catalog and pseudo files; all of them if none is left."""
    catalog = str(CATALOG_DIR)
    user = [p for p in positions if not p.file.startswith(catalog) and p.file not in _PSEUDO_FILES]
    return user or list(positions)
