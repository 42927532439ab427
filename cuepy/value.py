"""``Value``: a CUE value held by libcuepy, and what can be asked of it."""

from __future__ import annotations

import base64
import enum
import json
import re
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from cuepy import _constants as C
from cuepy._native import check, free_handle, native, take_bytes, take_handles
from cuepy.errors import CueError, CueLimitError, CueLookupError, CueSyntaxError, CueUsageError
from cuepy.trace import run as traced

if TYPE_CHECKING:
    from cuepy.api import Context

ExportFormat = Literal["json", "yaml", "cue"]
_FORMATS = {"json": C.CUE_FORMAT_JSON, "yaml": C.CUE_FORMAT_YAML, "cue": C.CUE_FORMAT_CUE}
_BYTES_KEY = "\x00bytes"

# A path given as labels: str labels (regular, "#Def", "_hidden") and int list indexes.
Label = str | int
PathLike = str | tuple[Label, ...]


class Kind(enum.Flag):
    """The kinds a CUE value can have; a non-concrete value may have several."""

    BOTTOM = 0
    NULL = C.CUE_KIND_NULL
    BOOL = C.CUE_KIND_BOOL
    INT = C.CUE_KIND_INT
    FLOAT = C.CUE_KIND_FLOAT
    STRING = C.CUE_KIND_STRING
    BYTES = C.CUE_KIND_BYTES
    STRUCT = C.CUE_KIND_STRUCT
    LIST = C.CUE_KIND_LIST
    NUMBER = INT | FLOAT


_OPTION_BITS = {
    "definitions": C.CUE_OPT_DEFINITIONS, "hidden": C.CUE_OPT_HIDDEN, "optional": C.CUE_OPT_OPTIONAL,
    "concrete": C.CUE_OPT_CONCRETE, "final": C.CUE_OPT_FINAL, "docs": C.CUE_OPT_DOCS,
    "attributes": C.CUE_OPT_ATTRIBUTES, "all_errors": C.CUE_OPT_ALL_ERRORS, "indent": C.CUE_OPT_INDENT,
}  # fmt: skip


def _opts(**flags: bool) -> int:
    return sum(_OPTION_BITS[name] for name, on in flags.items() if on)


def _indent_bits(indent: bool | int) -> int:
    """CUE_OPT_INDENT and the width (bits from CUE_OPT_INDENT_SHIFT) for ``indent``."""
    if indent is True:
        return C.CUE_OPT_INDENT
    if indent is False or indent is None:
        return 0
    if type(indent) is not int or not 0 <= indent <= 255:
        raise ValueError(f"indent must be a bool or a number of spaces from 0 to 255, not {indent!r}")
    return C.CUE_OPT_INDENT | (indent << C.CUE_OPT_INDENT_SHIFT) if indent else 0


_IDENT = re.compile(r"[A-Za-z$][A-Za-z0-9_$]*|[#_][A-Za-z0-9_$#]*")
_KEYWORDS = {"if", "for", "in", "let", "import", "package", "true", "false", "null", "_|_", "_"}


def _label_text(label: object) -> str:
    """One label of a tuple path in CUE path syntax."""
    if type(label) is int:
        if label < 0:
            raise CueUsageError(f"invalid list index {label}")
        return f"[{label}]"
    if not isinstance(label, str):
        raise TypeError(f"a path label must be a str or an int, not {type(label).__name__}")
    if label.startswith(("#", "_")):  # definitions and hidden fields, as fields() names them
        if not _IDENT.fullmatch(label) or label in _KEYWORDS:
            raise CueUsageError(f"invalid definition or hidden label {label!r}")
        return label
    if _IDENT.fullmatch(label) and label not in _KEYWORDS:
        return label
    return json.dumps(label, ensure_ascii=False)


def _path_text(path: object) -> str:
    if isinstance(path, tuple):
        text = ""
        for label in path:
            part = _label_text(label)
            text += part if part.startswith("[") or not text else "." + part
        return text
    if not isinstance(path, str):
        raise TypeError(f"a CUE path must be a str such as 'a.b.\"c-d\".#e[0]' or a tuple of labels, "
                        f"not {type(path).__name__}")  # fmt: skip
    return path


# Python Contexts by the identity of their CUE context (cue_context_id), so
# that every value of one context gives the same Context object and handle.
_contexts: weakref.WeakValueDictionary[int, Context] = weakref.WeakValueDictionary()
_remembered: weakref.WeakSet[Context] = weakref.WeakSet()


def _context_id(handle: int) -> int:
    lib, ffi = native()
    out = ffi.new("uint64_t *")
    check(lib.cue_context_id(handle, out))
    return int(out[0])


def remember_context(context: Context) -> None:
    """Make ``context`` the Context that values built in it report (``Value.context``)."""
    if context not in _remembered:
        _contexts.setdefault(_context_id(context.handle), context)
        _remembered.add(context)


def _check_path(given: object) -> bytes:
    path = _path_text(given)
    if "\x00" in path:  # C strings end there: the Go side would see a shorter path
        raise CueUsageError(f"invalid path {path!r}: contains a NUL byte")
    try:
        return path.encode()
    except UnicodeEncodeError:
        raise CueUsageError(f"invalid path {path!r}: not valid Unicode text") from None


def _bytes_hook(pairs: list[tuple[str, Any]]) -> Any:
    # A bytes value is the one pair ("\x00bytes", base64); a struct's own field of
    # that name comes as two pairs (go/internal/extract/decode.go), so the two never mix.
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

    __slots__ = ("__weakref__", "_context", "_handle")

    def __init__(self, handle: int) -> None:
        """Take ownership of a libcuepy value handle (cuepy's functions make Values; this checks its kind)."""
        self._handle = 0
        self._context: Context | None = None
        if type(handle) is not int or handle <= 0:
            raise TypeError("cuepy.Value takes a libcuepy value handle; make values with cuepy.compile, encode or load")
        lib, ffi = native()
        out = ffi.new("uint32_t[2]")
        concrete = ffi.new("int32_t *")
        check(lib.cue_kind(handle, out, out + 1, concrete))  # a usage error for any other kind of handle
        self._handle = handle

    @classmethod
    def _own(cls, handle: int, context: Context | None = None) -> Value:
        """A Value owning ``handle``, fresh from libcuepy (no check: the fast path)."""
        v = object.__new__(cls)
        v._handle = handle
        v._context = context
        return v

    def _derived(self, handle: int) -> Value:
        """A value taken from this one (same CUE context)."""
        return Value._own(handle, self._context)

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
        """``<cuepy.Value int: 5>``: the kind (``incomplete`` when not concrete) and the value as CUE, shortened."""
        if not self._handle:
            return "<cuepy.Value closed>"
        try:
            _, incomplete, concrete = self._kinds()
            names = Kind(incomplete).name or "BOTTOM"
            label = names.lower().replace("|", " | ") + ("" if concrete else " (incomplete)")
            text = " ".join(self.export("cue", docs=False, attributes=False).split())
        except CueError as exc:
            return f"<cuepy.Value error: {str(exc).splitlines()[0][:60]}>"
        if len(text) > 60:
            text = text[:57] + "..."
        return f"<cuepy.Value {label}: {text}>"

    # Equality and order -----------------------------------------------------

    def __eq__(self, other: object) -> bool:
        """CUE equality: two concrete values are equal when CUE's ``Equals`` says so
        (optional fields ignored); otherwise each must subsume the other (``int == int``,
        ``>1 == >1``, ``int != 5``). Python data is encoded first; other objects are never equal.
        """
        if isinstance(other, Value):
            return self._equal(other)
        if other is None or isinstance(other, bool | int | float | str | bytes | list | tuple | dict):
            from cuepy.api import encode

            try:
                with encode(other) as data:
                    return self._equal(data)
            except (TypeError, ValueError):
                return False
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # equality is CUE's, not identity

    def _equal(self, other: Value) -> bool:
        lib, ffi = native()
        out = ffi.new("int32_t *")
        check(lib.cue_equal(self.handle, other.handle, out))
        return bool(out[0])

    def subsumes(self, other: Any) -> bool:
        """Whether this value subsumes ``other`` (a Value or Python data): every instance of
        ``other`` is an instance of this one (``int`` subsumes ``5``; ``5`` does not subsume ``int``).
        """
        from cuepy.api import as_value

        x, owned = as_value(other)
        try:
            lib, ffi = native()
            out = ffi.new("int32_t *")
            check(lib.cue_subsumes(self.handle, x.handle, out))
            return bool(out[0])
        finally:
            if owned:
                x.close()

    # Navigation -------------------------------------------------------------

    def lookup(self, path: PathLike) -> Value:
        """The value at ``path``; CueLookupError if absent.

        ``path`` is CUE path syntax (``a.b."c-d".#e[0]``, hidden labels too: ``_a``) or a
        tuple of labels: strs as ``fields()`` names them (any text for a regular field,
        ``"#D"`` for a definition, ``"_h"`` for a hidden field) and ints for list indexes.
        """
        lib, ffi = native()
        out = ffi.new("cue_handle *")
        check(lib.cue_lookup(self.handle, _check_path(path), out))
        if not out[0]:
            raise CueLookupError(f"no field at path {path!r}")
        return self._derived(out[0])

    def evaluate(self, expr: str, *, filename: str = "--expression") -> Value:
        """The value of the CUE expression ``expr`` evaluated in this value's scope, as
        ``cue export -e EXPR`` / ``cue eval -e EXPR`` do: ``v.evaluate("a + 1")``,
        ``v.evaluate('strings.ToUpper(name)')`` (standard-library packages need no import),
        ``v.evaluate("[for x in items if x > 1 {x}]")``; hidden fields of the value's package resolve.

        A syntax error in ``expr`` is a CueSyntaxError placed at ``filename`` (``cue``'s own
        ``--expression:1:4``); a reference to nothing is a CueEvalError (``reference "x" not
        found``); so is any other error of the result that is not only incompleteness (as
        ``compile``). ``lookup`` is the faster way to a field by path.
        """
        if not isinstance(expr, str):
            raise TypeError(f"expr must be a str, not {type(expr).__name__}")
        if not isinstance(filename, str):
            raise TypeError(f"filename must be a str, not {type(filename).__name__}")
        if "\x00" in filename:
            raise CueUsageError("filename contains a NUL byte")
        try:
            data = expr.encode()
        except UnicodeEncodeError as exc:
            raise CueSyntaxError(f"{filename}: expression is not valid Unicode text ({exc.reason} at character "
                                 f"{exc.start})") from None  # fmt: skip
        if b"\x00" in data:
            raise CueSyntaxError(f"{filename}: expression contains a NUL byte")
        lib, ffi = native()
        name = filename.encode()

        def run() -> Value:
            out = ffi.new("cue_handle *")
            check(lib.cue_evaluate(self.handle, data, len(data), name, out))
            return self._derived(out[0])

        return traced("evaluate", run, size=len(data))

    def get(self, path: PathLike, default: Any = None) -> Any:
        """The value at ``path``, or ``default`` if there is none."""
        try:
            return self.lookup(path)
        except CueLookupError:
            return default

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str | tuple) and self.get(path) is not None

    def __getitem__(self, key: Label | tuple[Label, ...]) -> Value:
        """``v["a"]``: the field labelled ``a`` (one label, not a path; ``"#D"``, ``"_h"`` too);
        ``v[0]``: a list element; ``v["a", "b"]``: labels in turn. CueLookupError (a LookupError) if absent.
        """
        return self.lookup(key if isinstance(key, tuple) else (key,))

    def __iter__(self) -> Iterator[Any]:
        """A struct's regular field labels (as a dict's keys), a list's elements (Values)."""
        kind = self.kind
        if kind == Kind.LIST:
            return self.elements()
        if kind == Kind.STRUCT:
            labels = []
            for label, v in self.fields():
                v.close()
                labels.append(label)
            return iter(labels)
        raise TypeError(f"a CUE value of kind {kind.name or 'BOTTOM'} is not iterable (only structs and lists)")

    def fields(
        self, *, definitions: bool = False, hidden: bool = False, optional: bool = False
    ) -> Iterator[tuple[str, Value]]:
        """(label, value) for each field of a struct, in order; regular fields by default."""
        lib, ffi = native()
        labels_out, values_out = ffi.new("cue_bytes *"), ffi.new("cue_handles *")
        check(lib.cue_fields(self.handle, _opts(definitions=definitions, hidden=hidden, optional=optional),
                             labels_out, values_out))  # fmt: skip
        values = [self._derived(h) for h in take_handles(values_out)]  # owned first: nothing leaks if labels fail
        labels = json.loads(take_bytes(labels_out))
        return iter(list(zip(labels, values, strict=True)))

    def elements(self) -> Iterator[Value]:
        """The elements of a list, in order."""
        lib, ffi = native()
        out = ffi.new("cue_handles *")
        check(lib.cue_elements(self.handle, out))
        return iter([self._derived(h) for h in take_handles(out)])

    # Kind and concreteness --------------------------------------------------

    def _kinds(self) -> tuple[int, int, bool]:
        lib, ffi = native()
        out = ffi.new("uint32_t[2]")
        concrete = ffi.new("int32_t *")
        check(lib.cue_kind(self.handle, out, out + 1, concrete))
        return out[0], out[1], bool(concrete[0])

    @property
    def kind(self) -> Kind:
        """The value's kind, concrete or not: for ``5`` and for ``int`` alike Kind.INT; Kind.BOTTOM for an error
        (the same as ``incomplete_kind``)."""
        return Kind(self._kinds()[1])

    @property
    def incomplete_kind(self) -> Kind:
        """The kinds the value may still take (Go's ``IncompleteKind``): ``int | string`` gives INT | STRING."""
        return Kind(self._kinds()[1])

    @property
    def concrete_kind(self) -> Kind:
        """The kind of the value as concrete data (Go's ``Kind``): Kind.INT for ``5``, Kind.BOTTOM for ``int``."""
        return Kind(self._kinds()[0])

    def is_concrete(self) -> bool:
        """Whether the value is concrete data (a struct or list counts, whatever it holds)."""
        return self._kinds()[2]

    def default(self) -> Value | None:
        """The value's default (``*1 | int`` gives 1), or None if it has none (``1 | int``, ``5``)."""
        lib, ffi = native()
        out = ffi.new("cue_handle *")
        has = ffi.new("int32_t *")
        check(lib.cue_default(self.handle, out, has))
        value = self._derived(out[0])
        if not has[0]:
            value.close()
            return None
        return value

    def usable(self) -> bool:
        """False once an evaluation in this value's context was stopped (``cuepy.stop``): the
        value may be partly evaluated, and libcuepy refuses it (``CueUsageError``)."""
        try:
            return self.context.usable()
        except CueUsageError:  # refused as soon as its context is asked for
            return False

    @property
    def context(self) -> Context:
        """The context the value was built in (compile more values there to mix them freely).

        Every value of one CUE context gives the same Context object, with one handle.
        """
        if self._context is not None:
            return self._context
        from cuepy.api import Context

        key = _context_id(self.handle)
        context = _contexts.get(key)
        if context is None:
            lib, ffi = native()
            out = ffi.new("cue_handle *")
            check(lib.cue_value_context(self.handle, out))
            context = _contexts.setdefault(key, Context(out[0]))
        self._context = context
        return context

    # Combining --------------------------------------------------------------

    def unify(self, *others: Value) -> Value:
        """This value unified with ``others``."""
        from cuepy.api import unify

        return unify(self, *others)

    def fill(self, path: PathLike, x: Any) -> Value:
        """A new value with ``x`` (a Value or Python data) unified in at ``path`` ("" for the root)."""
        from cuepy.api import as_value

        path_bytes = _check_path(path)

        def run() -> Value:
            lib, ffi = native()
            other, owned = as_value(x)
            try:
                out = ffi.new("cue_handle *")
                check(lib.cue_fill(self.handle, path_bytes, other.handle, out))
                return self._derived(out[0])
            finally:
                if owned:
                    other.close()

        return traced("fill", run, path=path_bytes.decode())

    # Checking and reading ---------------------------------------------------

    def validate(self, *, concrete: bool = False, final: bool = False, all_errors: bool = False) -> None:
        """Raise a CueError if the value has errors (or, with ``concrete``, is not concrete).

        The error holds every error CUE finds, in the order the ``cue`` command prints them
        (Go's ``Value.Validate`` collects them all; ``all_errors`` passes ``cue.All()``,
        which in CUE v0.17 changes nothing for validation). ``concrete=True`` is ``cue vet``.
        """
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
        indent: bool | int = False,
        final: bool = False,
        concrete: bool = False,
        docs: bool = True,
        attributes: bool = True,
        definitions: bool = True,
        hidden: bool = True,
        optional: bool = True,
    ) -> str:
        """The value as JSON, YAML or formatted CUE source.

        JSON and YAML need concrete data (CueIncompleteError otherwise, with every
        incomplete field named by its data path, as ``cue export`` reports them).
        ``indent``: JSON is compact by default; ``True`` indents by 2 spaces, a number
        by that many (``indent=4`` gives ``cue export``'s bytes); for CUE, a number
        indents with spaces instead of tabs and leaves labels as written (``cue eval``).

        The switches shape CUE output and compose as the ``cue`` command's modes do:
        ``final`` resolves defaults and hides definitions, hidden and optional fields,
        then ``definitions``/``hidden``/``optional`` show again what they name (``cue
        eval`` is ``final=True, definitions=True, hidden=False, optional=False,
        docs=False, attributes=False, indent=4``; see docs/cue-command.md).
        ``optional=False`` drops optional fields of the value's structs, not those
        inside expressions (``[...{c?: int}]`` stays as written).
        """
        if not isinstance(format, str) or format not in _FORMATS:
            raise ValueError(f"format must be one of {sorted(_FORMATS)}, not {format!r}")
        opts = _opts(
            final=final, concrete=concrete, docs=docs, attributes=attributes,
            definitions=definitions, hidden=hidden, optional=optional,
        ) | _indent_bits(indent)  # fmt: skip
        lib, ffi = native()

        def run() -> str:
            out = ffi.new("cue_bytes *")
            check(lib.cue_export(self.handle, _FORMATS[format], opts, out))
            return take_bytes(out).decode()

        return traced("export", run, format=format)

    def source(self) -> dict[str, Any]:
        """Where the value's own source is: file, offset, end, line, column and the formatted text,
        as written: in a flattened module too (the offsets of that line and column in the file, as
        it is on disk; -1 where they fall outside it)."""
        lib, ffi = native()
        out = ffi.new("cue_bytes *")
        check(lib.cue_source(self.handle, out))
        result: dict[str, Any] = json.loads(take_bytes(out))
        return result
