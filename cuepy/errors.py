"""The exception hierarchy: every failure of the Go side arrives as one of these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Position:
    """A place in CUE source."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One CUE error: its message, the CUE path it is about and where it comes from."""

    message: str
    path: tuple[str, ...]
    positions: tuple[Position, ...]

    def __str__(self) -> str:
        where = " ".join(str(p) for p in self.positions)
        label = ".".join(self.path)
        text = f"{label}: {self.message}" if label else self.message
        return f"{text} ({where})" if where else text


class CueError(Exception):
    """A CUE operation failed; ``errors`` lists each CUE error with its positions.

    ``str()`` gives the text as the ``cue`` command prints it.
    """

    def __init__(self, text: str, errors: tuple[ErrorDetail, ...] = ()) -> None:
        super().__init__(text)
        self.text = text
        self.errors = errors

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle with the details, so that errors cross process boundaries
        # (cuepy.limits runs evaluations in a worker process) intact.
        return (type(self), (self.text, self.errors), self.__dict__)  # notes and limit included

    @property
    def positions(self) -> tuple[Position, ...]:
        """All source positions of all errors, in order."""
        return tuple(p for e in self.errors for p in e.positions)

    def with_context(self, note: str) -> CueError:
        """This exception, with ``note`` added (``add_note``) for the caller's context.

        Re-raise it (``raise exc.with_context("reading module x")``) rather than
        building a new exception from its text: the class, ``errors``, ``limit``
        and any other state stay as they are, and ``str()`` stays as ``cue`` prints it.
        """
        self.add_note(note)
        return self


class CueSyntaxError(CueError):
    """CUE source (or a data file) could not be parsed."""


class CueLoadError(CueError):
    """A module, package, file or dependency could not be found or read."""


class CueEvalError(CueError):
    """Evaluation failed: conflicting values, a failed constraint, a cycle."""


class CueIncompleteError(CueError):
    """A value is not concrete where concrete data was needed."""


class CueLookupError(CueError, LookupError):
    """A path names no field of the value."""


class CueUsageError(CueError, ValueError):
    """A call was malformed: an invalid path, a closed value, a wrong handle."""


class CueLimitError(CueError):
    """A limit was exceeded: the caller's time bound (``cuepy.time_limit``,
    ``timeout=``, ``cuepy.limits``) or memory bound (``cuepy.limits``) on an
    evaluation, the evaluator's recursion bound (``cuepy.set_max_depth``), an
    interrupted evaluation, what Python can represent (a float beyond 64 bits,
    an integer longer than ``sys.get_int_max_str_digits()``, nesting deeper
    than the recursion limit), or the Go stack of a worker. ``limit`` names
    it: "time", "memory", "depth", "interrupt", "stack", "float", "int",
    "killed"; "" when the Go side does not say.
    """

    def __init__(self, text: str, errors: tuple[ErrorDetail, ...] = (), *, limit: str = "") -> None:
        super().__init__(text, errors)
        self.limit = limit


class CueInternalError(CueError):
    """The Go side failed unexpectedly (a recovered panic); please report it."""


class CueForkError(CueError, RuntimeError):
    """The Go runtime was started before this process forked and cannot be used."""


VALUE_ERRORS: tuple[type[CueError], ...] = (
    CueSyntaxError, CueLoadError, CueEvalError, CueIncompleteError, CueLookupError,
)
"""What a value that does not evaluate, or a path that names nothing, raises: what a probe of a
value may take for "not this". A stop (CueLimitError), a refused context (CueUsageError) and a
failure of cuepy's own are not among them: a probe that swallowed a stop went on in a context
the stop had refused, and reported that instead of the limit."""


_BY_CATEGORY: dict[str, type[CueError]] = {
    "syntax": CueSyntaxError,
    "load": CueLoadError,
    "eval": CueEvalError,
    "incomplete": CueIncompleteError,
    "usage": CueUsageError,
    "limit": CueLimitError,
    "internal": CueInternalError,
}


def error_from_json(data: bytes) -> CueError:
    """Build the exception for an error document produced by libcuepy."""
    doc: dict[str, Any] = json.loads(data)
    details = tuple(
        ErrorDetail(
            message=item["message"],
            path=tuple(item["path"]),
            positions=tuple(Position(p["file"], p["line"], p["column"]) for p in item["positions"]),
        )
        for item in doc["errors"]
    )
    cls = _BY_CATEGORY.get(doc["category"], CueError)
    text = doc["text"].rstrip("\n") or "CUE error"
    if cls is CueLimitError:
        return CueLimitError(text, details, limit=doc.get("limit", ""))
    return cls(text, details)
