"""What cuepy does as the `cue` command does beyond paths: -e expressions (Value.evaluate), -T tag
variables, YAML streams, JSON Schema and OpenAPI files, a package with data files, cue vet
(cuepy.vet) and CUE_EXPERIMENT. tests/conformance checks the same against `cue` itself."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import MakeModule

import cuepy

_ENV = dict(os.environ, PYTHONPATH=str(Path(cuepy.__file__).resolve().parent.parent))


# Value.evaluate ---------------------------------------------------------------


def test_evaluate_in_the_value_scope() -> None:
    v = cuepy.compile('a: 1\nb: {c: 2}\n_h: 3\nname: "web"\nlist: [1, 2, 3]')
    assert v.evaluate("a + 1").to_python() == 2
    assert v.evaluate("[a, b.c, _h]").to_python() == [1, 2, 3]
    assert v.evaluate("strings.ToUpper(name)").to_python() == "WEB"  # builtins without an import
    assert v.evaluate("[for x in list if x > 1 {x * 2}]").to_python() == [4, 6]
    with v.lookup("b") as b, b.evaluate("c + a") as r:  # a value's own fields first, then the enclosing ones
        assert r.to_python() == 3
    assert v.evaluate("a").context is v.context


def test_evaluate_hidden_fields_of_a_package(make_module: MakeModule) -> None:
    root = make_module({"x.cue": 'package x\n_secret: "s"\nport: 80', "y.cue": "package x\noffset: 1"})
    v = cuepy.load(root)
    assert v.evaluate(r'"\(_secret):\(port + offset)"').to_python() == "s:81"


def test_evaluate_errors() -> None:
    v = cuepy.compile("a: 1\n#D: {x: int}")
    with pytest.raises(cuepy.CueSyntaxError) as syntax:
        v.evaluate("a +")
    assert str(syntax.value) == "expected operand, found 'EOF':\n    --expression:1:4"
    assert syntax.value.errors[0].positions[0] == cuepy.Position("--expression", 1, 4)
    with pytest.raises(cuepy.CueSyntaxError, match=r"mine.cue:1:2"):
        v.evaluate("a)", filename="mine.cue")
    with pytest.raises(cuepy.CueEvalError) as missing:
        v.evaluate("nope")
    assert str(missing.value) == 'reference "nope" not found:\n    --expression:1:1'
    with pytest.raises(cuepy.CueEvalError, match="conflicting values 1 and 2"):
        v.evaluate("a & 2")
    with v.evaluate("#D") as d, pytest.raises(cuepy.CueIncompleteError, match="x: incomplete value int"):
        d.export("json")  # incomplete is not an error until exported
    with pytest.raises(TypeError):
        v.evaluate(1)  # type: ignore[arg-type]
    with pytest.raises(cuepy.CueSyntaxError, match="NUL"):
        v.evaluate("a\x00")
    with pytest.raises(cuepy.CueSyntaxError, match="Unicode"):
        v.evaluate("\ud800")
    with pytest.raises(cuepy.CueUsageError, match="NUL"):
        v.evaluate("a", filename="x\x00")


# tag_vars ---------------------------------------------------------------------


def test_tag_vars_inject_cues_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.cue").write_text(textwrap.dedent("""
        os: string @tag(os,var=os)
        arch: string @tag(arch,var=arch)
        cwd: string @tag(cwd,var=cwd)
        user: string @tag(user,var=username)
        host: string @tag(host,var=hostname)
        now: string @tag(now,var=now)
        rand: int @tag(rand,var=rand,type=int)
    """))
    monkeypatch.chdir(tmp_path)  # cwd is the process's working directory, as for `cue -T`
    got = cuepy.load(tmp_path, files=["t.cue"], tag_vars=True).to_python()
    assert got["os"] == sys.platform and got["arch"] in ("amd64", "arm64")
    assert got["cwd"] == os.getcwd()
    assert got["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert got["host"] == socket.gethostname()
    assert got["now"][:2] == "20" and got["now"].endswith("Z")
    assert 0 <= got["rand"] < 2**128
    # Given tags still win; without tag_vars the variables stay unset.
    given = cuepy.load(tmp_path, files=["t.cue"], tag_vars=True, tags={"os": "plan9"})
    assert given.lookup("os").to_python() == "plan9"
    assert not cuepy.load(tmp_path, files=["t.cue"]).lookup("os").is_concrete()
    with pytest.raises(TypeError, match="tag_vars"):
        cuepy.load(tmp_path, files=["t.cue"], tag_vars="yes")  # type: ignore[arg-type]


def test_tag_vars_unknown_variable(tmp_path: Path) -> None:
    (tmp_path / "u.cue").write_text("v: string @tag(v,var=nosuch)\n")
    with pytest.raises(cuepy.CueLoadError, match="tag variable 'nosuch' not found"):
        cuepy.load(tmp_path, files=["u.cue"], tag_vars=True)


# Data files: YAML streams, JSON Schema, OpenAPI, a package with data -------------


def test_yaml_stream_merges_its_documents(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("a: 1\n---\nb: 2\n")
    (tmp_path / "c.yaml").write_text("a: 1\n---\na: 2\n")
    assert cuepy.load(tmp_path, files=["m.yaml"]).to_python() == {"a": 1, "b": 2}
    with pytest.raises(cuepy.CueEvalError, match="conflicting values 2 and 1"):
        cuepy.load(tmp_path, files=["c.yaml"])


def test_json_schema_file_is_a_schema(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(
        '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",'
        ' "properties": {"port": {"type": "integer", "minimum": 1}}, "required": ["port"]}'
    )
    (tmp_path / "d.yaml").write_text("port: 8\n")
    (tmp_path / "bad.yaml").write_text("port: 0\n")
    assert cuepy.load(tmp_path, files=["schema.json", "d.yaml"]).to_python() == {"port": 8}
    with pytest.raises(cuepy.CueEvalError, match=r"out of bound >=1"):
        cuepy.load(tmp_path, files=["schema.json", "bad.yaml"])
    schema = cuepy.load(tmp_path, files=["schema.json"])  # alone: the schema is the value
    assert "port!: int & >=1" in schema.export("cue")
    cuepy.vet(tmp_path, files=["schema.json", "d.yaml"])
    with pytest.raises(cuepy.CueEvalError):
        cuepy.vet(tmp_path, files=["schema.json", "bad.yaml"])


def test_openapi_file_is_a_schema(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(textwrap.dedent("""
        openapi: 3.0.0
        info: {title: T, version: v1}
        paths: {}
        components: {schemas: {Thing: {type: object, properties: {id: {type: integer}}}}}
    """))
    v = cuepy.load(tmp_path, files=["api.yaml"])
    assert "id?: int" in v.lookup("#Thing").export("cue")
    assert v.lookup("info.title").default() == "T"


def test_package_with_data_files(make_module: MakeModule) -> None:
    root = make_module({"p.cue": "package p\nname: string\nreplicas: *1 | int & >0",
                        "d.yaml": "name: web\n", "bad.yaml": "name: web\nreplicas: 0\n"})  # fmt: skip
    assert cuepy.load(root, files=[".", "d.yaml"]).to_python() == {"name": "web", "replicas": 1}
    cuepy.vet(root, files=[".", "d.yaml"])
    with pytest.raises(cuepy.CueEvalError, match="out of bound >0"):
        cuepy.vet(root, files=[".", "bad.yaml"])


# cuepy.vet --------------------------------------------------------------------


def test_vet_checks_each_document(tmp_path: Path) -> None:
    (tmp_path / "s.cue").write_text("a: int\n")
    (tmp_path / "m.yaml").write_text("a: 1\n---\nb: 2\n---\nc: 3\n")
    with pytest.raises(cuepy.CueIncompleteError) as exc:
        cuepy.vet(tmp_path, files=["s.cue", "m.yaml"])
    assert [e.message for e in exc.value.errors] == ["incomplete value int"] * 2
    assert str(exc.value).count("a: incomplete value int") == 2
    with pytest.raises(cuepy.CueUsageError, match="data files specified without a schema"):
        cuepy.vet(tmp_path, files=["m.yaml"])


def test_vet_concrete_modes(tmp_path: Path) -> None:
    (tmp_path / "i.cue").write_text("a: int\n")
    with pytest.raises(cuepy.CueIncompleteError, match=r"^some instances are incomplete; use the -c flag"):
        cuepy.vet(tmp_path, files=["i.cue"])
    with pytest.raises(cuepy.CueIncompleteError, match=r"^a: incomplete value int"):
        cuepy.vet(tmp_path, files=["i.cue"], concrete=True)
    cuepy.vet(tmp_path, files=["i.cue"], concrete=False)
    with pytest.raises(TypeError, match="concrete"):
        cuepy.vet(tmp_path, files=["i.cue"], concrete="yes")  # type: ignore[arg-type]


# CUE_EXPERIMENT ---------------------------------------------------------------


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent, env=dict(_ENV, **env))  # fmt: skip


_COMPILE = textwrap.dedent("""
    import cuepy
    try:
        print(cuepy.compile("a: 1").to_python())
    except cuepy.CueUsageError as e:
        print("usage:", e)
""")


@pytest.mark.parametrize(("value", "want"), [
    ("nosuch", 'usage: error in CUE_EXPERIMENT: unknown experiment "nosuch"'),
    ("evalv3=0", 'usage: error in CUE_EXPERIMENT: cannot disable stable experiment "evalv3"'),
    ("cmdreferencepkg=2", 'usage: cannot parse CUE_EXPERIMENT: invalid value "2" for experiment "cmdreferencepkg"'),
    ("formatv2", 'usage: error in CUE_EXPERIMENT: cannot set experiment "formatv2" before version v0.18.0'),
    ("keepvalidators,evalv3=1", "{'a': 1}"),
    ("", "{'a': 1}"),
])  # fmt: skip
def test_cue_experiment_of_the_process(value: str, want: str) -> None:
    done = _python(_COMPILE, CUE_EXPERIMENT=value)
    assert done.stdout.strip() == want, done.stderr


def test_cue_experiment_set_later_is_checked_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.cue").write_text("a: 1\n")
    monkeypatch.setenv("CUE_EXPERIMENT", "nosuch,evalv3")
    with pytest.raises(cuepy.CueUsageError, match='unknown experiment "nosuch"'):
        cuepy.load(tmp_path, files=["x.cue"])
    monkeypatch.setenv("CUE_EXPERIMENT", "evalv3")
    assert cuepy.load(tmp_path, files=["x.cue"]).to_python() == {"a": 1}
