"""lookup, fields, unify, fill, validate, extract and export."""

from __future__ import annotations

import json

import pytest

import cuepy

SOURCE = """
a: b: "c-d": #e: [10, 20]
a: b: "c-d": plain: 1
#Def: {x: int}
_hidden: 3
opt?: string
req: "here"
"""


@pytest.fixture
def value() -> cuepy.Value:
    return cuepy.compile(SOURCE, filename="src.cue")


def test_lookup_path_syntax(value: cuepy.Value) -> None:
    assert value.lookup('a.b."c-d".#e[0]').to_python() == 10
    assert value.lookup('a.b."c-d".#e[1]').to_python() == 20
    assert value.lookup("#Def.x").kind is cuepy.Kind.INT


def test_lookup_missing_and_invalid(value: cuepy.Value) -> None:
    with pytest.raises(cuepy.CueLookupError, match="nope"):
        value.lookup("nope")
    assert value.get("nope", 7) == 7
    with pytest.raises(cuepy.CueUsageError, match="invalid path"):
        value.lookup("a..b")
    with pytest.raises(TypeError):
        value.lookup(3)  # type: ignore[arg-type]


def test_fields_switches(value: cuepy.Value) -> None:
    assert [k for k, _ in value.fields()] == ["a", "req"]
    assert [k for k, _ in value.fields(definitions=True)] == ["a", "#Def", "req"]
    assert "_hidden" in [k for k, _ in value.fields(hidden=True)]
    assert "opt" in [k for k, _ in value.fields(optional=True)]
    nested = dict(value.lookup("a.b").fields())
    assert list(nested) == ["c-d"]


def test_elements() -> None:
    v = cuepy.compile("l: [1, {a: 2}, 'x']")
    assert [e.to_python() for e in v.lookup("l").elements()] == [1, {"a": 2}, b"x"]


def test_unify_many_and_python_data() -> None:
    schema = cuepy.compile('name: string\nreplicas: int & >0\nimage: =~"^[a-z]+$"')
    out = cuepy.unify(schema, {"name": "web"}, cuepy.compile("replicas: 3"), {"image": "nginx"})
    assert out.to_python() == {"name": "web", "replicas": 3, "image": "nginx"}


def test_unify_conflict_reports_positions() -> None:
    a = cuepy.compile("x: 1", filename="a.cue")
    b = cuepy.compile("x: 2", filename="b.cue")
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.unify(a, b).validate()
    files = {p.file for p in info.value.positions}
    assert {"a.cue", "b.cue"} <= files


def test_values_from_different_contexts_unify() -> None:
    one, two = cuepy.Context(), cuepy.Context()
    a = one.compile("x: int, y: x + 1")
    b = two.compile("x: 41")
    assert cuepy.unify(a, b).to_python() == {"x": 41, "y": 42}


def test_fill_paths() -> None:
    v = cuepy.compile("#values: {image: string, replicas: *1 | int}\nout: #values")
    filled = v.fill("#values", {"image": "nginx:1.27"})
    assert filled.lookup("out").to_python() == {"image": "nginx:1.27", "replicas": 1}
    assert v.fill("", {"extra": True}).lookup("extra").to_python() is True
    with pytest.raises(cuepy.CueEvalError):
        v.fill("#values.replicas", "three").lookup("out").to_python()


def test_validate_switches() -> None:
    v = cuepy.compile("a: int\nb: *1 | 2")
    v.validate()
    with pytest.raises(cuepy.CueIncompleteError, match="incomplete"):
        v.validate(concrete=True)
    nested = cuepy.compile("s: {a: int}\nt: s & {a: 1}")
    nested.validate(concrete=False, final=True)
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.compile("a: >10\na: 5\nb: <0\nb: 1", filename="bad.cue")
    assert info.value.errors[0].positions[0].file == "bad.cue"
    assert info.value.errors[0].positions[0].line in (1, 2)


def test_extract_formats() -> None:
    v = cuepy.compile('app: {name: "web", ports: [80, 443]}')
    assert cuepy.extract(v) == {"app": {"name": "web", "ports": [80, 443]}}
    assert cuepy.extract(v, "app.name") == "web"
    assert json.loads(cuepy.extract(v, format="json")) == {"app": {"name": "web", "ports": [80, 443]}}
    assert cuepy.extract(v, "app", format="yaml") == "name: web\nports:\n  - 80\n  - 443\n"
    assert cuepy.extract(v, "app", format="cue") == 'name: "web"\nports: [80, 443]\n'
    with pytest.raises(ValueError, match="format"):
        cuepy.extract(v, format="toml")  # type: ignore[arg-type]


def test_extract_incomplete_raises() -> None:
    v = cuepy.compile("a: string\nb: 1")
    for fmt in ("python", "json", "yaml"):
        with pytest.raises(cuepy.CueIncompleteError):
            cuepy.extract(v, format=fmt)  # type: ignore[arg-type]
    assert "a: string" in cuepy.extract(v, format="cue")


@pytest.mark.parametrize("format", ["xml", {}, ["json"], None])
def test_export_to_an_unknown_format_is_a_value_error_naming_the_formats(format: object) -> None:
    # (A dict or list gave "unhashable type" before.)
    with pytest.raises(ValueError, match=r"format must be one of \['cue', 'json', 'yaml'\]"):
        cuepy.compile("a: 1").export(format)  # type: ignore[arg-type]


def test_export_cue_switches() -> None:
    v = cuepy.compile("// doc\na: *1 | int @attr(x)\n#D: {y: 1}\n_h: 2\no?: int")
    full = v.export("cue")
    assert "// doc" in full and "@attr(x)" in full and "#D" in full and "_h" in full and "o?" in full
    bare = v.export("cue", docs=False, attributes=False, definitions=False, hidden=False, optional=False)
    assert "// doc" not in bare and "@attr" not in bare and "#D" not in bare and "_h" not in bare
    assert "o?" not in bare
    final = v.export("cue", final=True, definitions=False, hidden=False, optional=False, attributes=False)
    assert final.strip().startswith("// doc\na: 1")
    # final composes with the switches, as `cue eval -a` / `-H`: it does not override them
    assert "o?: int" in v.export("cue", final=True)
    assert "_h: 2" in v.export("cue", final=True, hidden=True) and "#D" in v.export("cue", final=True)
    assert json.loads(v.export("json", indent=True)) == {"a": 1}
    assert v.export("json", indent=True).startswith("{\n  ")


def test_closed_value_raises() -> None:
    v = cuepy.compile("a: 1")
    v.close()
    v.close()  # idempotent
    assert v.closed
    with pytest.raises(cuepy.CueUsageError, match="closed"):
        v.to_python()
    with cuepy.compile("b: 2") as w:
        assert w.to_python() == {"b": 2}
    assert w.closed


def test_handles_are_released() -> None:
    before = cuepy.live_handles()
    for _ in range(50):
        with cuepy.compile("a: b: [1, 2]") as v:
            list(v.fields())
            v.lookup("a.b").to_python()
    import gc

    gc.collect()
    assert cuepy.live_handles() <= before + 1  # the shared context may have been renewed


def test_memstats_counts_allocations() -> None:
    before = cuepy.memstats()
    cuepy.compile(
        'a: [for i in list.Range(0, 1000, 1) {i}]\nimport "list"'.replace('import "list"', "")
        if False
        else 'import "list"\na: [for i in list.Range(0, 1000, 1) {i}]'
    ).to_python()
    after = cuepy.memstats()
    assert after.alloc_bytes > before.alloc_bytes
    assert after.alloc_objects > before.alloc_objects
    assert after.total_bytes > 0


def test_versions() -> None:
    assert cuepy.__cue_version__ == "v0.17.1"
    assert cuepy.__version__


def test_every_error_in_cue_order() -> None:
    src = 'z: {y: 1}\na: z & {y: 2}\nm: "s" & 3\nb: int & "x"\n'
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.compile(src, filename="m.cue")
    exc = info.value
    assert sorted(e.path for e in exc.errors) == [("a", "y"), ("b",), ("m",)]
    # errors in the order str() (as the cue command) prints them
    starts = [str(exc).index(".".join(e.path) + ": " + e.message) for e in exc.errors]
    assert starts == sorted(starts)
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.unify(cuepy.compile("a: 1\nb: 2"), {"a": 2, "b": 3})
    assert len(info.value.errors) == 2
    v = cuepy.compile("#D: {a: int}\nx: #D")
    with pytest.raises(cuepy.CueEvalError) as info:
        v.fill("x", {"b": 1, "c": 2})
    assert [e.path for e in info.value.errors] == [("x", "b"), ("x", "c")]


def test_export_incomplete_names_data_paths() -> None:
    v = cuepy.compile('#S: {name: string}\nout: a: #S\nout: b: #S\nd: "x" | "y"', filename="s.cue")
    for fmt in ("json", "yaml"):
        with pytest.raises(cuepy.CueIncompleteError) as info:
            v.export(fmt)  # type: ignore[arg-type]
        paths = [e.path for e in info.value.errors]
        assert paths[0] == ("d",) and ("out", "a", "name") in paths and not any("#S" in p for p in paths)
        assert info.value.errors[0].message == 'incomplete value "x" | "y"'


def test_json_indent_width() -> None:
    v = cuepy.compile('a: {b: "<&>"}')
    assert v.export("json") == '{"a":{"b":"<&>"}}'
    assert v.export("json", indent=4) == '{\n    "a": {\n        "b": "<&>"\n    }\n}\n'
    assert v.export("cue", indent=4) == 'a: {\n    b: "<&>"\n}\n'
    with pytest.raises(ValueError, match="indent"):
        v.export("json", indent=-1)


def test_optional_inside_expressions_kept() -> None:
    v = cuepy.compile("l: [...{c?: int}]\no?: int")
    assert v.export("cue", optional=False) == "l: [...{\n\tc?: int\n}]\n"


def test_hidden_and_tuple_lookup(value: cuepy.Value) -> None:
    assert value.lookup("_hidden").to_python() == 3
    assert value["_hidden"].to_python() == 3
    assert value.lookup(("a", "b", "c-d", "#e", 1)).to_python() == 20
    assert value["a", "b", "c-d"]["plain"].to_python() == 1
    assert value[("#Def", "x")].kind is cuepy.Kind.INT
    with pytest.raises(LookupError):
        value["nope"]
    assert ("a", "b") in value and "_hidden" in value


def test_value_is_pythonic() -> None:
    v = cuepy.compile('s: {a: 1, b: "x"}\nl: [1, 2]\nn: int\nd: *1 | int\nnd: 1 | 2')
    assert list(v["s"]) == ["a", "b"]
    assert [e.to_python() for e in v["l"]] == [1, 2]
    with pytest.raises(TypeError):
        iter(v["n"])
    assert v["s", "a"] == 1 and v["s", "a"] == cuepy.compile("1") and v["s", "a"] != 2
    assert v["n"] == cuepy.compile("int") and v["n"] != v["s", "a"]
    assert v["n"].subsumes(5) and not v["s", "a"].subsumes(v["n"])
    assert repr(v["s", "a"]) == "<cuepy.Value int: 1>"
    assert repr(v["n"]) == "<cuepy.Value int (incomplete): int>"
    assert repr(v["s"]).startswith("<cuepy.Value struct: ")
    d = v["d"].default()
    assert d is not None and d.to_python() == 1
    assert v["nd"].default() is None and v["s", "a"].default() is None
    assert v["n"].concrete_kind is cuepy.Kind.BOTTOM and v["n"].incomplete_kind is cuepy.Kind.INT
    assert v["s", "a"].concrete_kind is cuepy.Kind.INT


def test_value_context_is_one_object() -> None:
    ctx = cuepy.Context()
    v = ctx.compile("a: b: 1")
    assert v.context is ctx and v["a"].context is ctx and v["a", "b"].context is ctx
    loaded = cuepy.encode({"x": 1})
    assert loaded.context is loaded["x"].context
    before = cuepy.live_handles()
    for _ in range(5):
        assert loaded.context is loaded.context
    assert cuepy.live_handles() == before


def test_with_context_keeps_state() -> None:
    exc = cuepy.CueLimitError("too slow", limit="time")
    assert exc.with_context("while rendering") is exc
    assert exc.limit == "time" and exc.__notes__ == ["while rendering"]


def test_generated_files_match_header() -> None:
    import build_cue
    from cuepy import _constants

    assert (build_cue.ROOT / "cuepy" / "_constants.py").read_text() == build_cue.constants_source()
    assert (build_cue.ROOT / "cuepy" / "_cue.pyi").read_text() == build_cue.stub_source()
    assert _constants.CUE_OPT_INDENT == 256
