"""cuepy.LoadOptions: one value for how every loading call resolves its dependencies.

Real modules (cuepy's examples on a renamed copy of the catalog, so that only the
options given can resolve it), a real registry, real worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeModule, write_module

import cuepy
import cuepy.api
import cuepy.examples as ex
import cuepy.opm
from cuepy import LoadOptions
from cuepy._embedded import CATALOG_DIR
from cuepy.api import load_config
from cuepy.cache import Cache
from cuepy.flatten import CompiledModule, flatten

DEF = "module_definition.cue"
OLD, NEW = "cuepy.dev/opm", "example.com/othercat"


def _app_and_dep(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {"d.cue": "package dep\n#Port: int & >1024"})
    app = write_module(
        tmp_path / "app", "example.com/app@v0",
        {"a.cue": 'package app\nimport "example.com/dep"\nport: dep.#Port & 8080'},
        deps={"example.com/dep@v0": "v0.3.0"},
    )  # fmt: skip
    return app, {"example.com/dep@v0.3.0": dep}


def _renamed_catalog(root: Path) -> Path:
    target = root / "othercat"
    shutil.copytree(CATALOG_DIR, target)
    for path in target.rglob("*.cue"):
        path.write_text(path.read_text().replace(OLD, NEW))
    return target


def _moderate_on_othercat(make_module: MakeModule) -> Path:
    """cuepy's ``moderate`` example depending on the renamed catalog (which nothing serves by default)."""
    source = ex.path("moderate")
    files = {name: (source / name).read_text().replace(OLD, NEW) for name in (DEF, "module_compiled.cue")}
    return make_module(files, module="example.com/app@v0", deps={f"{NEW}@v0": "v0.1.0"})


def _values() -> Any:
    return cuepy.load(ex.path("moderate"), files=["values.cue"]).lookup("values").to_python()


# The object -------------------------------------------------------------------------


def test_types_are_checked_in_the_constructor_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"^registry must be"):
        LoadOptions(registry=5000)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^modules must be a mapping"):
        LoadOptions(modules=[("example.com/dep@v0.1.0", "/tmp")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^modules keys must be str"):
        LoadOptions(modules={1: "/tmp"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"^modules\['example\.com/dep@v0\.1\.0'\] must be a str or os\.PathLike"):
        LoadOptions(modules={"example.com/dep@v0.1.0": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"modules keys are 'module/path@vX\.Y\.Z'"):
        LoadOptions(modules={"example.com/dep": "/tmp"})
    with pytest.raises(TypeError, match=r"^cache_dir must be a str or os\.PathLike"):
        LoadOptions(cache_dir=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^offline must be a bool"):
        LoadOptions(offline="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^offline must be a bool"):
        LoadOptions().replace(offline=1)
    # a call refuses what is not a LoadOptions, and the keywords are checked as before
    with pytest.raises(TypeError, match=r"^options must be a cuepy\.LoadOptions, not dict"):
        cuepy.load(tmp_path, options={"registry": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^registry must be"):
        cuepy.load(tmp_path, registry=5000)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^options must be a cuepy\.LoadOptions"):
        flatten(tmp_path, options={"modules": {}})  # type: ignore[arg-type]


def test_frozen_copied_comparable_and_hashable(tmp_path: Path) -> None:
    given = {"example.com/dep@v0.3.0": tmp_path}
    options = LoadOptions(modules=given, cache_dir=tmp_path / "c")
    given["example.com/other@v0.1.0"] = tmp_path  # the caller's dict is not the options'
    assert options.modules is not None and list(options.modules) == ["example.com/dep@v0.3.0"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.offline = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.modules["x@v1.0.0"] = tmp_path  # type: ignore[index]
    same = LoadOptions(modules={"example.com/dep@v0.3.0": tmp_path}, cache_dir=tmp_path / "c")
    assert options == same and hash(options) == hash(same) and len({options, same}) == 1
    assert options != options.replace(offline=True)
    assert options.replace(cache_dir=None) == LoadOptions(modules={"example.com/dep@v0.3.0": tmp_path})
    assert repr(LoadOptions()) == "LoadOptions()"
    assert repr(LoadOptions(registry="r:5000", offline=True)) == "LoadOptions(registry='r:5000', offline=True)"
    assert "LoadOptions" in cuepy.__all__ and cuepy.LoadOptions is LoadOptions


def test_config_fragment_is_what_load_config_holds(tmp_path: Path) -> None:
    app, modules = _app_and_dep(tmp_path)
    options = LoadOptions(registry="127.0.0.1:5000+insecure", modules=modules, cache_dir=tmp_path / "c", offline=True)
    fragment = options.to_config()
    assert fragment == {
        "registry": "127.0.0.1:5000+insecure",
        "cache_dir": str(tmp_path / "c"),
        "modules": {
            "cuepy.dev/opm@v0": {"version": "v0.1.0", "dir": str(CATALOG_DIR.absolute())},
            "example.com/dep@v0": {"version": "v0.3.0", "dir": str(modules["example.com/dep@v0.3.0"])},
        },
        "offline": True,
    }
    config = load_config(app, options=options)
    assert {k: config[k] for k in fragment} == fragment
    assert config == load_config(app, registry="127.0.0.1:5000+insecure", modules=modules, cache_dir=tmp_path / "c",
                                 offline=True)  # fmt: skip
    assert LoadOptions().to_config() == {k: load_config(app)[k] for k in fragment}


def test_pickles_with_a_served_registry_as_its_address(registry: cuepy.Registry, tmp_path: Path) -> None:
    plain = LoadOptions(registry="127.0.0.1:5000+insecure", modules={"example.com/dep@v0.3.0": tmp_path},
                        cache_dir=tmp_path / "c", offline=True)  # fmt: skip
    assert pickle.loads(pickle.dumps(plain)) == plain
    served = LoadOptions(registry=registry)
    assert served.registry is registry  # kept alive by the options
    back = pickle.loads(pickle.dumps(served))
    assert back.registry == registry.registry and back.to_config() == served.to_config()
    with pytest.raises(TypeError, match=r"cannot be pickled"):
        pickle.dumps(registry)


# Every loading call ---------------------------------------------------------------------


def test_load_with_options_equals_the_keyword_form(tmp_path: Path) -> None:
    app, modules = _app_and_dep(tmp_path)
    options = LoadOptions(modules=modules)
    assert cuepy.load(app, options=options).to_python() == {"port": 8080}
    assert cuepy.load(app, options=options).to_python() == cuepy.load(app, modules=modules).to_python()
    assert cuepy.Context().load(app, options=options).to_python() == {"port": 8080}
    cuepy.vet(app, options=options)
    assert cuepy.api.load_inputs(app, options=options) == cuepy.api.load_inputs(app, modules=modules)
    with pytest.raises(cuepy.CueLoadError, match=r"example\.com/dep"):
        cuepy.load(app, options=LoadOptions(offline=True))


def test_keywords_replace_the_fields_of_options(tmp_path: Path, make_module: MakeModule) -> None:
    app, modules = _app_and_dep(tmp_path)
    wrong = LoadOptions(modules={"example.com/dep@v0.3.0": tmp_path / "nowhere"}, offline=True)
    assert cuepy.load(app, options=wrong, modules=modules, offline=False).to_python() == {"port": 8080}
    # None leaves the field as the options have it; replace() clears one
    config = load_config(app, options=LoadOptions(registry="r:1+insecure", offline=True), registry=None)
    assert (config["registry"], config["offline"]) == ("r:1+insecure", True)
    assert load_config(app, options=LoadOptions(offline=True), offline=False)["offline"] is False
    assert load_config(app, options=LoadOptions(registry="r:1").replace(registry=None))["registry"] == ""
    # a compiled module: the flatten call's options, options= instead, keywords over either
    directory = _moderate_on_othercat(make_module)
    served = LoadOptions(modules={f"{NEW}@v0.1.0": _renamed_catalog(tmp_path)})
    compiled = flatten(directory, file=DEF, options=served)
    assert compiled.load_options == served
    expected = compiled.load().export("cue")
    bare = dataclasses.replace(compiled, load_options=LoadOptions())
    with pytest.raises(cuepy.CueLoadError, match=NEW):
        bare.load()
    assert bare.load(options=served).export("cue") == expected
    assert bare.load(modules=served.modules).export("cue") == expected
    with pytest.raises(cuepy.CueLoadError, match=NEW):
        compiled.load(options=LoadOptions())


def test_one_options_object_for_flatten_opm_load_and_release(tmp_path: Path, make_module: MakeModule) -> None:
    directory = _moderate_on_othercat(make_module)
    modules = {f"{NEW}@v0.1.0": _renamed_catalog(tmp_path)}
    options = LoadOptions(modules=modules)
    values = _values()
    with pytest.raises(cuepy.CueLoadError, match=NEW):
        cuepy.load(directory, files=[DEF])  # nothing serves the renamed catalog without the options

    compiled = flatten(directory, file=DEF, options=options, verify=True)
    assert compiled.load_options == options and all(s.flattened for s in compiled.structs)
    assert cuepy.flatten(directory, file=DEF, modules=modules).source == compiled.source
    module = compiled.load().export("cue")

    cache = Cache(tmp_path / "cache")
    assert cuepy.opm.load(directory, file=DEF, options=options, cache=cache).export("cue") == module
    assert cuepy.opm.load(directory, file=DEF, options=options, cache=False).export("cue") == module
    read = cuepy.opm.read(directory, file=DEF, options=options)
    assert read == cuepy.opm.read(directory, file=DEF, modules=modules)
    release = cuepy.opm.release(directory, values, namespace="prod", file=DEF, options=options)
    assert release == cuepy.opm.release(directory, values, namespace="prod", file=DEF, modules=modules)
    assert release.complete
    rendered = cuepy.opm.render_release(directory, values, namespace="prod", file=DEF, options=options, cache=cache)
    assert rendered == release.model_dump(mode="json")
    assert cuepy.opm.values_schema(directory, file=DEF, options=options, cache=cache)["$schema"]
    # the cache keys are those of the keyword form: these are hits, no entry is added
    before = {kind: sorted((cache.root / kind).glob("*.entry")) for kind in ("module", "render")}
    assert cuepy.opm.load(directory, file=DEF, modules=modules, cache=cache).export("cue") == module
    again = cuepy.opm.render_release(directory, values, namespace="prod", file=DEF, modules=modules, cache=cache)
    assert again == rendered
    assert before == {kind: sorted((cache.root / kind).glob("*.entry")) for kind in ("module", "render")}


def test_the_request_parts_are_those_of_the_keyword_form(tmp_path: Path, registry: cuepy.Registry) -> None:
    from cuepy.opm import _cached

    modules = {"example.com/dep@v0.3.0": tmp_path}
    by_keywords = _cached._request(tmp_path, DEF, None, cuepy.api.merge_options(registry=registry, modules=modules),
                                   True)  # fmt: skip
    by_options = _cached._request(tmp_path, DEF, None, LoadOptions(registry=registry.registry, modules=modules), True)
    assert by_keywords.parts() == by_options.parts()
    assert by_keywords.parts()["registry"] == registry.registry
    assert by_keywords.parts()["modules"] == ["example.com/dep@v0.3.0"]
    assert by_keywords.labels() == by_options.labels() == {"example.com/dep@v0.3.0": str(tmp_path)}


def test_a_served_registry_in_options(tmp_path: Path, registry: cuepy.Registry, make_module: MakeModule) -> None:
    registry.publish(_renamed_catalog(tmp_path), "v0.1.0")
    directory = _moderate_on_othercat(make_module)
    options = LoadOptions(registry=registry, cache_dir=tmp_path / "cue-cache")
    values = _values()
    compiled = flatten(directory, file=DEF, options=options)
    assert compiled.load_options.registry is registry
    assert any((tmp_path / "cue-cache").rglob("*.cue")), "the catalog was not fetched into cache_dir"
    module = compiled.load().export("cue")
    assert cuepy.opm.load(directory, file=DEF, options=options, cache=Cache(tmp_path / "c")).export("cue") == module
    release = cuepy.opm.release(directory, values, namespace="prod", file=DEF, options=options)
    loaded = cuepy.load(directory, files=[DEF], registry=registry, cache_dir=tmp_path / "cue-cache")
    assert release == cuepy.opm.release(loaded, values, namespace="prod")


def test_compiled_module_json_round_trip_takes_options(tmp_path: Path, make_module: MakeModule) -> None:
    directory = _moderate_on_othercat(make_module)
    options = LoadOptions(modules={f"{NEW}@v0.1.0": _renamed_catalog(tmp_path)})
    compiled = flatten(directory, file=DEF, options=options)
    doc = compiled.to_json()
    assert "load_options" not in doc and "options" not in json.dumps(sorted(doc))
    back = CompiledModule.from_json(doc, options)
    assert back.load_options == options and back == compiled
    assert CompiledModule.from_json(doc, {"modules": dict(options.modules or {})}).load_options == options
    assert CompiledModule.from_json(doc).load_options == LoadOptions()
    assert back.load().export("cue") == compiled.load().export("cue")


# Across processes -----------------------------------------------------------------------


def test_limits_and_batch_carry_options_to_a_worker(tmp_path: Path, registry: cuepy.Registry) -> None:
    from cuepy import limits
    from cuepy.batch import Job, render_many

    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {"d.cue": 'package dep\ngreeting: "from the registry"'})
    registry.publish(dep, "v0.1.0")
    app = write_module(tmp_path / "app", "example.com/app@v0", {"a.cue": 'package app\nimport "example.com/dep"\n'
                       "msg: dep.greeting"}, deps={"example.com/dep@v0": "v0.1.0"})  # fmt: skip
    options = LoadOptions(registry=registry, cache_dir=tmp_path / "c")
    with limits.Worker(timeout=120) as worker:
        assert limits.load_extract(app, options=options, worker=worker) == {"msg": "from the registry"}
        assert limits.load_extract(app, registry=registry, cache_dir=tmp_path / "c2", worker=worker) == {
            "msg": "from the registry"
        }
        with pytest.raises(cuepy.CueLoadError, match=r"example\.com/dep"):
            limits.load_extract(app, options=options, cache_dir=tmp_path / "c3", offline=True, worker=worker)

    # a render job on the renamed catalog, served from a directory only through the job's options
    catalog = _renamed_catalog(tmp_path)
    source = ex.path("moderate")
    moderate = write_module(tmp_path / "moderate", "example.com/app@v0",
                            {DEF: (source / DEF).read_text().replace(OLD, NEW)},
                            deps={f"{NEW}@v0": "v0.1.0"})  # fmt: skip
    job_options = LoadOptions(modules={f"{NEW}@v0.1.0": catalog})
    jobs = [Job(str(moderate), _values(), namespace="prod", file=DEF, cache=False, options=job_options),
            Job(str(moderate), _values(), namespace="prod", file=DEF, cache=False)]  # fmt: skip
    results = sorted(render_many(jobs, timeout=120, progress=False), key=lambda r: r.index)
    assert results[0].ok, results[0].error
    assert results[0].value == cuepy.opm.release(moderate, _values(), namespace="prod", file=DEF,
                                                 options=job_options).model_dump(mode="json")  # fmt: skip
    assert isinstance(results[1].error, cuepy.CueLoadError)


def test_bench_user_module_options(tmp_path: Path) -> None:
    from cuepy.bench._models import UserModule

    user = UserModule(directory=tmp_path, registry="r:1+insecure", dependencies={"example.com/dep@v0.3.0": tmp_path})
    expected = LoadOptions(registry="r:1+insecure", modules={"example.com/dep@v0.3.0": str(tmp_path)})
    assert user.load_options() == expected
    assert UserModule(directory=tmp_path).load_options() == LoadOptions()
    assert json.loads(user.model_dump_json())["registry"] == "r:1+insecure"
