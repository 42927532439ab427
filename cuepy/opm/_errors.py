"""cuepy.opm's own errors, and CUE errors rewritten into messages a module author can act on.

CUE reports a failure at paths from the root of what was loaded
(``simpleModuleDefinition.#components.web.spec...``) with positions in the
user's files, in the catalog, in CUE's module cache and in pseudo files (the
values given as Python data, JSON round trips). The author wants the
component, the path in its spec or in the values, and the line of *their*
file; :func:`clarify` rewrites the message from ``CueError.errors`` and keeps
the exception class and the details.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from cuepy._embedded import CATALOG_DIR
from cuepy.errors import (
    CueError,
    CueEvalError,
    CueIncompleteError,
    CueUsageError,
    ErrorDetail,
    Position,
)
from cuepy.opm.models import Layout

__all__ = [
    "OPMError",
    "OPMIncompleteError",
    "OPMLayoutError",
    "OPMModelError",
    "clarify",
    "clarify_render",
    "join_path",
    "model_error",
    "real_positions",
    "split_path",
    "user_positions",
]


class OPMError(CueError):
    """Base of the errors cuepy.opm raises itself (CUE's own errors keep their class)."""


class OPMLayoutError(OPMError, CueUsageError):
    """The module, its components or its values schema could not be found; pass ``layout=``."""


class OPMModelError(OPMError, CueEvalError):
    """Data read from the module does not fit the model (a field of the wrong type, a bad namespace)."""


class OPMIncompleteError(OPMError, CueIncompleteError):
    """A release with ``strict=True`` found fields that are not concrete (or blueprint data not forwarded)."""


_IDENTIFIER = re.compile(r"^#?[A-Za-z_$][A-Za-z0-9_$]*$")
# A file name with one of these endings is a real file even without a directory
# (e.g. values compiled with filename="prod-values.cue"); other bare names
# ("<python>", "json", "<source>") are pseudo files.
_SOURCE_SUFFIXES = (".cue", ".json", ".yaml", ".yml", ".jsonl", ".ndjson", ".txt")
_CUE_CACHE_PART = f"{os.sep}mod{os.sep}extract{os.sep}"


def clarify(exc: CueError, headline: str, layout: Layout | None = None, root: str | None = None) -> CueError:
    """A copy of ``exc`` (same class, same ``errors``) whose message names components, paths and user lines.

    ``layout`` says where the module's components and values sit; ``root``
    is the directory of the user's module (positions outside it, or in its
    ``cue.mod``, are the catalog's).
    """
    incomplete = isinstance(exc, CueIncompleteError)
    return _clarified(exc, headline, lambda d: _describe(d, incomplete, layout or Layout(), root))


def _clarified(exc: CueError, headline: str, describe: Callable[[ErrorDetail], str]) -> CueError:
    """``exc`` rephrased as ``headline`` and a line per error (``describe``), those with positions
    first; an OPMError is already phrased for the user."""
    if isinstance(exc, OPMError):
        return exc
    details = [d for d in exc.errors if d.positions] or list(exc.errors)
    if not details:
        return rephrased(exc, f"{headline}: {exc.text}")
    lines = [describe(d) for d in details]
    return rephrased(exc, headline + ":\n  " + "\n  ".join(dict.fromkeys(lines)))


def rephrased(exc: CueError, text: str) -> CueError:
    """``exc`` with its message phrased for an OPM user: the same class, errors and state
    (``CueLimitError.limit``, notes); raise it ``from exc`` to keep the original."""
    new = type(exc)(text, exc.errors)
    new.__dict__.update({k: v for k, v in exc.__dict__.items() if k not in ("text", "errors")})
    return new


def _describe(detail: ErrorDetail, incomplete: bool, layout: Layout, root: str | None) -> str:
    where = subject(detail.path, layout)
    message = detail.message
    if incomplete and where.startswith("values"):
        message = f"no value given ({message})"
    return _line(where, message, detail.positions, root)


def _line(where: str, message: str, positions: Sequence[Position], root: str | None) -> str:
    shown = user_positions(positions, root)
    located = f" (at {', '.join(str(p) for p in shown)})" if shown else ""
    return f"{where}: {message}{located}" if where else f"{message}{located}"


def clarify_render(
    exc: CueError, headline: str, subject: Callable[[Sequence[str]], str], root: str | None, hide: str = ""
) -> CueError:
    """A copy of ``exc``, raised loading or evaluating a render's transformers, whose message names
    what each error is about (``subject`` of its path) and the user's lines. ``hide`` is a file whose
    positions are left out (the render's generated template); pseudo files' are left out anyway."""
    return _clarified(exc, headline,
                      lambda d: _line(subject(d.path), d.message, [p for p in d.positions if p.file != hide], root))


def subject(path: Sequence[str], layout: Layout) -> str:
    """``component "web": spec.container.image``, ``values.replicas`` or the plain path."""
    path = tuple(path)
    module = tuple(split_path(layout.module))
    if module and path[: len(module)] == module:
        path = path[len(module) :]
    elif not module and len(path) > 2 and path[1] in (layout.components, layout.values):
        path = path[1:]  # a module in a field of the file, reported before its layout was known
    components = (layout.components,)
    if path[:1] == components and len(path) > 1:
        component, rest = path[1], path[2:]
        return f'component "{component}"' + (f": {join_path(rest)}" if rest else "")
    for field in (layout.values, layout.own_values):
        if field and path[:1] == (field,):
            return join_path(("values", *path[1:]))
    return join_path(path)


def split_path(path: str) -> list[str]:
    """The labels of a simple CUE path (identifiers and quoted labels separated by dots)."""
    if not path:
        return []
    return [label.strip('"') for label in re.findall(r'"(?:[^"\\]|\\.)*"|[^.]+', path)]


def join_path(path: Sequence[str]) -> str:
    """A CUE path: ``spec.container.ports[0]."app.kubernetes.io/name"``."""
    text = ""
    for label in path:
        if len(label) > 1 and label.startswith('"') and label.endswith('"'):
            text += ("." if text else "") + label  # CUE gives quoted labels quoted already
        elif label.isdigit():
            text += f"[{label}]"
        else:
            text += ("." if text else "") + (label if _IDENTIFIER.match(label) else f'"{label}"')
    return text


def is_user_file(file: str, root: str | None) -> bool:
    """Whether ``file`` is the user's: inside ``root`` (not its cue.mod), not a catalog or pseudo file."""
    if os.sep not in file and not file.endswith(_SOURCE_SUFFIXES):
        return False  # <python>, json, <source>: values given as data, JSON round trips
    if file.startswith(str(CATALOG_DIR)) or _CUE_CACHE_PART in file:
        return False  # cuepy's catalog, or a module from CUE's cache (a registry)
    if root is not None and os.sep in file:
        inside = file.startswith(root.rstrip(os.sep) + os.sep)
        return inside and f"{os.sep}cue.mod{os.sep}" not in file[len(root) :]
    return True


def user_positions(positions: Sequence[Position], root: str | None = None) -> list[Position]:
    """The positions in the user's files; all real-file positions if none is the user's. Never a
    pseudo file's (``<python>``: values given as data): it names nothing the user can open."""
    user = [p for p in positions if is_user_file(p.file, root)]
    return user or real_positions(positions)


def real_positions(positions: Sequence[Position]) -> list[Position]:
    """The positions in files, not in pseudo files (``<python>``, ``json``)."""
    return [p for p in positions if os.sep in p.file or p.file.endswith(_SOURCE_SUFFIXES)]


def model_error(exc: ValidationError, what: str, at: Sequence[str] = ()) -> OPMModelError:
    """A pydantic ValidationError about ``what`` (e.g. ``component "web"``) as an OPMModelError.

    ``at`` is the path of the validated data inside ``what`` (e.g. ``metadata``).
    """
    details = []
    lines = []
    for error in exc.errors(include_url=False):
        path = (*at, *(str(p) for p in error["loc"]))
        field = join_path(path)
        given = error.get("input")
        shown = repr(given) if isinstance(given, str | int | float | bool) or given is None else type(given).__name__
        message = f"{error['msg']} (got {shown})"
        details.append(ErrorDetail(message=message, path=path, positions=()))
        lines.append(f"{what}: {field}: {message}" if field else f"{what}: {message}")
    return OPMModelError("\n  ".join(["data does not fit the OPM model:", *lines]), tuple(details))
