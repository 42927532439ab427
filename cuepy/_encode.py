"""Python data to CUE source text.

JSON is CUE, so json.dumps (in C) writes most data; only bytes, which JSON
lacks, take the slower path that writes CUE bytes literals.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from cuepy.errors import CueLimitError


def to_cue(data: Any) -> str:
    """CUE source for ``data``: dict, list, tuple, str, int, float, bool, None, bytes.

    Mapping keys follow json.dumps: str, or int, float, bool and None written as strings.
    """
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False)
    except TypeError:
        pass  # bytes, or a type that is not data at all: the writer below says which
    except ValueError as exc:
        if "circular" in str(exc).lower():
            raise ValueError("cannot convert a value that contains itself to CUE") from None
        if "float" in str(exc).lower():
            raise ValueError("CUE has no NaN or infinity; cannot convert float value") from exc
        # else an int too long for str() (sys.get_int_max_str_digits()): the writer spells it in hex
    except RecursionError:
        pass  # the writer below reports it
    parts: list[str] = []
    try:
        _write(data, parts, set())
    except RecursionError:
        raise CueLimitError(
            f"data nested deeper than Python's recursion limit ({sys.getrecursionlimit()}) "
            "cannot be converted to CUE",
            limit="depth",
        ) from None
    return "".join(parts)


def _write(x: Any, out: list[str], seen: set[int]) -> None:
    if x is None or isinstance(x, bool | str):
        out.append(json.dumps(x, ensure_ascii=False))
    elif isinstance(x, int):
        out.append(_int_literal(x))
    elif isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError("CUE has no NaN or infinity; cannot convert float value")
        out.append(json.dumps(x))
    elif isinstance(x, bytes | bytearray | memoryview):
        out.append(_bytes_literal(bytes(x)))
    elif isinstance(x, Mapping):
        _enter(x, seen)
        out.append("{")
        for i, (key, item) in enumerate(x.items()):
            out.append("," if i else "")
            out.append(json.dumps(_key(key), ensure_ascii=False))
            out.append(":")
            _write(item, out, seen)
        out.append("}")
        seen.discard(id(x))
    elif isinstance(x, Sequence):
        _enter(x, seen)
        out.append("[")
        for i, item in enumerate(x):
            out.append("," if i else "")
            _write(item, out, seen)
        out.append("]")
        seen.discard(id(x))
    else:
        kinds = "dict, list, str, int, float, bool, None, bytes"
        raise TypeError(f"cannot convert {type(x).__name__} to CUE (use {kinds})")


def _int_literal(x: int) -> str:
    try:
        return str(x)
    except ValueError:  # longer than sys.get_int_max_str_digits(): hex is exact, linear and unlimited
        return f"-{-x:#x}" if x < 0 else f"{x:#x}"


def _enter(x: object, seen: set[int]) -> None:
    if id(x) in seen:
        raise ValueError("cannot convert a value that contains itself to CUE")
    seen.add(id(x))


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return str(json.dumps(key))
    raise TypeError(f"mapping keys must be str, not {type(key).__name__}")


def _bytes_literal(data: bytes) -> str:
    chars = []
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x27, 0x5C):  # printable, not ' or \
            chars.append(chr(b))
        else:
            chars.append(f"\\x{b:02x}")
    return "'" + "".join(chars) + "'"
