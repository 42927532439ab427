"""``Value``: a CUE value held by libcuepy, and what can be asked of it."""

from __future__ import annotations

import base64
import enum
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from cuepy._native import check, free_handle, native, take_bytes, take_handles
from cuepy.errors import CueLimitError, CueLookupError, CueUsageError
from cuepy.trace import run as traced

if TYPE_CHECKING:
    from cuepy.api import Context

ExportFormat = Literal["json", "yaml", "cue"]
_FORMATS = {"json": 0, "yaml": 1, "cue": 2}

# Option bits of go/cuepy.h (CUE_OPT_*).
_DEFINITIONS, _HIDDEN, _OPTIONAL, _CONCRETE, _FINAL = 1, 2, 4, 8, 16
_DOCS, _ATTRIBUTES, _ALL_ERRORS, _INDENT = 32, 64, 128, 256
_BYTES_KEY = "\x00bytes"


class Kind(enum.Flag):
    """The kinds a CUE value can have; a non-concrete value may have several."""

    BOTTOM = 0
    NULL = 1
    BOOL = 2
    INT = 4
    FLOAT = 8
    STRING = 16
    BYTES = 32
    STRUCT = 64
    LIST = 128
    NUMBER = INT | FLOAT


_OPTION_BITS = {
    "definitions": _DEFINITIONS, "hidden": _HIDDEN, "optional": _OPTIONAL, "concrete": _CONCRETE,
    "final": _FINAL, "docs": _DOCS, "attributes": _ATTRIBUTES, "all_errors": _ALL_ERRORS, "indent": _INDENT,
}  # fmt: skip


def _opts(**flags: bool) -> int:
    return sum(_OPTION_BITS[name] for name, on in flags.items() if on)


def _check_path(path: object) -> bytes:
    if not isinstance(path, str):
        raise TypeError(f"a CUE path must be a str such as 'a.b.\"c-d\".#e[0]', not {type(path).__name__}")
    if "\x00" in path:  # C strings end there: the Go side would see a shorter path
        raise CueUsageError(f"invalid path {path!r}: contains a NUL byte")
    try:
        return path.encode()
    except UnicodeEncodeError:
        raise CueUsageError(f"invalid path {path!r}: not valid Unicode text") from None


def _bytes_hook(pairs: list[tuple[str, Any]]) -> Any:
    # A bytes value is the one pair ("\x00bytes", base64); a struct's own field of
    # that name comes as two pairs (go/export.go), so the two never mix.
    if len(pairs) == 1 and pairs[0][0] == _BYTES_KEY:
        return base64.b64decode(pairs[0][1])
    return dict(pairs)


# How to read cue_decode's output, by its flags (CUE_DECODED_* in go/cuepy.h).
_DECODERS: dict[int, Callable[[bytes], Any]] = {
    0: json.loads,
    1: lambda data: json.loads(data, object_pairs_hook=_bytes_hook),
    2: bytes.decode,
    3: int,
    4: bytes,
}


class Value:
    """A CUE value. Free it with ``close()`` or ``with``; garbage collection is the backstop.

    Values are immutable: ``fill`` and ``unify`` return new values. Several
    threads may read one value at once.
    """

    __slots__ = ("__weakref__", "_handle")

    def __init__(self, handle: int) -> None:
        """Take ownership of a libcuepy value handle (cuepy's functions make Values; this checks its kind)."""
        self._handle = 0
        if type(handle) is not int or handle <= 0:
            raise TypeError("cuepy.Value takes a libcuepy value handle; make values with cuepy.compile, encode or load")
        lib, ffi = native()
        out = ffi.new("uint32_t[2]")
        concrete = ffi.new("int32_t *")
        check(lib.cue_kind(handle, out, out + 1, concrete))  # a usage error for any other kind of handle
        self._handle = handle

    @classmethod
    def _own(cls, handle: int) -> Value:
        """A Value owning ``handle``, fresh from libcuepy (no check: the fast path)."""
        v = object.__new__(cls)
        v._handle = handle
        return v

    def __reduce__(self) -> Any:
        raise TypeError(
            "a cuepy.Value lives in libcuepy and cannot be pickled or sent to another process; "
            "send its data instead (cuepy.extract(value), value.export('cue'))"
        )

    # Lifetime ---------------------------------------------------------------

    @property
    def handle(self) -> int:
        """The libcuepy handle; raises CueUsageError once the value is closed."""
        if not self._handle:
            raise CueUsageError("this cuepy.Value is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return not self._handle

    def close(self) -> None:
        """Free the value's handle now; further use raises CueUsageError."""
        handle, self._handle = self._handle, 0
        if handle:
            free_handle(handle)

    def __enter__(self) -> Value:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown or a forked child: nothing to free into
            pass

    def __repr__(self) -> str:
        if not self._handle:
            return "<cuepy.Value closed>"
        return f"<cuepy.Value {self.kind.name or 'BOTTOM'}{'' if self.is_concrete() else ' (incomplete)'}>"

    # Navigation -------------------------------------------------------------

    def lookup(self, path: str) -> Value:
        """The value at ``path`` (CUE path syntax: ``a.b."c-d".#e[0]``); CueLookupError if absent."""
        lib, ffi = native()
        out = ffi.new("cue_handle *")
        check(lib.cue_lookup(self.handle, _check_path(path), out))
        if not out[0]:
            raise CueLookupError(f"no field at path {path!r}")
        return Value._own(out[0])

    def get(self, path: str, default: Any = None) -> Any:
        """The value at ``path``, or ``default`` if there is none."""
        try:
            return self.lookup(path)
        except CueLookupError:
            return default

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None

    def fields(self, *, definitions: bool = False, hidden: bool = False, optional: bool = False) -> Iterator[
        tuple[str, Value]
    ]:
        """(label, value) for each field of a struct, in order; regular fields by default."""
        lib, ffi = native()
        labels_out, values_out = ffi.new("cue_bytes *"), ffi.new("cue_handles *")
        check(lib.cue_fields(self.handle, _opts(definitions=definitions, hidden=hidden, optional=optional),
                             labels_out, values_out))  # fmt: skip
        values = [Value._own(h) for h in take_handles(values_out)]  # owned first: nothing leaks if labels fail
        labels = json.loads(take_bytes(labels_out))
        return iter(list(zip(labels, values, strict=True)))

    def elements(self) -> Iterator[Value]:
        """The elements of a list, in order."""
        lib, ffi = native()
        out = ffi.new("cue_handles *")
        check(lib.cue_elements(self.handle, out))
        return iter([Value._own(h) for h in take_handles(out)])

    # Kind and concreteness --------------------------------------------------

    def _kinds(self) -> tuple[int, int, bool]:
        lib, ffi = native()
        out = ffi.new("uint32_t[2]")
        concrete = ffi.new("int32_t *")
        check(lib.cue_kind(self.handle, out, out + 1, concrete))
        return out[0], out[1], bool(concrete[0])

    @property
    def kind(self) -> Kind:
        """The value's kind: for ``5`` and for ``int`` alike Kind.INT; Kind.BOTTOM for an error."""
        return Kind(self._kinds()[1])

    def is_concrete(self) -> bool:
        """Whether the value is concrete data (a struct or list counts, whatever it holds)."""
        return self._kinds()[2]

    def default(self) -> Value:
        """The value's default (``*1 | int`` gives 1); the value itself if it has none."""
        lib, ffi = native()
        out = ffi.new("cue_handle *")
        has = ffi.new("int32_t *")
        check(lib.cue_default(self.handle, out, has))
        return Value._own(out[0])

    @property
    def context(self) -> Context:
        """The context the value was built in (compile more values there to mix them freely)."""
        from cuepy.api import Context

        lib, ffi = native()
        out = ffi.new("cue_handle *")
        check(lib.cue_value_context(self.handle, out))
        return Context(out[0])

    # Combining --------------------------------------------------------------

    def unify(self, *others: Value) -> Value:
        """This value unified with ``others``."""
        from cuepy.api import unify

        return unify(self, *others)

    def fill(self, path: str, x: Any) -> Value:
        """A new value with ``x`` (a Value or Python data) unified in at ``path`` ("" for the root)."""
        from cuepy.api import as_value

        path_bytes = _check_path(path)

        def run() -> Value:
            lib, ffi = native()
            other, owned = as_value(x)
            try:
                out = ffi.new("cue_handle *")
                check(lib.cue_fill(self.handle, path_bytes, other.handle, out))
                return Value._own(out[0])
            finally:
                if owned:
                    other.close()

        return traced("fill", run, path=path)

    # Checking and reading ---------------------------------------------------

    def validate(self, *, concrete: bool = False, final: bool = False, all_errors: bool = False) -> None:
        """Raise a CueError if the value has errors (or, with ``concrete``, is not concrete)."""
        lib, _ = native()
        opts = _opts(concrete=concrete, final=final, all_errors=all_errors)

        def run() -> None:
            check(lib.cue_validate(self.handle, opts))

        traced("validate", run, concrete=concrete)

    def to_python(self) -> Any:
        """The value as Python data (defaults applied, ints exact); CueIncompleteError if not concrete."""
        lib, ffi = native()
        out = ffi.new("cue_bytes *")
        check(lib.cue_decode(self.handle, out))
        data = take_bytes(out)
        try:
            return _DECODERS[out.flags](data)
        except RecursionError:
            raise CueLimitError(
                f"value nested deeper than Python's recursion limit ({sys.getrecursionlimit()}) allows "
                "as Python data; export it (value.export('json')) instead",
                limit="depth",
            ) from None
        except ValueError as exc:
            if "integer string conversion" not in str(exc):
                raise
            raise CueLimitError(
                f"value holds an integer longer than Python converts from text ({exc}); "
                "raise sys.set_int_max_str_digits() or export it (value.export('json')) instead",
                limit="int",
            ) from None

    def export(
        self,
        format: ExportFormat = "json",
        *,
        indent: bool = False,
        final: bool = False,
        concrete: bool = False,
        docs: bool = True,
        attributes: bool = True,
        definitions: bool = True,
        hidden: bool = True,
        optional: bool = True,
    ) -> str:
        """The value as JSON, YAML or formatted CUE source.

        JSON and YAML need concrete data (CueIncompleteError otherwise). The
        switches shape CUE output: ``final`` resolves defaults and drops
        definitions and optional fields, the others keep or drop what they name.
        """
        if format not in _FORMATS:
            raise ValueError(f"format must be one of {sorted(_FORMATS)}, not {format!r}")
        opts = _opts(
            indent=indent, final=final, concrete=concrete, docs=docs, attributes=attributes,
            definitions=definitions, hidden=hidden, optional=optional,
        )  # fmt: skip
        lib, ffi = native()

        def run() -> str:
            out = ffi.new("cue_bytes *")
            check(lib.cue_export(self.handle, _FORMATS[format], opts, out))
            return take_bytes(out).decode()

        return traced("export", run, format=format)

    def source(self) -> dict[str, Any]:
        """Where the value's own source is: file, offset, end, line, column and the formatted text."""
        lib, ffi = native()
        out = ffi.new("cue_bytes *")
        check(lib.cue_source(self.handle, out))
        result: dict[str, Any] = json.loads(take_bytes(out))
        return result
