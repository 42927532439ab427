"""The compiled-module and render caches (cuepy.cache).

Real files, real processes: modules are copied or generated into temporary
directories, caches live in temporary directories, the concurrency test runs
spawned Python processes (tests/cache_worker.py).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import cuepy
import cuepy.api
import cuepy.cache
import cuepy.examples as ex
import cuepy.opm
from cuepy._embedded import CATALOG_DIR
from cuepy.cache import Cache, Computed, _memoize, keys
from cuepy.cache._store import decode_entry, encode_entry
from cuepy.cache.keys import canonical_json
from cuepy.errors import CueLimitError
from cuepy.flatten import flatten

DEF = "module_definition.cue"
NS = "production"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    keys.forget()
    yield
    keys.forget()


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def copy_example(name: str, target: Path) -> Path:
    shutil.copytree(ex.path(name), target)
    return target


def example_values(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cuepy.load(directory, files=["values.cue"]).lookup("values").export("json"))
    return data


def uncached_release(directory: Path, values: dict[str, Any] | None, namespace: str = NS, **options: Any) -> Any:
    """What the cache must give back: cuepy.opm.release of the ModuleDefinition, no cache involved."""
    context = cuepy.Context()
    module = context.load(directory, files=[DEF], **options)
    return cuepy.opm.release(module, values, namespace=namespace, context=context).model_dump(mode="json")


def uncached_module(directory: Path, **options: Any) -> str:
    return str(flatten(directory, file=DEF, **options).load().export("cue"))


def entries(cache: Cache, kind: str) -> set[str]:
    return {p.stem for p in (cache.root / kind).glob("*.entry")}


# Hits --------------------------------------------------------------------------


def test_compiled_module_is_flattened_once(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = ex.path("simple")
    first = cuepy.opm.load(directory, file=DEF, cache=cache)
    assert len(entries(cache, "module")) == 1

    def no_flatten(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a hit must not flatten")

    monkeypatch.setattr(cuepy.flatten, "flatten", no_flatten)
    for c in (cache, Cache(cache.directory)):  # memory layer, then disk layer (a new process's view)
        again = cuepy.opm.load(directory, file=DEF, cache=c)
        assert again.export("cue") == first.export("cue")
    monkeypatch.undo()
    assert first.export("cue") == uncached_module(directory)


def test_loaded_module_kept_in_memory(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = ex.path("simple")
    first = cuepy.opm.load(directory, file=DEF, cache=cache)
    expected = first.export("cue")
    first.close()  # the caller's handle: the kept value lives on

    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a kept module must not be loaded again")

    monkeypatch.setattr(cuepy.flatten.CompiledModule, "load", no_load)
    try:
        with capture_logs() as logs:
            again = cuepy.opm.load(directory, file=DEF, cache=cache)
    finally:
        structlog.reset_defaults()  # capture_logs leaves structlog "configured": events would print
    assert again.export("cue") == expected
    assert {"event": "cuepy.cache.hit", "layer": "kept"}.items() <= logs[-1].items()
    assert cache.stats().loaded_modules == 1
    with pytest.raises(AssertionError, match="must not be loaded"):  # a context of the caller's: loaded into it
        cuepy.opm.load(directory, file=DEF, cache=cache, context=cuepy.Context())
    monkeypatch.undo()
    off = Cache(cache.directory, loaded_modules=0)
    assert off.stats().loaded_modules == 0
    assert cuepy.opm.load(directory, file=DEF, cache=off).export("cue") == expected
    cache.forget_memory()
    assert cache.stats().loaded_modules == 0


def test_a_stopped_hit_keeps_its_entry(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stopped load says nothing about the stored module: it stays stored, and the next call
    # without a limit is a hit.
    directory = ex.path("simple")
    expected = cuepy.opm.load(directory, file=DEF, cache=cache).export("cue")
    keys.forget()  # a new process: the stored module is loaded from disk
    with pytest.raises(CueLimitError), cuepy.time_limit(1e-6):
        cuepy.opm.load(directory, file=DEF, cache=Cache(cache.directory))
    assert len(entries(cache, "module")) == 1
    stopped = cuepy.Context()
    with pytest.raises(CueLimitError), cuepy.time_limit(1e-6):
        stopped.compile("a: b, b: 1").to_python()
    with pytest.raises(cuepy.CueUsageError, match="stopped"):  # a context that cannot serve
        cuepy.opm.load(directory, file=DEF, cache=Cache(cache.directory), context=stopped)
    assert len(entries(cache, "module")) == 1

    def no_flatten(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a hit must not flatten")

    monkeypatch.setattr(cuepy.flatten, "flatten", no_flatten)
    assert cuepy.opm.load(directory, file=DEF, cache=Cache(cache.directory)).export("cue") == expected


def test_a_kept_module_whose_evaluation_was_stopped_is_loaded_again(cache: Cache) -> None:
    # One holder's export under a time limit stops an evaluation in the kept module's context:
    # its values may be partly evaluated. Later calls get the module loaded again, not a refusal.
    directory = ex.path("simple")
    expected = cuepy.opm.load(directory, file=DEF, cache=cache).export("cue")
    held = cuepy.opm.load(directory, file=DEF, cache=cache)
    with pytest.raises(CueLimitError), cuepy.time_limit(1e-6):
        held.lookup("#components").export("json")
    again = cuepy.opm.load(directory, file=DEF, cache=cache)
    assert again.context.usable() and again.export("cue") == expected
    assert cuepy.opm.load(directory, file=DEF, cache=cache).context is again.context  # kept again
    with pytest.raises(cuepy.CueUsageError, match="stopped"):
        held.export("cue")


def test_loaded_modules_are_bounded(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache", loaded_modules=2)
    for name in ("simple", "moderate", "large"):
        cuepy.opm.load(ex.path(name), file=DEF, cache=cache)
    assert cache.stats().loaded_modules == 2


def test_threads_share_a_kept_module(cache: Cache) -> None:
    directory = ex.path("moderate")
    expected = uncached_module(directory)

    def work(_: int) -> str:
        with cuepy.opm.load(directory, file=DEF, cache=cache) as value:
            return str(value.export("cue"))

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(work, range(64))) == {expected}


def test_compiled_module_passes_through(cache: Cache) -> None:
    directory = ex.path("simple")
    value = cuepy.opm.load(directory, file="module_compiled.cue", cache=cache)
    assert value.lookup("kind").to_python() == "Module"
    assert value.export("cue") == cuepy.load(directory, files=["module_compiled.cue"]).export("cue")


def test_module_file_in_a_subdirectory(tmp_path: Path, cache: Cache) -> None:
    directory = copy_example("simple", tmp_path / "simple")
    (directory / "deploy").mkdir()
    (directory / DEF).rename(directory / "deploy" / DEF)
    for c in (cache, Cache(cache.directory)):  # miss, then a hit from disk
        value = cuepy.opm.load(directory, file=f"deploy/{DEF}", cache=c)
        assert value.export("cue") == flatten(directory / "deploy", file=DEF).load().export("cue")
    assert len(entries(cache, "module")) == 1


def test_render_hit_evaluates_no_cue(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = ex.path("simple")
    values = example_values(directory)
    first = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    assert first == uncached_release(directory, values)

    def no_cue(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a render hit must not evaluate CUE")

    monkeypatch.setattr("cuepy.opm._cached._compute_release", no_cue)
    monkeypatch.setattr(cuepy.flatten.CompiledModule, "load", no_cue)
    monkeypatch.setattr("cuepy.opm._cached.load_inputs", no_cue)
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory)) == first
    keys.forget()  # a new process: the stored manifest names the files to check, no load needed
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory)) == first
    model = cuepy.opm.ModuleRelease.model_validate(cuepy.opm.render_release(directory, values, namespace=NS, file=DEF,
                                                                    cache=cache))  # fmt: skip
    assert model.model_dump(mode="json") == first
    assert model.module.kind == "ModuleDefinition"


def test_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = ex.path("simple")
    monkeypatch.setenv("CUEPY_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("CUEPY_CACHE", "off")
    assert cuepy.cache.default_cache() is None
    values = example_values(directory)
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF) == uncached_release(directory, values)
    assert not (tmp_path / "c").exists()
    monkeypatch.delenv("CUEPY_CACHE")
    default = cuepy.cache.default_cache()
    assert default is not None and default.directory == tmp_path / "c"
    cuepy.opm.render_release(directory, values, namespace=NS, file=DEF)
    assert stat.S_IMODE(os.stat(tmp_path / "c").st_mode) == 0o700
    assert len(entries(default, "render")) == 1
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=False) == uncached_release(
        directory, values
    )


def test_paths_and_timestamps_do_not_decide(tmp_path: Path, cache: Cache) -> None:
    a = copy_example("simple", tmp_path / "a")
    values = example_values(a)
    cuepy.opm.render_release(a, values, namespace=NS, file=DEF, cache=cache)
    stored = entries(cache, "render")
    b = copy_example("simple", tmp_path / "b")  # same bytes elsewhere: same key
    os.utime(b / DEF, (1, 1))  # another timestamp, same content: same key
    assert cuepy.opm.render_release(b, values, namespace=NS, file=DEF, cache=cache) == uncached_release(b, values)
    assert entries(cache, "render") == stored


# Invalidation ------------------------------------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


INVALIDATIONS = ["source file", "value", "namespace", "dependency version", "dependency content",
                 "cuepy version", "cue version"]  # fmt: skip


@pytest.mark.parametrize("change", INVALIDATIONS)
def test_a_change_misses_and_matches_uncached(
    change: str, tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = copy_example("simple", tmp_path / "simple")
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, catalog)
    modules: dict[str, Any] = {"cuepy.dev/opm@v0.1.0": catalog}
    values = example_values(directory)
    namespace = NS

    def run() -> tuple[Any, str]:
        release = cuepy.opm.render_release(directory, values, namespace=namespace, file=DEF, modules=modules,
                                           cache=cache)  # fmt: skip
        module = cuepy.opm.load(directory, file=DEF, modules=modules, cache=cache).export("cue")
        return release, module

    run()
    before = (entries(cache, "render"), entries(cache, "module"))
    if change == "source file":
        _edit(directory / DEF, '"app.kubernetes.io/part-of": "simple-app"', '"app.kubernetes.io/part-of": "simple-apq"')
    elif change == "value":
        values["frontend"]["replicas"] += 1
    elif change == "namespace":
        namespace = "staging"
    elif change == "dependency version":
        _edit(directory / "cue.mod" / "module.cue", '"v0.1.0"', '"v0.2.0"')
        modules = {"cuepy.dev/opm@v0.2.0": catalog}
    elif change == "dependency content":
        _edit(catalog / "schemas" / "schemas.cue", '*"Always" | "OnFailure"', '"Always" | *"OnFailure"')
    elif change == "cuepy version":
        monkeypatch.setattr(keys, "cuepy_version", lambda: "99.0.0")
    elif change == "cue version":
        monkeypatch.setattr(keys, "cue_version", lambda: "v9.9.9")
    release, module = run()
    after = (entries(cache, "render"), entries(cache, "module"))
    assert after[0] > before[0], "the render did not miss"
    if change not in ("value", "namespace"):
        assert after[1] > before[1], "the compiled module did not miss"
    assert release == uncached_release(directory, values, namespace, modules=modules)
    assert module == uncached_module(directory, modules=modules)
    if change == "dependency content":
        assert release["components"]["frontend"]["spec"]["restartPolicy"] == "OnFailure"


def test_new_file_in_module_misses(tmp_path: Path, cache: Cache) -> None:
    directory = copy_example("simple", tmp_path / "simple")
    values = example_values(directory)
    cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    (directory / "extra").mkdir()
    (directory / "extra" / "x.cue").write_text("package extra\nx: 1\n")
    cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    assert len(entries(cache, "render")) == 2


def _replace_atomically(path: Path, old: str, new: str) -> None:
    """As editors and deployment tools save: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(path.read_text().replace(old, new, 1))
    os.replace(tmp, path)


LABEL = '"1.2.0"'
OTHER_LABEL = '"1.2.1"'
DISK_CHANGES = ["edit in place", "replace by rename", "delete a sibling", "new file in cue.mod",
                "directory swapped", "symlink retargeted", "file behind a symlink edited"]  # fmt: skip


@pytest.mark.parametrize("change", DISK_CHANGES)
def test_a_change_on_disk_misses_after_warm_hits(change: str, tmp_path: Path, cache: Cache) -> None:
    # Warm hits check the files through descriptors held open on them; every
    # way a file or directory can change on disk must still be seen.
    store = tmp_path / "store"
    copy_example("simple", store / "v1")
    if change == "directory swapped":
        (tmp_path / "current").symlink_to(store / "v1")
        directory = tmp_path / "current"
    else:
        directory = store / "v1"
    versions = directory / ".versions"  # (a link may not leave the module root)
    if change in ("symlink retargeted", "file behind a symlink edited"):
        versions.mkdir()
        for version, label in (("a", LABEL), ("b", OTHER_LABEL)):
            (versions / f"def-{version}.cue").write_text((directory / DEF).read_text().replace(LABEL, label, 1))
        (directory / DEF).unlink()
        (directory / DEF).symlink_to(versions / "def-a.cue")
    values = example_values(directory)
    for _ in range(3):  # a miss, a hit checked by path, hits checked through descriptors
        assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    assert len(entries(cache, "render")) == 1
    if change == "edit in place":
        _edit(directory / DEF, LABEL, OTHER_LABEL)
    elif change == "replace by rename":
        _replace_atomically(directory / DEF, LABEL, OTHER_LABEL)
    elif change == "delete a sibling":
        (directory / "module_compiled.cue").unlink()
    elif change == "new file in cue.mod":
        (directory / "cue.mod" / "extra.cue").write_text("package extra\n")
    elif change == "directory swapped":
        shutil.copytree(store / "v1", store / "v2", symlinks=True)
        _edit(store / "v2" / DEF, LABEL, OTHER_LABEL)
        (tmp_path / "next").symlink_to(store / "v2")
        os.replace(tmp_path / "next", tmp_path / "current")
    elif change == "symlink retargeted":
        (directory / "next.cue").symlink_to(versions / "def-b.cue")
        os.replace(directory / "next.cue", directory / DEF)
    elif change == "file behind a symlink edited":
        _edit(versions / "def-a.cue", LABEL, OTHER_LABEL)
    release = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    assert len(entries(cache, "render")) == 2, "the change was not seen"
    assert release == uncached_release(directory, values)
    if change not in ("delete a sibling", "new file in cue.mod"):
        assert release["module"]["version"] == "1.2.1"


# Issue 13: keys cover exactly what the load read; races; descriptors; errors; security


def _worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(cuepy.__file__).resolve().parent.parent)}


def _export_in_new_process(directory: Path, cache_dir: Path) -> Any:
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "cache_worker.py"), "export", str(directory),
                          str(cache_dir)], capture_output=True, text=True, env=_worker_env(), check=True)  # fmt: skip
    return json.loads(out.stdout)


def _embedding_module(root: Path) -> Path:
    """A module whose loaded package embeds files of a subdirectory and imports a package of the
    same module that embeds a file of a dot-directory and a glob of a subdirectory."""
    files = {
        "cue.mod/module.cue": 'module: "example.com/m@v0"\nlanguage: version: "v0.12.0"\n',
        "app/app.cue": '@extern(embed)\n\npackage app\n\nimport "example.com/m/lib@v0"\n\n'
        "conf: _ @embed(file=conf/c.json)\nglob: lib.v\nhidden: lib.h\n",
        "app/conf/c.json": '{"c": 1}\n',
        "lib/lib.cue": "@extern(embed)\n\npackage lib\n\n"
        'v: _ @embed(glob="d/*.yaml")\nh: _ @embed(file=.data/x.json)\n',
        "lib/d/one.yaml": "a: 1\n",
        "lib/.data/x.json": '{"x": 1}\n',
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "app"


EMBED_EDITS = ["subdirectory file", "imported package's glob file", "new file matching a glob",
               "dot-directory file"]  # fmt: skip


@pytest.mark.parametrize("edit", EMBED_EDITS)
def test_embedded_files_are_in_the_key_across_processes(edit: str, tmp_path: Path) -> None:
    # Before: an @embed-ed file outside the loaded directory was not in the key; a new process
    # returned the stale result.
    directory = _embedding_module(tmp_path / "m")
    root = directory.parent
    cache_dir = tmp_path / "cache"
    first = _export_in_new_process(directory, cache_dir)
    assert first == {"conf": {"c": 1}, "glob": {"d/one.yaml": {"a": 1}}, "hidden": {"x": 1}}
    if edit == "subdirectory file":
        (directory / "conf" / "c.json").write_text('{"c": 2}\n')
    elif edit == "imported package's glob file":
        (root / "lib" / "d" / "one.yaml").write_text("a: 2\n")
    elif edit == "new file matching a glob":
        (root / "lib" / "d" / "two.yaml").write_text("b: 1\n")
    elif edit == "dot-directory file":
        (root / "lib" / ".data" / "x.json").write_text('{"x": 2}\n')
    again = _export_in_new_process(directory, cache_dir)
    assert again == cuepy.load(directory).to_python() != first


def test_load_inputs_lists_embedded_files(tmp_path: Path) -> None:
    directory = _embedding_module(tmp_path / "m")
    found = cuepy.api.load_inputs(directory)
    root = str(tmp_path / "m")
    names = {os.path.relpath(f, root) for f in found.files}
    assert {"app/conf/c.json", "lib/d/one.yaml", "lib/.data/x.json", "cue.mod/module.cue", "app/app.cue",
            "lib/lib.cue"} <= names  # fmt: skip
    assert {os.path.join(root, "lib", "d"), os.path.join(root, "app")} <= set(found.directories)
    assert found.root == root


def _plain_module(root: Path, text: str = "package m\nx: 1\n") -> Path:
    (root / "cue.mod").mkdir(parents=True)
    (root / "cue.mod" / "module.cue").write_text('module: "example.com/m@v0"\nlanguage: version: "v0.12.0"\n')
    (root / "m.cue").write_text(text)
    return root


def _export(cache: Cache, directory: Path, compute: Any = None) -> str:
    return cache.memoize("export", directory=directory, request={"op": "export"},
                         inputs=lambda: cuepy.api.load_inputs(directory),
                         compute=compute or (lambda: str(cuepy.load(directory).export("json"))),
                         use=lambda payload, _key: payload)  # fmt: skip


def test_a_directory_without_cue_mod_is_cached_and_sees_one_appear(tmp_path: Path, cache: Cache) -> None:
    # Loaded as it is (no cue.mod), a directory's inputs named a cue.mod/module.cue that does
    # not exist, and every cached call on it failed with CacheError "cannot read".
    directory = tmp_path / "plain"
    directory.mkdir()
    (directory / "m.cue").write_text('package m\nx: "\\(y)"\ny: "plain"\n')
    assert json.loads(_export(cache, directory)) == {"x": "plain", "y": "plain"}
    assert len(entries(cache, "export")) == 1
    assert json.loads(_export(Cache(cache.directory), directory)) == {"x": "plain", "y": "plain"}  # a hit
    assert len(entries(cache, "export")) == 1
    # A cue.mod appearing makes the directory a module: another key, not the old entry.
    (directory / "cue.mod").mkdir()
    (directory / "cue.mod" / "module.cue").write_text('module: "example.com/m@v0"\nlanguage: version: "v0.12.0"\n')
    assert json.loads(_export(cache, directory)) == {"x": "plain", "y": "plain"}
    assert len(entries(cache, "export")) == 2


def test_an_edit_while_computing_is_not_stored(tmp_path: Path, cache: Cache) -> None:
    # Before: the key was computed in one walk and the signatures recorded in another; an edit
    # between them pinned the old key to what was computed. Now what is hashed is checked
    # around the read and again after the computation: an edit meanwhile stores nothing.
    directory = _plain_module(tmp_path / "m")

    def edit_meanwhile() -> str:
        result = str(cuepy.load(directory).export("json"))
        (directory / "m.cue").write_text("package m\nx: 2\n")
        return result

    assert json.loads(_export(cache, directory, edit_meanwhile)) == {"x": 1}  # returned...
    assert entries(cache, "export") == set()  # ...not stored
    assert json.loads(_export(cache, directory)) == {"x": 2}
    assert json.loads(_export(Cache(cache.directory), directory)) == {"x": 2}


def _listed_export(cache: Cache, directory: Path, asked: list[int], listing: Any = None,
                   compute: Callable[[], str] | None = None) -> str:  # fmt: skip
    """``_export`` whose computation gives its own listing (``listing(directory)``: what it read)."""

    def inputs() -> Any:
        asked.append(1)
        return cuepy.api.load_inputs(directory)

    def computed() -> Computed:
        payload = compute() if compute is not None else str(cuepy.load(directory).export("json"))
        return Computed(payload, (listing or cuepy.api.load_inputs)(directory))

    return cache.memoize("export", directory=directory, request={"op": "export"}, inputs=inputs,
                         compute=computed, use=lambda payload, _key: payload, computes_listing=True)  # fmt: skip


def test_a_computation_that_lists_what_it_read_spares_the_second_listing(tmp_path: Path, cache: Cache) -> None:
    # A miss lists the inputs, hashes them and then needs a second listing (a file edited in
    # between may change what is read): the computation's own, taken after the hashing, serves.
    directory = _plain_module(tmp_path / "m")
    asked: list[int] = []
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 1}
    assert asked == [1] and len(entries(cache, "export")) == 1
    keys.forget()  # a new process: the manifest gives the key
    assert json.loads(_listed_export(Cache(cache.directory), directory, asked)) == {"x": 1}
    assert asked == [1]


def test_a_computation_that_read_something_else_is_not_stored(tmp_path: Path, cache: Cache) -> None:
    # The computation's listing differs from the one hashed (here: it read one more file, as
    # after an import was added meanwhile): its result is returned, not stored under that key.
    directory = _plain_module(tmp_path / "m")
    imported = _plain_module(tmp_path / "dep") / "m.cue"

    def more(d: Path) -> Any:
        found = cuepy.api.load_inputs(d)
        return dataclasses.replace(found, files=tuple(sorted((*found.files, str(imported)))))

    asked: list[int] = []
    assert json.loads(_listed_export(cache, directory, asked, more)) == {"x": 1}
    assert entries(cache, "export") == set()


def test_an_edited_module_is_keyed_by_the_paths_it_read_before(tmp_path: Path, cache: Cache) -> None:
    # An edit that does not change what is read (a value, not an import) is keyed from the last
    # listing's paths hashed again, in this process and in a new one (the manifest's newest
    # variant): no listing is asked for, and going back to a content seen before is a hit.
    directory = _plain_module(tmp_path / "m")
    asked: list[int] = []
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 1}
    assert asked == [1]
    (directory / "m.cue").write_text("package m\nx: 2\n")
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 2}
    keys.forget()  # a new process
    _memoize.forget_calls()
    (directory / "m.cue").write_text("package m\nx: 3\n")
    assert json.loads(_listed_export(Cache(cache.directory), directory, asked)) == {"x": 3}
    assert asked == [1] and len(entries(cache, "export")) == 3

    def not_computed() -> Computed:
        raise AssertionError("content seen before: a hit")

    keys.forget()
    _memoize.forget_calls()
    (directory / "m.cue").write_text("package m\nx: 2\n")
    assert json.loads(cache.memoize("export", directory=directory, request={"op": "export"},
                                    inputs=lambda: asked.append(1) or cuepy.api.load_inputs(directory),
                                    compute=not_computed, use=lambda payload, _key: payload,
                                    computes_listing=True)) == {"x": 2}  # fmt: skip
    assert asked == [1]


def test_an_edit_that_reads_another_file_is_listed_and_stored(tmp_path: Path, cache: Cache) -> None:
    # The last listing's paths no longer say what is read (a file added to the package): the
    # computation's own listing differs, so its result is not stored under the guessed key; the
    # inputs are listed and the result computed and stored under the right one.
    directory = _plain_module(tmp_path / "m")
    asked: list[int] = []
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 1}
    (directory / "n.cue").write_text("package m\ny: 2\n")
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 1, "y": 2}
    assert asked == [1, 1] and len(entries(cache, "export")) == 2
    keys.forget()
    _memoize.forget_calls()
    assert json.loads(_listed_export(Cache(cache.directory), directory, asked)) == {"x": 1, "y": 2}
    assert asked == [1, 1] and len(entries(cache, "export")) == 2  # the manifest's new variant: a hit


def test_an_edit_that_imports_an_unchanged_package_is_computed_once(tmp_path: Path, cache: Cache) -> None:
    # The edit makes the module read a package it did not read before, written long before: the
    # computation's own listing keys its result (its new files were not written while it ran),
    # without listing the inputs and computing again; a new process hits it.
    directory = _plain_module(tmp_path / "m")
    (directory / "sub").mkdir()
    (directory / "sub" / "s.cue").write_text("package sub\ny: 2\n")
    time.sleep(keys.RACY_NS / 1e9 + 0.2)  # the package's files are older than the computation
    asked: list[int] = []
    computed: list[int] = []

    def export() -> str:
        computed.append(1)
        return str(cuepy.load(directory).export("json"))

    assert json.loads(_listed_export(cache, directory, asked, compute=export)) == {"x": 1}
    (directory / "m.cue").write_text('package m\nimport "example.com/m/sub"\nx: 1\nz: sub.y\n')
    assert json.loads(_listed_export(cache, directory, asked, compute=export)) == {"x": 1, "z": 2}
    assert asked == [1] and computed == [1, 1] and len(entries(cache, "export")) == 2
    keys.forget()
    _memoize.forget_calls()
    assert json.loads(_listed_export(Cache(cache.directory), directory, asked, compute=export)) == {"x": 1, "z": 2}
    assert asked == [1] and computed == [1, 1]  # the manifest's variant for the new listing: a hit


def test_an_edit_while_the_computation_runs_is_not_keyed_from_its_listing(tmp_path: Path, cache: Cache) -> None:
    # As above, but the module file changes while the computation runs: what it read cannot be
    # shown, so the inputs are listed and the result computed again, from the files as they are.
    directory = _plain_module(tmp_path / "m")
    (directory / "sub").mkdir()
    (directory / "sub" / "s.cue").write_text("package sub\ny: 2\n")
    time.sleep(keys.RACY_NS / 1e9 + 0.2)
    asked: list[int] = []
    computed: list[int] = []

    def export() -> str:
        out = str(cuepy.load(directory).export("json"))
        if len(computed) == 1:
            (directory / "m.cue").write_text('package m\nimport "example.com/m/sub"\nx: 1\nz: sub.y\nw: 3\n')
        computed.append(1)
        return out

    assert json.loads(_listed_export(cache, directory, asked, compute=export)) == {"x": 1}
    (directory / "m.cue").write_text('package m\nimport "example.com/m/sub"\nx: 1\nz: sub.y\n')
    assert json.loads(_listed_export(cache, directory, asked, compute=export)) == {"x": 1, "z": 2, "w": 3}
    assert asked == [1, 1] and computed == [1, 1, 1]


def test_a_file_of_the_last_listing_removed_is_listed_again(tmp_path: Path, cache: Cache) -> None:
    # The last listing's paths cannot be observed (one is gone): discovery lists what is read now,
    # in this process and in a new one.
    directory = _plain_module(tmp_path / "m")
    (directory / "n.cue").write_text("package m\ny: 2\n")
    asked: list[int] = []
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 1, "y": 2}
    (directory / "n.cue").unlink()
    assert json.loads(_listed_export(cache, directory, asked)) == {"x": 1}
    (directory / "n.cue").write_text("package m\ny: 3\n")
    keys.forget()
    _memoize.forget_calls()
    assert json.loads(_listed_export(Cache(cache.directory), directory, asked)) == {"x": 1, "y": 3}
    assert asked == [1, 1, 1]  # (a file added: the guess read other paths, so discovery listed)
    (directory / "n.cue").unlink()
    keys.forget()
    _memoize.forget_calls()
    assert json.loads(_listed_export(Cache(cache.directory), directory, asked)) == {"x": 1}
    assert asked == [1, 1, 1]  # (as before: the manifest's variant without n.cue)


def test_a_manifest_keeps_one_copy_of_the_shipped_catalog_signatures(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each variant of a module's manifest (one per content seen) watches the catalog shipped in
    # cuepy, the same directories every time: their per-file signatures are stored once, so the
    # manifest each miss reads and writes does not grow by them with every edit.
    directory = copy_example("simple", tmp_path / "simple")
    asked = count_listings(monkeypatch)
    module = directory / DEF
    text = module.read_text()
    sizes = []
    for n in range(4):
        module.write_text(text.replace('version:          "1.2.0"', f'version:          "1.2.{n}"'))
        value = cuepy.opm.load(directory, file=DEF, cache=cache)
        assert value.lookup("metadata.version").to_python() == f"1.2.{n}"
        (manifest,) = (cache.root / "manifest").glob("*.entry")
        sizes.append(manifest.stat().st_size)
    assert asked == [1]  # the edits were keyed from the first listing's paths
    assert len(entries(cache, "module")) == 4
    data = json.loads(cache.get("manifest", manifest.name.removesuffix(".entry"), memory=False) or "")
    units = json.dumps(data["shipped"])
    assert data["shipped"] and all("shipped" not in v["observation"]["signatures"] for v in data["variants"])
    growth = sizes[3] - sizes[2]
    assert 0 < growth < sizes[0] - len(units), sizes


def count_listings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time the module cache asks libcuepy what a load reads."""
    from cuepy.opm import _cached

    asked: list[int] = []
    real = _cached.load_inputs

    def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("cuepy.opm._cached.load_inputs", counting)
    return asked


def test_a_cold_module_load_lists_its_inputs_once(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flatten lists what its own load read: the miss asks libcuepy's listing once, not twice.
    directory = copy_example("simple", tmp_path / "simple")
    asked = count_listings(monkeypatch)
    module = cuepy.opm.load(directory, file=DEF, cache=cache)
    assert asked == [1] and len(entries(cache, "module")) == 1
    assert module.lookup("metadata.name").to_python() == cuepy.load(directory, files=[DEF]).lookup(
        "metadata.name").to_python()  # fmt: skip


def test_same_size_rewrites_within_a_tick_are_seen(tmp_path: Path, cache: Cache) -> None:
    # Before: a file rewritten with the same size within the timestamp granularity kept its
    # stat signature, and the old result was served. Now a signature recorded within RACY_NS
    # of the file's timestamps is not trusted: the file is hashed again. On tmpfs, with the
    # mtime set back to the first write's, as a coarse clock would leave it.
    base = Path("/dev/shm") if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tmp_path
    work = Path(tempfile.mkdtemp(dir=base))
    try:
        directory = _plain_module(work / "m")
        path = directory / "m.cue"
        for value in (1, 2):  # both results stored: what follows are hits
            path.write_text(f"package m\nx: {value}\n")
            _export(cache, directory)
        for i in range(50):
            path.write_text("package m\nx: 1\n")
            first = os.stat(path)
            assert json.loads(_export(cache, directory)) == {"x": 1}, i
            path.write_text("package m\nx: 2\n")  # same size
            os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns))
            assert json.loads(_export(cache, directory)) == {"x": 2}, i
    finally:
        shutil.rmtree(work)


def test_racy_signatures_are_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("a")
    before = keys.hashed_count()
    keys.digest_of(str(path))
    keys.digest_of(str(path))  # written just now: racy, read again
    assert keys.hashed_count() == before + 2
    sig, _digest, recorded = keys.digest_of(str(path))
    assert keys.racy(sig, recorded) and not keys.racy(sig, recorded + keys.RACY_NS + 1)


def test_a_new_process_trusts_aged_signatures_and_still_sees_edits(tmp_path: Path, cache: Cache) -> None:
    # A new process checks a stored manifest by stat: a file whose signature was stored, is
    # not racy and still matches is not read again (nor the shipped catalog). An edit that
    # keeps size and mtime still changes ctime, and is seen.
    directory = copy_example("simple", tmp_path / "simple")
    values = example_values(directory)
    time.sleep(keys.RACY_NS / 1e9 + 0.2)  # the copied files age: their signatures become trustworthy
    first = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    keys.forget()  # a new process
    before = keys.hashed_count()
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory)) == first
    assert keys.hashed_count() == before
    module = directory / DEF
    old = os.stat(module)
    module.write_text(module.read_text().replace('version:          "1.2.0"', 'version:          "1.2.9"'))
    os.utime(module, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert os.stat(module).st_size == old.st_size
    keys.forget()
    edited = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory))
    assert edited == uncached_release(directory, values) != first


def test_a_new_process_takes_the_key_its_manifest_variant_stores(tmp_path: Path, cache: Cache) -> None:
    # A variant stores the key of its result: a new process's hit reads it instead of keying the
    # observation again. A variant stored without one (by an earlier cuepy) or with a malformed
    # one is keyed from its observation: the same entry serves, nothing is computed.
    directory = _plain_module(tmp_path / "m")
    assert json.loads(_export(cache, directory)) == {"x": 1}
    (manifest,) = (cache.root / "manifest").glob("*.entry")
    name = manifest.name.removesuffix(".entry")
    data = json.loads(cache.get("manifest", name, memory=False) or "")
    (variant,) = data["variants"]
    assert entries(cache, "export") == {variant["key"]}

    def computed() -> str:
        raise AssertionError("computed again")

    for stored in (variant["key"], None, "not a key", variant["key"][:-1]):
        variant["key"] = stored
        cache.put("manifest", name, json.dumps(data), memory=False)
        keys.forget()  # a new process
        assert json.loads(_export(Cache(cache.directory), directory, computed)) == {"x": 1}
    assert len(entries(cache, "export")) == 1


def test_a_shipped_directory_is_checked_by_stats_and_any_change_is_seen(tmp_path: Path) -> None:
    # A new process trusts a shipped unit's stored digest after a stat of its directory and of
    # each of its files (no listing): the directory's signature changes with its entries.
    root = tmp_path / "shipped"
    (root / "sub").mkdir(parents=True)
    (root / "x.cue").write_text("x: 1\n")
    (root / "y.cue").write_text("y: 2\n")
    (root / "sub" / "z.cue").write_text("z: 3\n")
    base = str(root)

    def still(unit: keys.ShippedUnit) -> bool:  # the stored unit, read back, vouched for by stats
        found = keys.ShippedUnit.unchanged(json.loads(json.dumps(unit.as_json())), base)
        assert found is None or found == unit
        return found is not None

    def aged() -> keys.ShippedUnit:  # hashed long enough ago for its signatures to be trusted
        unit = keys.ShippedUnit.of(base)
        assert not still(unit)  # just written: racy
        return dataclasses.replace(unit, recorded=unit.recorded + keys.RACY_NS + 1)

    assert still(aged())
    assert [name for name, _ in aged().entries] == [".", "x.cue", "y.cue"]  # (sub/ is a unit of its own)
    edits = {
        "an edit keeping size and mtime": lambda: _rewrite_keeping_mtime(root / "y.cue", "y: 3\n"),
        "a new file": lambda: (root / "w.cue").write_text("w: 1\n"),
        "a removed file": lambda: (root / "x.cue").unlink(),
        "a renamed file": lambda: (root / "y.cue").rename(root / "v.cue"),
        "a new directory": lambda: (root / "d").mkdir(),
    }
    for what, edit in edits.items():
        unit = aged()
        edit()
        assert not still(unit), what
        assert keys.ShippedUnit.of(base).digest != unit.digest, what
    unit = aged()
    (root / "sub" / "z.cue").write_text("z: 4\n")  # another unit's file
    assert still(unit)
    (root / ".hidden").write_text("")
    assert not still(unit)  # not read, but its directory changed: hashed again, same digest
    assert keys.ShippedUnit.of(base).digest == unit.digest


def test_a_shipped_module_is_watched_where_the_load_reads_it(tmp_path: Path) -> None:
    # The shipped directories a listing names (and those holding the files it names) are its
    # units, named in keys from the shipped module's directory: an edit elsewhere in the module
    # (the Kubernetes schemas a module's load does not read) leaves the observation current.
    base = tmp_path / "pkg" / "catalog"
    for path, text in {"cue.mod/module.cue": 'module: "x.test/c@v0"\n', "core/a.cue": "package core\n",
                       "k8s/api/b.cue": "package api\n"}.items():  # fmt: skip
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_text(text)
    listing = ([str(base / "cue.mod" / "module.cue"), str(base / "core" / "a.cue")], [str(base), str(base / "core")])
    observation = keys.Observation.take(*listing, [str(base)])
    assert observation.names(str(tmp_path), {})["shipped"].keys() == {
        "@shipped/catalog", "@shipped/catalog/core", "@shipped/catalog/cue.mod"}  # fmt: skip
    stored = json.loads(json.dumps(observation.as_json()))
    (base / "k8s" / "api" / "b.cue").write_text("package api\nb: 1\n")
    keys.forget()
    assert keys.Observation.validate(stored) is not None
    (base / "core" / "a.cue").write_text("package core\na: 1\n")
    keys.forget()
    assert keys.Observation.validate(stored) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _replace_at(doc: Any, path: list[int], value: Any) -> Any:
    """``doc`` with the node that ``path`` picks (each step an index into a list's items or a dict's
    values, modulo their number) replaced by ``value``."""
    if not path or not isinstance(doc, list | dict) or not doc:
        return value
    if isinstance(doc, list):
        i = path[0] % len(doc)
        return [_replace_at(x, path[1:], value) if j == i else x for j, x in enumerate(doc)]
    name = list(doc)[path[0] % len(doc)]
    return {**doc, name: _replace_at(doc[name], path[1:], value)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.integers(min_value=0, max_value=50), max_size=6), value=st.just("fd") | _JSON)
def test_a_malformed_stored_observation_is_not_used(tmp_path: Path, path: list[int], value: Any) -> None:
    # A manifest is checksummed, but one written by another version or damaged in a way its
    # checksum does not catch must never break a hit: any node of a stored observation replaced
    # by other JSON gives an observation to check, or None (recomputed), never an exception.
    # A number where a path was must not name a file descriptor (read, then closed).
    directory = tmp_path / "m"
    if not directory.exists():
        _plain_module(directory)
    listing = cuepy.api.load_inputs(directory)
    stored = keys.Observation.take(listing.files, listing.directories, listing.shipped).as_json()
    with open(directory / "m.cue", "rb") as held:
        damaged = _replace_at(json.loads(json.dumps(stored)), path, held.fileno() if value == "fd" else value)
        for read in (keys.Observation.validate, keys.Observation.again):
            found = read(damaged)
            assert found is None or isinstance(found, keys.Observation)
        os.fstat(held.fileno())  # still open


@functools.cache
def _stored_module(root: str) -> tuple[Path, Path, dict[str, tuple[str, str]]]:
    """A copy of the simple example and a cache holding its compiled module: (module, cache
    directory, kind -> (key, payload) of its entries)."""
    directory = copy_example("simple", Path(root) / "simple")
    cache = Cache(Path(root) / "cache")
    cuepy.opm.load(directory, file=DEF, cache=cache).close()
    stored = {}
    for kind in ("module", "manifest"):
        (key,) = entries(cache, kind)
        stored[kind] = (key, cache.get(kind, key, memory=False) or "")
    return directory, cache.directory, stored


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["module", "manifest"]),
       path=st.lists(st.integers(min_value=0, max_value=50), max_size=6), value=_JSON)  # fmt: skip
@example(kind="manifest", path=[0, 0, 1], value="x")  # a variant's observation (a string broke the next store)
def test_a_damaged_entry_is_a_miss_or_a_typed_error(tmp_path: Path, kind: str, path: list[int], value: Any) -> None:
    # An entry that decodes but holds something else than what its kind stores (another
    # version's, or damaged under a valid checksum): the compiled module or the manifest that
    # keys it. The module comes, recomputed if need be, or a CueError: never another exception.
    directory, cache_dir, stored = _stored_module(str(tmp_path))  # (once for all examples)
    key, payload = stored[kind]
    cache = Cache(cache_dir)
    cache.put(kind, key, json.dumps(_replace_at(json.loads(payload), path, value)), memory=False)
    keys.forget()  # a new process
    try:
        cuepy.opm.load(directory, file=DEF, cache=cache).close()
    except cuepy.CueError:
        pass


def test_an_entry_whose_line_map_libcuepy_refuses_is_computed_again(tmp_path: Path) -> None:
    # libcuepy refuses a malformed line map as the caller's error (CueUsageError); from a stored
    # entry it is the entry's: discarded and computed again, not raised on every call.
    directory, cache_dir, stored = _stored_module(str(tmp_path))
    key, payload = stored["module"]
    doc = json.loads(payload)
    for lines in doc["lines"].values():
        lines["rows"] = "1,1,99,1,1"  # no source 99
    cache = Cache(cache_dir)
    cache.put("module", key, json.dumps(doc), memory=False)
    keys.forget()  # a new process
    value = cuepy.opm.load(directory, file=DEF, cache=cache)
    assert value.lookup("metadata.name").to_python() == "simple-app"
    assert json.loads(cache.get("module", key, memory=False) or "")["lines"] == json.loads(payload)["lines"]


def _rewrite_keeping_mtime(path: Path, text: str) -> None:
    old = os.stat(path)
    path.write_text(text)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert os.stat(path).st_size == old.st_size


def test_a_manifest_whose_shipped_signatures_cannot_serve_is_stored_again(tmp_path: Path) -> None:
    # A stored observation whose shipped tree is in an older layout (or racy) makes each new
    # process hash the tree: the first process that can trust its own signatures says so
    # (refreshed), and the next validates by stats alone.
    root = tmp_path / "shipped"
    root.mkdir()
    (root / "x.cue").write_text("x: 1\n")
    time.sleep(keys.RACY_NS / 1e9 + 0.2)
    stored = keys.Observation.take([str(root / "x.cue")], [], [str(root)]).as_json()
    tree = stored["signatures"]["shipped"][str(root)]
    older = {"digest": tree["digest"], "files": [["x.cue", *tree["entries"][1][1:]]], "recorded": tree["recorded"]}
    keys.forget()
    again = keys.Observation.validate({**stored, "signatures": {**stored["signatures"], "shipped": {str(root): older}}})
    assert again is not None and again.refreshed
    refreshed = json.loads(json.dumps(again.as_json()))
    keys.forget()
    before = keys.hashed_count()
    last = keys.Observation.validate(refreshed)
    assert last is not None and not last.refreshed and keys.hashed_count() == before


def test_a_hit_that_reads_racy_files_again_stores_their_signatures_once_trusted(tmp_path: Path, cache: Cache) -> None:
    # Stored right after an edit, a manifest's signatures are racy: each new process would read
    # and hash those files again. The first new process past the racy window stores the manifest
    # again (git's index refresh), and the next ones only stat the files.
    directory = copy_example("simple", tmp_path / "simple")
    values = example_values(directory)
    first = cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)  # racy
    time.sleep(keys.RACY_NS / 1e9 + 0.2)
    keys.forget()  # a new process: reads the racy files again, then stores what it found
    before = keys.hashed_count()
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory)) == first
    assert keys.hashed_count() > before
    keys.forget()  # the next new process trusts the stored signatures
    before = keys.hashed_count()
    assert cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory)) == first
    assert keys.hashed_count() == before


def test_requests_differing_in_values_share_one_listing(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a load reads does not depend on values or namespace: renders that differ only there
    # list the module's inputs once (asking libcuepy twice: before and after hashing) and share
    # that listing while its files are unchanged; an edit makes the next one list them again.
    directory = copy_example("simple", tmp_path / "simple")
    values = example_values(directory)
    asked = count_listings(monkeypatch)
    for ns in ("a", "b", "c"):
        got = cuepy.opm.render_release(directory, values, namespace=ns, file=DEF, cache=cache)
        assert got == uncached_release(directory, values, namespace=ns)
    assert len(asked) == 2
    module = directory / DEF
    module.write_text(module.read_text().replace('version:          "1.2.0"', 'version:          "1.3.0"'))
    got = cuepy.opm.render_release(directory, values, namespace="d", file=DEF, cache=cache)
    assert got == uncached_release(directory, values, namespace="d") and "1.3.0" in json.dumps(got)
    assert len(asked) == 4


def test_releases_of_a_known_module_detect_its_layout_once(
    tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A compiled module's layout is decided by its source: releases of it into other namespaces
    # (render misses) reuse the layout found the first time instead of looking for it again.
    from cuepy.opm import _cached, _read

    monkeypatch.setattr(_cached, "_layouts", {})  # (what earlier tests learnt of the same module)
    directory = copy_example("simple", tmp_path / "simple")
    values = example_values(directory)
    detected: list[int] = []
    for module in (_cached, _read):
        real = module.detect_layout

        def counting(value: Any, real: Any = real) -> Any:
            detected.append(1)
            return real(value)

        monkeypatch.setattr(module, "detect_layout", counting)
    for ns in ("a", "b", "c"):
        got = cuepy.opm.render_release(directory, values, namespace=ns, file=DEF, cache=cache)
        assert got == uncached_release(directory, values, namespace=ns)
    assert len(detected) == 1 + 3  # once for the compiled module; once per uncached_release


def test_descriptors_do_not_grow_with_the_module(tmp_path: Path, cache: Cache) -> None:
    # Before: warm render hits held a descriptor open on every file and directory of up to 16
    # module trees (1,000 directories exhausted a 1,024 descriptor limit). Now nothing is held.
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd")
    directory = copy_example("simple", tmp_path / "simple")
    for i in range(1000):
        (directory / f"d{i}").mkdir()
        (directory / f"d{i}" / "x.cue").write_text(f"package d{i}\nx: {i}\n")
    before = len(os.listdir(fds))
    for _ in range(4):
        cuepy.opm.render_release(directory, None, namespace=NS, file=DEF, cache=cache)
    assert len(os.listdir(fds)) - before <= 2


def test_a_worker_stays_bounded_over_many_distinct_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker rendering ever new releases (as a deployment controller rolls them out) keeps its
    in-process layers bounded and frees every libcuepy handle. The memory layer holds results
    only: a manifest per distinct request kept there grew a worker's RSS by twice its releases'
    size (benchmarks/scale_bench.py --only rss); the call memo gives a request's key instead."""
    import gc

    from cuepy.cache import _memoize

    monkeypatch.setattr(_memoize, "_CALLS_MAX", 16)
    directory = copy_example("simple", tmp_path / "m")
    values = example_values(directory)
    cache = Cache(tmp_path / "cache")
    small = Cache(tmp_path / "small", memory_bytes=20_000)

    def render(c: Cache, i: int) -> None:
        v = json.loads(json.dumps(values))
        v["api"]["replicas"] = 1 + i
        cuepy.opm.render_release(directory, v, namespace=f"ns-{i % 7}", file=DEF, cache=c)

    render(cache, 0)
    gc.collect()
    handles = cuepy.live_handles()
    for i in range(1, 61):
        render(cache, i)
        render(small, i)
    gc.collect()
    assert cuepy.live_handles() == handles
    stats = cache.stats()
    assert stats.kinds["manifest"].entries >= 60  # on disk, for other processes
    assert stats.memory_entries == stats.kinds["render"].entries + stats.kinds["module"].entries == 62, stats
    assert len(_memoize._calls) <= 16 and len(_memoize._listings) <= 16
    assert small.stats().memory_bytes <= 20_000


def test_a_symlink_loop_is_a_cue_error(tmp_path: Path, cache: Cache) -> None:
    # Before: a bare OSError (ELOOP) from the key walk.
    directory = copy_example("simple", tmp_path / "simple")
    (directory / "loop.cue").symlink_to(directory / "loop.cue")
    with pytest.raises(cuepy.CueError) as info:
        cuepy.opm.render_release(directory, None, namespace=NS, file=DEF, cache=cache)
    assert "loop.cue" in str(info.value)


def test_a_file_vanishing_while_hashed_is_a_cache_error(tmp_path: Path, cache: Cache) -> None:
    directory = _plain_module(tmp_path / "m")
    gone = str(directory / "gone.cue")

    def inputs() -> cuepy.api.LoadInputs:
        found = cuepy.api.load_inputs(directory)
        return cuepy.api.LoadInputs(found.root, (*found.files, gone), found.directories, found.shipped)

    with pytest.raises(cuepy.cache.CacheError) as info:
        cache.memoize("export", directory=directory, request={}, inputs=inputs, compute=lambda: "",
                      use=lambda p, k: p)  # fmt: skip
    assert info.value.path == gone and isinstance(info.value, cuepy.CueError)


def test_a_cache_directory_removed_while_running_is_made_again(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    cache.put("render", _key(1), "{}")
    shutil.rmtree(tmp_path / "c")
    cache.put("render", _key(2), "{}")
    assert cache.path("render", _key(2)).is_file()
    assert Cache(tmp_path / "c").get("render", _key(2)) == "{}"


@pytest.mark.parametrize("how", ["group-writable", "another user's"])
def test_an_unsafe_cache_directory_is_refused(how: str, tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir(mode=0o700)
    if how == "group-writable":
        os.chmod(directory, 0o770)
    else:
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(directory, 12345, 12345)
    cache = Cache(directory)
    with pytest.warns(cuepy.cache.CacheWarning, match="not used"):
        cache.put("render", _key(1), "{}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning only
        cache.put("render", _key(2), "{}")
        assert cache.get("render", _key(1)) == "{}"  # memory still serves
        assert Cache(directory, memory_bytes=0).get("render", _key(1)) is None
    assert list(directory.iterdir()) == []
    assert cache.refused


def test_an_entry_owned_by_another_user_is_not_read(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    cache = Cache(tmp_path / "c")
    cache.put("render", _key(1), "{}")
    os.chown(cache.path("render", _key(1)), 12345, 12345)
    assert Cache(tmp_path / "c").get("render", _key(1)) is None


def test_what_is_not_a_file_where_one_belongs_is_no_error_and_never_blocks(tmp_path: Path) -> None:
    # Before: a FIFO where an entry belongs blocked every read of that key forever (the open
    # waited for a writer), and a directory there, or where the sweep's or a key's lock file
    # belongs, made evict, clear and every miss of that key raise IsADirectoryError.
    directory = _plain_module(tmp_path / "m")
    cache = Cache(tmp_path / "c")
    assert json.loads(_export(cache, directory)) == {"x": 1}
    (key,) = entries(cache, "export")
    cache.path("export", key).unlink()
    os.mkfifo(cache.path("export", key))
    (cache.root / "render" / f"{_key(1)}.entry").mkdir(parents=True)
    (cache.root / ".lock").mkdir()
    key_lock = cache.directory / ".locks-v1" / f"export-{key}.lock"
    key_lock.unlink(missing_ok=True)
    key_lock.mkdir()
    done: list[Any] = []

    def calls() -> None:
        fresh = Cache(cache.directory)
        done.append(fresh.get("export", key))
        done.append(json.loads(_export(fresh, directory)))  # a miss: its lock is not a file
        done.append(fresh.evict(0))
        done.append(fresh.clear())

    worker = threading.Thread(target=calls, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"blocked after {done}"
    assert done[:2] == [None, {"x": 1}]


@pytest.mark.parametrize(("name", "value", "says"), [
    ("CUEPY_CACHE_WAIT", "soon", "float"),
    ("CUEPY_CACHE_LEASE", "-1", "at least 0"),
    ("CUEPY_CACHE_MAX_SIZE", "12Q", "cache size"),
    ("CUEPY_CACHE_MAX_SIZE", "inf", "cache size"),
    ("CUEPY_CACHE_URL", "ftp://x", "scheme"),
    ("CUEPY_CACHE_KEY", "short", "16 bytes"),
])  # fmt: skip
def test_a_bad_environment_variable_is_named(
    name: str, value: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache reads its settings from the environment of a CI job or a controller, far from
    # the code that makes the Cache: an error says which variable it came from.
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=says) as info:
        Cache(tmp_path / "c")
    assert f"${name}" in " ".join(getattr(info.value, "__notes__", []))


@pytest.mark.parametrize(("given", "says"), [
    ({"max_bytes": "1G"}, "max_bytes must be an int, not '1G'"),
    ({"memory_bytes": None}, "memory_bytes must be an int, not None"),
    ({"loaded_modules": 2.5}, "loaded_modules must be an int, not 2.5"),
    ({"secret": 12345}, "a cache secret is bytes or a str, not int"),
])  # fmt: skip
def test_an_argument_of_another_type_is_named(given: dict[str, Any], says: str, tmp_path: Path) -> None:
    # Before: "'<' not supported between instances of 'str' and 'int'", "object of type 'int' has
    # no len()".
    with pytest.raises(TypeError, match=re.escape(says)):
        Cache(tmp_path / "c", **given)
    assert Cache(tmp_path / "c", max_bytes=1e9).max_bytes == 10**9  # a whole float serves


def test_a_method_given_another_type_says_so_and_stores_nothing(tmp_path: Path) -> None:
    # Before: put(b"...") went into the memory layer, then failed to encode (AttributeError), and
    # get() served the bytes; evict("1G") and keep(key, "x") failed deep inside ('<=' not
    # supported, no attribute 'lookup'); kept({}) said "unhashable type".
    cache = Cache(tmp_path / "c")
    with pytest.raises(TypeError, match="a cache payload is a str, not bytes"):
        cache.put("render", _key(1), b"{}")  # type: ignore[arg-type]
    assert cache.get("render", _key(1)) is None
    with pytest.raises(TypeError, match="max_bytes must be an int, not '1G'"):
        cache.evict("1G")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("keep holds a cuepy.Value, not str")):
        cache.keep(_key(1), "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("a cache key is 64 lowercase hex digits, not {}")):
        cache.kept({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a cache key is 64 lowercase hex digits, not 5"):
        cache.get("render", 5)  # type: ignore[arg-type]


def test_verify_and_clear_do_not_follow_symlinks(tmp_path: Path) -> None:
    # Before: through a symlinked v1/module, `cuepy cache verify` deleted the linked directory's files.
    cache = Cache(tmp_path / "c")
    cache.put("render", _key(1), "{}")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / f"{_key(2)}.entry").write_text("precious, not an entry")
    (victim / "notes.txt").write_text("precious")
    shutil.rmtree(cache.root / "module", ignore_errors=True)
    (cache.root / "module").symlink_to(victim)
    (cache.root / "render" / f"{_key(3)}.entry").symlink_to(victim / "notes.txt")
    Cache(tmp_path / "c").verify()
    assert sorted(p.name for p in victim.iterdir()) == sorted([f"{_key(2)}.entry", "notes.txt"])
    (cache.root / "module").symlink_to(victim)
    Cache(tmp_path / "c").clear()
    assert (victim / "notes.txt").read_text() == "precious"
    assert (victim / f"{_key(2)}.entry").read_text() == "precious, not an entry"


# Corruption --------------------------------------------------------------------

CORRUPTIONS = ["truncated", "garbled", "empty", "foreign", "other key", "header only", "bad module payload",
               "module that does not load"]  # fmt: skip


def _corrupt(path: Path, how: str, kind: str, key: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif how == "garbled":
        i = len(data) - 10
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1 :])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "foreign":
        path.write_bytes(b"\x80\x04\x95 not a cuepy entry \x00\xff" * 10)
    elif how == "other key":
        path.write_bytes(encode_entry(kind, "0" * 64, data.split(b"\n", 1)[1].decode()))
    elif how == "header only":
        path.write_bytes(data.split(b"\n", 1)[0] + b"\n")
    elif how == "bad module payload":  # sound checksum, not an entry cuepy wrote
        path.write_bytes(encode_entry(kind, key, '{"source": 1}' if kind == "module" else "[1, 2]"))
    elif how == "module that does not load":
        payload = {"source_kind": "ModuleDefinition", "filename": "zz.cue", "source": "package simple\nx: 1 & 2\n"}
        body = json.dumps(payload) if kind == "module" else '{"kind": "ModuleRelease"}'
        path.write_bytes(encode_entry(kind, key, body))


@pytest.mark.parametrize("kind", ["module", "render"])
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_entry_is_evicted_and_recomputed(how: str, kind: str, cache: Cache) -> None:
    directory = ex.path("simple")
    values = example_values(directory)

    def run(c: Cache) -> Any:
        if kind == "module":
            return cuepy.opm.load(directory, file=DEF, cache=c).export("cue")
        return cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=c)

    good = run(cache)
    (key,) = entries(cache, kind)
    path = cache.path(kind, key)
    _corrupt(path, how, kind, key)
    fresh = Cache(cache.directory)  # nothing in memory: the disk entry is read
    try:
        with cuepy.trace(), capture_logs() as logs:
            again = run(fresh)
    finally:
        structlog.reset_defaults()  # capture_logs leaves structlog "configured": events would print
    assert again == good
    assert [e for e in logs if e["event"] == "cuepy.cache.corrupt" and e["log_level"] == "warning"], logs
    assert decode_entry(path.read_bytes(), kind, key)[0] is not None, "the entry was not rewritten"
    assert run(Cache(cache.directory)) == good


def test_verify_removes_corrupt_entries(cache: Cache) -> None:
    directory = ex.path("simple")
    values = example_values(directory)
    cuepy.opm.render_release(directory, values, namespace=NS, file=DEF, cache=cache)
    cuepy.opm.render_release(directory, values, namespace="other", file=DEF, cache=cache)
    first, second = sorted(entries(cache, "render"))
    _corrupt(cache.path("render", first), "garbled", "render", first)
    (cache.root / "render" / "stray.txt").write_text("hello")
    report = cache.verify()
    assert len(report.removed) == 2 and report.checked == sum(1 for _ in cache.root.glob("*/*")) + 2
    assert entries(cache, "render") == {second}


# Eviction ----------------------------------------------------------------------


def _key(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_size_bound_holds_and_evicts_least_recently_used(tmp_path: Path) -> None:
    payload = "x" * 10_000
    size = len(encode_entry("render", _key(0), payload))
    bound = int(size * 3.5)
    cache = Cache(tmp_path / "c", max_bytes=bound)
    for i in range(3):
        cache.put("render", _key(i), payload)
        time.sleep(0.02)
    assert Cache(tmp_path / "c").get("render", _key(0)) == payload  # read from disk: now the most recent
    time.sleep(0.02)
    for i in range(3, 12):
        cache.put("render", _key(i), payload)
        assert cache.stats().bytes <= bound
        time.sleep(0.02)
        if i == 3:
            assert entries(cache, "render") == {_key(0), _key(2), _key(3)}, "not least recently used first"
    assert cache.stats().entries == 3
    assert cache.stats().evictions == 9


def test_stores_sweep_once_per_sixteenth_of_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A sweep stats every entry under the directory's lock: run after every store, a batch of
    # renders was quadratic and its worker processes queued on the lock.
    payload = "x" * 1000
    size = len(encode_entry("render", _key(0), payload))
    cache = Cache(tmp_path / "c", max_bytes=size * 16 * 10)  # a sweep every 10 stores
    sweeps: list[int] = []
    real = cache.evict
    stored = [0]

    def counting(max_bytes: int | None = None) -> int:
        sweeps.append(stored[0])
        return real(max_bytes)

    monkeypatch.setattr(cache, "evict", counting)
    for i in range(25):
        stored[0] = i
        cache.put("render", _key(i), payload)
    assert sweeps[0] < 10 and all(b - a == 10 for a, b in itertools.pairwise(sweeps)), sweeps
    assert len(sweeps) in (2, 3)


def test_short_lived_caches_sweep_in_proportion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Processes that each store less than a sixteenth of the bound (one CLI run each) still keep
    # the directory bounded: about one sweep per sixteenth stored across them, not one per run.
    payload = "x" * 1000
    size = len(encode_entry("render", _key(0), payload))
    bound = size * 16 * 10
    sweeps: list[int] = []
    for i in range(200):
        cache = Cache(tmp_path / "c", max_bytes=bound)  # a run storing a tenth of the interval
        real = cache.evict
        monkeypatch.setattr(cache, "evict", lambda max_bytes=None, i=i, real=real: sweeps.append(i) or real(max_bytes))
        cache.put("render", _key(i), payload)
    assert 5 <= len(sweeps) <= 50  # 20 expected (binomial: outside this, about once in a million)
    random.seed(7)
    expected = random.random()
    random.seed(7)
    Cache(tmp_path / "d")
    assert random.random() == expected  # the phase comes from a generator of cuepy's: the caller's is untouched
    assert Cache(tmp_path / "c").stats().bytes <= bound + (199 - sweeps[-1]) * size  # bounded at the last sweep


def test_clear_and_stats(cache: Cache) -> None:
    cache.put("module", _key(1), "{}")
    cache.put("render", _key(2), "{}")
    stats = cache.stats()
    assert (stats.entries, stats.kinds["module"].entries, stats.kinds["render"].entries) == (2, 1, 1)
    assert cache.clear() == 2
    assert cache.stats().entries == 0
    assert cache.get("module", _key(1)) is None


# Concurrency -------------------------------------------------------------------

PROCESSES, OPS, MODULES = 4, 200, 10


def test_processes_share_the_cache(tmp_path: Path) -> None:
    """4 spawned processes x 200 loads and renders over 10 modules, on one cold cache at once."""
    spec: dict[str, Any] = {"namespaces": ["a", "b"], "modules": []}
    for m in range(MODULES):
        directory = ex.generate(1 + m % 2, seed=m, directory=tmp_path / f"m{m}")
        values = example_values(directory)
        other = json.loads(json.dumps(values))
        for component in other["components"].values():
            component["replicas"] = component.get("replicas", 1) + 1
        spec["modules"].append({"directory": str(directory), "values": [values, other]})
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    cache_dir = tmp_path / "cache"
    # The workers import the same cuepy as this process (the installed one in CI), not the checkout's.
    env = {**os.environ, "PYTHONPATH": str(Path(cuepy.__file__).resolve().parent.parent)}
    worker = [sys.executable, str(ROOT / "tests" / "cache_worker.py"), str(spec_path), str(cache_dir)]
    procs = [subprocess.Popen([*worker, str(seed), str(OPS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True) for seed in range(PROCESSES)]  # fmt: skip
    # Meanwhile, the expected results, serially and without the cache.
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from cache_worker import load_digest
    finally:
        sys.path.pop(0)
    expected: dict[tuple[int, str, int, str], str] = {}
    for m, module in enumerate(spec["modules"]):
        expected[(m, "load", 0, "")] = load_digest(module["directory"], False)
        for v, values in enumerate(module["values"]):
            for ns in spec["namespaces"]:
                expected[(m, "render", v, ns)] = hashlib.sha256(
                    canonical_json(uncached_release(Path(module["directory"]), values, ns)).encode()
                ).hexdigest()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        results.extend(json.loads(out))
    assert len(results) == PROCESSES * OPS
    for m, op, v, ns, digest in results:
        assert digest == expected[(m, op, v, ns)], (m, op, v, ns)
    assert not Cache(cache_dir).verify().removed
    assert not list((cache_dir / "v1").rglob(".tmp-*")), "a temporary file was left behind"


# Repeated loads ------------------------------------------------------------------


def test_repeated_loads_do_not_share_syntax(make_module: Any) -> None:
    # Tag injection and the flattener rewrite syntax trees: a load must never see another's.
    directory = make_module({
        "a.cue": """
            package app
            env: string @tag(env)
            x: {name: env, n: len(env)}
            y: b
        """,
        "b.cue": 'package app\nb: x.name\nx: name: string | *"default"\n',
    })  # fmt: skip
    first = cuepy.load(directory, tags={"env": "prod"}).to_python()
    second = cuepy.load(directory, tags={"env": "staging"}).to_python()
    assert first == {"env": "prod", "x": {"name": "prod", "n": 4}, "y": "prod", "b": "prod"}
    assert second == {"env": "staging", "x": {"name": "staging", "n": 7}, "y": "staging", "b": "staging"}
    # A file loaded alone after its package (whose fields its identifiers were bound to).
    assert cuepy.load(directory, files=["b.cue"]).to_python() == {"b": "default", "x": {"name": "default"}}


# Command line ------------------------------------------------------------------


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from cuepy.cache.cli import register_cli

    parser = argparse.ArgumentParser(prog="cuepy")
    register_cli(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> str:
        args = parser.parse_args(["cache", "--dir", str(tmp_path / "c"), *argv])
        assert args.run(args) == 0
        return capsys.readouterr().out

    cache = Cache(tmp_path / "c")
    cache.put("render", _key(1), "{}")
    assert run("path").strip() == str(tmp_path / "c")
    assert json.loads(run("stats", "--json"))["entries"] == 1
    assert "render:" in run("stats")
    cache.path("render", _key(1)).write_text("junk")
    assert "removed 1" in run("verify")
    cache.put("render", _key(2), "{}")
    assert "removed 1 entries" in run("clear")
    (tmp_path / "file").write_text("")  # a --dir that is a file: said, not reported as an empty cache
    args = parser.parse_args(["cache", "--dir", str(tmp_path / "file"), "stats"])
    with pytest.raises(SystemExit, match="file is not a directory"):
        args.run(args)


# Single-flight -----------------------------------------------------------------


def _flattens(events: list[Any]) -> int:
    return sum(1 for e in events if e.stage == "flatten")


def test_single_flight_threads(tmp_path: Path) -> None:
    """16 threads miss one cold key at once: the module is flattened once, the release computed once."""
    directory = copy_example("moderate", tmp_path / "m")
    values = example_values(directory)
    cache = Cache(tmp_path / "cache")
    with cuepy.trace(threads=True) as t, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: cuepy.opm.render_release(directory, values, namespace=NS, file=DEF,
                                                                   cache=cache), range(16)))  # fmt: skip
    assert _flattens(t.events) == 1, t.totals()
    assert sum(1 for e in t.events if e.stage == "release") == 1
    assert all(r == results[0] for r in results)
    assert results[0] == uncached_release(directory, values)
    assert cache.stats().waits >= 1


_FLIGHT_WORKER = """
import hashlib, json, sys, time
import cuepy, cuepy.opm
from cuepy.cache import Cache
from cuepy.cache.keys import canonical_json
from cuepy.errors import CueLimitError
directory, cache_dir, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
values = json.loads(sys.argv[4])
cache = Cache(cache_dir)
time.sleep(max(0.0, start - time.time()))
with cuepy.trace() as t:
    release = cuepy.opm.render_release(directory, values, namespace="production", file="module_definition.cue",
                                       cache=cache)
print(json.dumps({"digest": hashlib.sha256(canonical_json(release).encode()).hexdigest(),
                  "flattens": sum(1 for e in t.events if e.stage == "flatten"),
                  "releases": sum(1 for e in t.events if e.stage == "release")}))
"""


def _python_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(cuepy.__file__).resolve().parent.parent)}


def test_single_flight_processes(tmp_path: Path) -> None:
    """4 processes miss one cold key of a shared cache directory at once: computed once."""
    directory = copy_example("moderate", tmp_path / "m")
    values = example_values(directory)
    start = time.time() + 4  # past every process's start-up: they miss together
    procs = [subprocess.Popen([sys.executable, "-c", _FLIGHT_WORKER, str(directory), str(tmp_path / "cache"),
                               str(start), json.dumps(values)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_python_env()) for _ in range(4)]  # fmt: skip
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    assert sum(o["flattens"] for o in outs) == 1, outs
    assert sum(o["releases"] for o in outs) == 1, outs
    expected = hashlib.sha256(canonical_json(uncached_release(directory, values)).encode()).hexdigest()
    assert {o["digest"] for o in outs} == {expected}


_HOLDER = """
import sys, time
from cuepy.cache import Cache
cache = Cache(sys.argv[1])
with cache.flight("render", sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("holder", ["dies", "hangs"])
def test_single_flight_wait_is_bounded(holder: str, tmp_path: Path) -> None:
    """A process holding a key's lock that dies releases it at once (the OS drops its lock);
    one that hangs is waited for ``wait`` seconds, then the waiter computes itself."""
    key = _key(7)
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path / "cache"), key], stdout=subprocess.PIPE,
                            text=True, env=_python_env())  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        cache = Cache(tmp_path / "cache", wait=2.0 if holder == "hangs" else 60.0)
        if holder == "dies":
            proc.kill()
            proc.wait()
        start = time.monotonic()
        with cache.flight("render", key) as waited:
            took = time.monotonic() - start
        if holder == "dies":
            assert took < 1.0 and not waited
        else:
            assert waited and 1.9 < took < 10
    finally:
        proc.kill()
        proc.wait()
