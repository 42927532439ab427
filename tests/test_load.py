"""load: modules, packages, files, tags, overlays, data files and registries, from real directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MakeModule, write_module

import cuepy


def test_load_package_with_imports_across_packages(make_module: MakeModule) -> None:
    root = make_module({
        "app.cue": '''
            package app
            import "example.com/app/lib"
            service: lib.#Service & {name: "web", port: 8080}
        ''',
        "lib/lib.cue": '''
            package lib
            #Service: {name: string, port: int & >0 & <65536, url: "http://\\(name):\\(port)"}
        ''',
    })
    v = cuepy.load(root)
    assert v.lookup("service").to_python() == {"name": "web", "port": 8080, "url": "http://web:8080"}


def test_module_root_found_from_subdirectory(make_module: MakeModule) -> None:
    root = make_module({"sub/x.cue": "package x\na: 1", "sub/deep/y.cue": "package x\nb: a + 1"})
    assert cuepy.load(root / "sub" / "deep").to_python() == {"a": 1, "b": 2}


def test_package_selection(make_module: MakeModule) -> None:
    root = make_module({"one.cue": "package one\nwho: \"one\"", "two.cue": "package two\nwho: \"two\""})
    assert cuepy.load(root, package="two").lookup("who").to_python() == "two"
    with pytest.raises(cuepy.CueLoadError, match="package"):
        cuepy.load(root)


def test_files_and_data_files(make_module: MakeModule) -> None:
    root = make_module({
        "schema.cue": "package cfg\nport: int\nname: string\nreplicas: *1 | int",
        "other.cue": "package cfg\nport: 1",
        "data.json": '{"port": 8080, "name": "api"}',
        "more.yaml": "replicas: 3\n",
    })
    v = cuepy.load(root, files=["schema.cue", "data.json", "more.yaml"])
    assert v.to_python() == {"port": 8080, "name": "api", "replicas": 3}
    with pytest.raises(cuepy.CueEvalError, match="conflicting"):
        cuepy.load(root, files=["schema.cue", "other.cue", "data.json"]).to_python()


def test_tags(make_module: MakeModule) -> None:
    root = make_module({"t.cue": 'package t\nenv: *"dev" | string @tag(env)\nreplicas: int | *1 @tag(n, type=int)'})
    assert cuepy.load(root).to_python() == {"env": "dev", "replicas": 1}
    assert cuepy.load(root, tags={"env": "prod", "n": "5"}).to_python() == {"env": "prod", "replicas": 5}
    assert cuepy.load(root, tags=["env=stage"]).lookup("env").to_python() == "stage"


def test_overlay_replaces_and_adds_files(make_module: MakeModule) -> None:
    root = make_module({"a.cue": "package p\na: 1"})
    v = cuepy.load(root, overlay={"a.cue": "package p\na: 2", "b.cue": b"package p\nb: a * 10"})
    assert v.to_python() == {"a": 2, "b": 20}
    assert (root / "a.cue").read_text() == "package p\na: 1"
    with pytest.raises(cuepy.CueSyntaxError, match="UTF-8"):
        cuepy.load(root, overlay={"c.cue": b"package p\nc: \"\xff\""})


def test_syntax_error_in_loaded_file_has_position(make_module: MakeModule) -> None:
    root = make_module({"ok.cue": "package p\na: 1", "bad.cue": "package p\n\nb: {\n  c: 1,,\n}"})
    with pytest.raises(cuepy.CueSyntaxError) as info:
        cuepy.load(root)
    pos = info.value.positions[0]
    assert pos.file.endswith("bad.cue") and pos.line == 4


def test_eval_error_in_loaded_file_has_position(make_module: MakeModule) -> None:
    root = make_module({"a.cue": "package p\nx: 1", "b.cue": "package p\n\nx: 2"})
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.load(root)
    where = {(Path(p.file).name, p.line) for p in info.value.positions}
    assert where == {("a.cue", 2), ("b.cue", 3)}
    assert "conflicting values" in str(info.value)


def test_missing_import_is_a_load_error(make_module: MakeModule) -> None:
    root = make_module({"a.cue": 'package p\nimport "example.com/app/nothere"\nx: nothere.y'})
    with pytest.raises(cuepy.CueLoadError, match="nothere"):
        cuepy.load(root)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(cuepy.CueLoadError):
        cuepy.load(tmp_path / "absent")


def test_wrong_argument_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        cuepy.load(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list"):
        cuepy.load(tmp_path, files="a.cue")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tags"):
        cuepy.load(tmp_path, tags="env=prod")  # type: ignore[arg-type]


def test_local_module_dependency(tmp_path: Path) -> None:
    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {"d.cue": "package dep\n#Port: int & >1024"})
    app = write_module(
        tmp_path / "app", "example.com/app@v0",
        {"a.cue": 'package app\nimport "example.com/dep"\nport: dep.#Port & 8080'},
        deps={"example.com/dep@v0": "v0.3.0"},
    )
    v = cuepy.load(app, modules={"example.com/dep@v0.3.0": dep})
    assert v.to_python() == {"port": 8080}


def test_dependency_from_a_real_oci_registry(tmp_path: Path, registry: cuepy.Registry) -> None:
    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {
        "d.cue": "package dep\n#Replicas: int & >=1 & <=10\ngreeting: \"hello from the registry\"",
    })
    registry.publish(dep, "v0.1.0")
    app = write_module(
        tmp_path / "app", "example.com/app@v0",
        {"a.cue": 'package app\nimport "example.com/dep"\nreplicas: dep.#Replicas & 3\nmsg: dep.greeting'},
        deps={"example.com/dep@v0": "v0.1.0"},
    )
    cache = tmp_path / "cache"
    v = cuepy.load(app, registry=registry, cache_dir=cache)
    assert v.to_python() == {"replicas": 3, "msg": "hello from the registry"}
    assert any(cache.rglob("*.cue")), "the module should have been fetched into the given cache directory"
    with pytest.raises(cuepy.CueEvalError):
        cuepy.load(app, registry=registry.registry, cache_dir=cache, overlay={"b.cue": "package app\nreplicas: 11"})


def test_registry_that_does_not_have_the_module(tmp_path: Path, registry: cuepy.Registry) -> None:
    app = write_module(
        tmp_path / "app", "example.com/app@v0",
        {"a.cue": 'package app\nimport "example.com/absent"\nx: absent.y'},
        deps={"example.com/absent@v0": "v0.1.0"},
    )
    with pytest.raises(cuepy.CueLoadError, match="absent"):
        cuepy.load(app, registry=registry, cache_dir=tmp_path / "cache")


def test_embedded_catalog_resolves_without_registry(make_module: MakeModule) -> None:
    root = make_module(
        {"m.cue": 'package m\nimport "cuepy.dev/opm/core@v0"\napi: core.#CoreAPIVersion'},
        deps={"cuepy.dev/opm@v0": "v0.1.0"},
    )
    assert cuepy.load(root).lookup("api").is_concrete()


def test_load_into_given_context(make_module: MakeModule) -> None:
    root = make_module({"a.cue": "package p\na: int"})
    ctx = cuepy.Context()
    v = ctx.load(root)
    assert cuepy.unify(v, ctx.compile("a: 5")).to_python() == {"a": 5}
