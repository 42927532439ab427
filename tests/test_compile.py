"""compile, encode and to_python: values in, values out, exactly."""

from __future__ import annotations

import decimal
import math
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cuepy
from cuepy import Kind


def test_compile_and_read_back() -> None:
    v = cuepy.compile('a: 1\nb: {c: "x", d: [1, 2.5, true, null]}')
    assert v.to_python() == {"a": 1, "b": {"c": "x", "d": [1, 2.5, True, None]}}
    assert v.kind is Kind.STRUCT
    assert v.is_concrete()


def test_compile_bytes_source() -> None:
    assert cuepy.compile(b"x: 2 * 21").lookup("x").to_python() == 42


def test_big_ints_stay_exact() -> None:
    big = 2**200 + 1
    v = cuepy.compile(f"a: {big}\nc: -{big}\nd: 12345678901234567890 * 10")
    assert v.lookup("a").to_python() == big
    assert v.to_python() == {"a": big, "c": -big, "d": 123456789012345678900}
    assert cuepy.encode({"n": -(2**100)}).lookup("n").to_python() == -(2**100)


def test_big_int_arithmetic_follows_cue() -> None:
    # CUE computes with 34 significant digits; cuepy returns that result as an exact int.
    v = cuepy.compile(f"b: {2**200 + 1} * 3")
    assert v.lookup("b").to_python() == int(decimal.Decimal(v.export("json").split(":")[1].rstrip("}")))
    assert isinstance(v.lookup("b").to_python(), int)


def test_unicode_round_trip() -> None:
    text = "grüße, 世界 🌍 \u0000-free \"quoted\" \\back"
    v = cuepy.encode({"s": text, "ключ": "значение"})
    assert v.to_python() == {"s": text, "ключ": "значение"}
    assert cuepy.compile('s: "héllo"').lookup("s").to_python() == "héllo"


def test_bytes_round_trip() -> None:
    data = bytes(range(256))
    v = cuepy.encode({"raw": data, "nested": [b"", b"'\\"]})
    assert v.lookup("raw").to_python() == data
    assert v.to_python() == {"raw": data, "nested": [b"", b"'\\"]}
    assert v.lookup("raw").kind is Kind.BYTES


def test_floats() -> None:
    v = cuepy.compile("a: 1.5\nb: 1e300\nc: 2.0\nd: 0.1 + 0.2")
    out = v.to_python()
    assert out["a"] == 1.5 and out["b"] == 1e300
    assert isinstance(out["c"], float) and out["c"] == 2.0
    assert math.isclose(out["d"], 0.3)


def test_defaults_applied() -> None:
    v = cuepy.compile('port: *8080 | int\nmode: *"fast" | "slow"')
    assert v.to_python() == {"port": 8080, "mode": "fast"}
    assert v.lookup("port").default().to_python() == 8080


def test_kinds_of_types_and_values() -> None:
    v = cuepy.compile("i: int\nn: number\ns: string\nx: 5\nl: [...int]\no: {}\nu: null")
    assert v.lookup("i").kind is Kind.INT and not v.lookup("i").is_concrete()
    assert v.lookup("n").kind == Kind.NUMBER
    assert v.lookup("s").kind is Kind.STRING
    assert v.lookup("x").kind is Kind.INT and v.lookup("x").is_concrete()
    assert v.lookup("l").kind is Kind.LIST
    assert v.lookup("u").kind is Kind.NULL


def test_encode_rejects_non_data() -> None:
    with pytest.raises(TypeError, match="object"):
        cuepy.encode({"a": object()})
    with pytest.raises(ValueError, match="NaN"):
        cuepy.encode({"a": float("nan")})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        cuepy.encode(loop)


def test_compile_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        cuepy.compile(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="filename"):
        cuepy.compile("a: 1", filename=5)  # type: ignore[arg-type]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8).map(_nfc), children, max_size=4)
    ),
    max_leaves=20,
)


def _nfc_keys(data: object) -> object:
    # CUE normalizes field labels to Unicode NFC (string values are kept as they are).
    if isinstance(data, dict):
        return {_nfc(k): _nfc_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_nfc_keys(x) for x in data]
    return data


@settings(max_examples=150, deadline=None)
@given(json_data)
def test_encode_to_python_round_trip(data: object) -> None:
    with cuepy.encode({"v": data}) as v:
        assert v.to_python() == {"v": _nfc_keys(data)}


def test_labels_are_nfc_normalized_values_are_not() -> None:
    assert cuepy.encode({"\uf900": "\uf900"}).to_python() == {"\u8c48": "\uf900"}
