"""load: modules, packages, files, tags, overlays, data files and registries, from real directories."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeModule, write_module

import cuepy
import cuepy.opm


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


def test_overlay_origins_place_a_generated_file(make_module: MakeModule) -> None:
    # A file generated from the user's (its line 4 was written at line 9, column 3, of src.cue):
    # its errors, at load or later, name the user's file, line and column.
    root = make_module({"a.cue": "package p\na: 1"})
    generated = 'package p\n\na: {\n\tb: int & "x"\n}\n'
    origins = {"a.cue": {"sources": [str(root / "src.cue")], "rows": "1,1,0,1,1;4,2,0,9,3"}}
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.load(root, overlay={"a.cue": generated}, origins=origins)
    src = str(root / "src.cue")
    assert {(p.file, p.line, p.column) for p in info.value.positions} == {(src, 9, 6), (src, 9, 12)}
    assert "src.cue:9:12" in str(info.value)
    lazy = cuepy.load(root, overlay={"a.cue": generated.replace('int & "x"', "int")}, origins=origins)
    with pytest.raises(cuepy.CueIncompleteError, match=r"src\.cue:9:6"):
        lazy.lookup("a.b").to_python()
    with pytest.raises(cuepy.CueUsageError, match="no source 1"):
        cuepy.load(root, overlay={"a.cue": generated}, origins={"a.cue": {"sources": ["x.cue"], "rows": "1,1,1,1,1"}})
    with pytest.raises(TypeError, match="'sources'"):
        cuepy.load(root, overlay={"a.cue": generated}, origins={"a.cue": "1,1,0,1,1"})


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


@pytest.mark.parametrize(("module_file", "says", "line", "column"), [
    ('module: "example.com/app@v0"\nlanguage: version: "v99.0.0"\n', "is too new", 2, 20),
    ("", "no language version declared", 1, 1),
])  # fmt: skip
def test_a_module_file_cue_load_refuses_is_named_with_its_line(
    make_module: MakeModule, module_file: str, says: str, line: int, column: int
) -> None:
    # cue/load says "... in module.cue" with no position (nor does the cue command); which
    # module.cue, and the line of its language version, are what the user needs.
    directory = make_module({"a.cue": "package app\nx: 1\n"})
    (directory / "cue.mod" / "module.cue").write_text(module_file)
    with pytest.raises(cuepy.CueLoadError, match=says) as info:
        cuepy.load(directory)
    position = info.value.errors[0].positions[0]
    assert (position.file, position.line, position.column) == (str(directory / "cue.mod" / "module.cue"), line, column)


def test_a_missing_file_called_module_cue_is_not_placed_in_cue_mod(make_module: MakeModule) -> None:
    # OPM calls a module's own file module.cue: its absence is not cue.mod/module.cue's fault
    # (the error said "stat .../module.cue: no such file" at cue.mod/module.cue:2:20).
    directory = make_module({"a.cue": "package app\nx: 1\n"})
    with pytest.raises(cuepy.CueLoadError, match="no such file") as info:
        cuepy.load(directory, files=["module.cue"])
    assert all("cue.mod" not in p.file for e in info.value.errors for p in e.positions)


@pytest.mark.parametrize("call", [cuepy.load, cuepy.flatten, cuepy.opm.load, cuepy.opm.read])
def test_a_missing_directory_or_a_file_is_named_with_what_is_wrong(tmp_path: Path, call: Any) -> None:
    # Before: cue/load's ". is a file and not a package directory" for both, naming neither the
    # path nor the fault; cuepy.flatten and cuepy.opm.load raised FlattenError.
    with pytest.raises(cuepy.CueLoadError, match=re.escape(f"{tmp_path / 'absent'}: no such directory")):
        call(tmp_path / "absent")
    (tmp_path / "a.cue").write_text("a: 1\n")
    with pytest.raises(cuepy.CueLoadError, match=re.escape(f"{tmp_path / 'a.cue'}: not a directory (a file)")):
        call(tmp_path / "a.cue")


def test_a_directory_that_only_an_overlay_fills_loads(tmp_path: Path) -> None:
    (tmp_path / "cue.mod").mkdir()
    (tmp_path / "cue.mod" / "module.cue").write_text('module: "example.com/app@v0"\nlanguage: version: "v0.9.0"\n')
    virtual = tmp_path / "sub"
    value = cuepy.load(virtual, overlay={virtual / "a.cue": "package app\na: 1\n"})
    assert value.to_python() == {"a": 1}


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


# Issue 13: the environment a call sees, confinement, handles ------------------------------


def _app_using_dep(tmp_path: Path, registry: cuepy.Registry) -> Path:
    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {"d.cue": 'package dep\ngreeting: "from the registry"'})
    registry.publish(dep, "v0.1.0")
    return write_module(
        tmp_path / "app", "example.com/app@v0",
        {"a.cue": 'package app\nimport "example.com/dep"\nmsg: dep.greeting'},
        deps={"example.com/dep@v0": "v0.1.0"},
    )  # fmt: skip


def test_registry_and_cache_dir_set_in_os_environ_are_used(
    tmp_path: Path, registry: cuepy.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app_using_dep(tmp_path, registry)
    monkeypatch.setenv("CUE_REGISTRY", registry.registry)  # set after the Go runtime started
    monkeypatch.setenv("CUE_CACHE_DIR", str(tmp_path / "env-cache"))
    assert cuepy.load(app).to_python() == {"msg": "from the registry"}
    assert any((tmp_path / "env-cache").rglob("*.cue")), "the environment's CUE_CACHE_DIR was not used"
    # registry= for one call keeps the environment's CUE_CACHE_DIR
    monkeypatch.setenv("CUE_CACHE_DIR", str(tmp_path / "env-cache-2"))
    monkeypatch.delenv("CUE_REGISTRY")
    assert cuepy.load(app, registry=registry).to_python() == {"msg": "from the registry"}
    assert any((tmp_path / "env-cache-2").rglob("*.cue")), "registry= dropped the environment's CUE_CACHE_DIR"


class _Recorder:
    """A TCP server on loopback that records what it is sent and answers 502 (a proxy, or a registry)."""

    def __init__(self) -> None:
        import socket

        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    self.requests.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def test_proxy_variables_set_in_os_environ_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = write_module(
        tmp_path / "app", "example.com/app@v0",
        {"a.cue": 'package app\nimport "example.com/dep"\nmsg: dep.greeting'},
        deps={"example.com/dep@v0": "v0.1.0"},
    )  # fmt: skip
    proxy = _Recorder()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        with pytest.raises(cuepy.CueLoadError):
            cuepy.load(app, registry="registry.cuepy-test.invalid:5000+insecure", cache_dir=tmp_path / "c1")
        assert any(b"registry.cuepy-test.invalid" in r for r in proxy.requests), proxy.requests
        seen = len(proxy.requests)
        monkeypatch.setenv("NO_PROXY", "registry.cuepy-test.invalid")
        with pytest.raises(cuepy.CueLoadError):
            cuepy.load(app, registry="registry.cuepy-test.invalid:5000+insecure", cache_dir=tmp_path / "c2")
        assert len(proxy.requests) == seen, "NO_PROXY set in os.environ was ignored"
    finally:
        proxy.close()


def test_offline_contacts_no_registry(
    tmp_path: Path, registry: cuepy.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app_using_dep(tmp_path, registry)
    watcher = _Recorder()
    try:
        address = f"127.0.0.1:{watcher.port}+insecure"
        with pytest.raises(cuepy.CueLoadError, match=r"offline.*example\.com/dep") as info:
            cuepy.load(app, registry=address, cache_dir=tmp_path / "c1", offline=True)
        assert "v0.1.0" in str(info.value)
        monkeypatch.setenv("CUEPY_OFFLINE", "1")
        with pytest.raises(cuepy.CueLoadError, match=r"offline.*example\.com/dep"):
            cuepy.load(app, registry=address, cache_dir=tmp_path / "c2")
        assert watcher.connections == 0, "an offline load contacted the registry"
        # a module already in the cache loads offline
        monkeypatch.delenv("CUEPY_OFFLINE")
        cuepy.load(app, registry=registry, cache_dir=tmp_path / "c3").close()
        v = cuepy.load(app, registry=address, cache_dir=tmp_path / "c3", offline=True)
        assert v.to_python() == {"msg": "from the registry"}
        assert watcher.connections == 0
    finally:
        watcher.close()


def test_gogc_and_gomemlimit_set_in_os_environ_apply(make_module: MakeModule, monkeypatch: pytest.MonkeyPatch) -> None:
    from cuepy import limits

    root = make_module({"a.cue": "package p\na: 1"})
    before_limit = limits.go_memory_limit()
    monkeypatch.setenv("GOGC", "137")
    monkeypatch.setenv("GOMEMLIMIT", "3GiB")
    cuepy.load(root).close()
    assert cuepy.memstats().gc_percent == 137
    assert limits.go_memory_limit() == 3 << 30
    monkeypatch.delenv("GOGC")
    monkeypatch.delenv("GOMEMLIMIT")
    cuepy.load(root).close()
    assert cuepy.memstats().gc_percent == 400, "libcuepy's default when GOGC is unset"
    assert limits.go_memory_limit() == before_limit


def test_context_of_a_foreign_handle_is_refused() -> None:
    v = cuepy.compile("a: 1")
    shared = cuepy.api._shared.get().handle
    with pytest.raises(cuepy.CueUsageError, match="not context"):
        cuepy.Context(v.handle)
    with pytest.raises(cuepy.CueUsageError, match=r"belongs to another cuepy\.Context"):
        cuepy.Context(shared)
    import gc

    gc.collect()
    assert cuepy.compile("b: 2").to_python() == {"b": 2}, "compile() still works"


def test_non_utf8_directory_does_not_alias_a_sibling(tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    write_module(tmp_path, "example.com/app@v0", {})
    os.mkdir(base + b"/d\xff")
    os.mkdir(base + "/d\ufffd".encode())
    with open(base + b"/d\xff/a.cue", "w") as f:
        f.write("package p\nwho: \"the directory asked for\"\n")
    with open(base + "/d\ufffd/a.cue".encode(), "w") as f:
        f.write("package p\nwho: \"its U+FFFD sibling\"\n")
    with pytest.raises(cuepy.CueUsageError, match="not valid UTF-8"):
        cuepy.load(os.fsdecode(base + b"/d\xff"))


def test_registry_serves_loopback_only() -> None:
    for address in ("0.0.0.0:0", ":0", "[::]:0"):
        with pytest.raises(cuepy.CueUsageError, match="not a loopback address"):
            cuepy.Registry(address)
    with cuepy.Registry("localhost:0") as reg:
        assert reg.host.startswith("127.0.0.1:") or reg.host.startswith("[::1]:")


def test_registry_token_is_required_for_pushes(tmp_path: Path) -> None:
    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {"d.cue": "package dep\nx: 1"})
    with cuepy.Registry(token="s3cret") as reg:
        with pytest.raises(cuepy.CueLoadError, match=r"401|nauthorized|UNAUTHORIZED"):
            cuepy.registry.publish(reg.registry, dep, "v0.1.0")  # no token
        with pytest.raises(cuepy.CueLoadError, match=r"401|nauthorized|UNAUTHORIZED"):
            cuepy.registry.publish(reg.registry, dep, "v0.1.0", token="wrong")
        reg.publish(dep, "v0.1.0")  # the registry's own token
        app = write_module(tmp_path / "app", "example.com/app@v0",
                           {"a.cue": 'package app\nimport "example.com/dep"\ny: dep.x'},
                           deps={"example.com/dep@v0": "v0.1.0"})  # fmt: skip
        assert cuepy.load(app, registry=reg, cache_dir=tmp_path / "c").to_python() == {"y": 1}, "reads stay open"


def test_a_published_version_is_never_replaced(tmp_path: Path, registry: cuepy.Registry) -> None:
    dep = write_module(tmp_path / "dep", "example.com/dep@v0", {"d.cue": 'package dep\nimage: "1.0.0"'})
    registry.publish(dep, "v0.1.0")
    (dep / "d.cue").write_text('package dep\nimage: "6.6.6"')
    with pytest.raises(cuepy.CueLoadError, match="already published"):
        registry.publish(dep, "v0.1.0")
    app = write_module(tmp_path / "app", "example.com/app@v0",
                       {"a.cue": 'package app\nimport "example.com/dep"\nimage: dep.image'},
                       deps={"example.com/dep@v0": "v0.1.0"})  # fmt: skip
    assert cuepy.load(app, registry=registry, cache_dir=tmp_path / "c").to_python() == {"image": "1.0.0"}


def test_registry_bounds_what_pushes_store(tmp_path: Path) -> None:
    big = write_module(tmp_path / "big", "example.com/big@v0", {})
    (big / "data.json").write_bytes(os.urandom(3 << 20))  # incompressible, in the module zip
    with cuepy.Registry(max_bytes=4 << 20) as reg:
        reg.publish(big, "v0.1.0")
        with pytest.raises(cuepy.CueLoadError, match=r"at most 4194304 bytes|413|DENIED"):
            reg.publish(big, "v0.2.0")


@pytest.mark.parametrize("what", ["load", "flatten", "vet"])
def test_ctrl_c_interrupts_a_slow_call_at_once_without_leaking(what: str, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    chain = "".join(f"a{i}: a{i + 1}\n" for i in range(2000))  # 4 s and more of CUE evaluation
    root = write_module(tmp_path / "slow", "example.com/slow@v0", {"p.cue": f"package p\n{chain}a2000: 1\n"})
    script = Path(__file__).parent / "interrupt_load.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(script), str(root), what], stdout=subprocess.PIPE, text=True,
                             env=env)  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "loading"
        time.sleep(0.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        assert line[0] == "interrupted", f"the {what} was not interrupted: {line}"
        latency = float(line[1]) - sent
        assert latency < 0.5, f"KeyboardInterrupt took {latency:.2f} s"
        line = child.stdout.readline().split()
        stopped = float(line[1]) - sent
        assert stopped < 0.5, f"the {what}'s evaluation went on for {stopped:.2f} s after the interrupt"
        assert child.stdout.readline().strip() == "leaked 0"
    finally:
        child.kill()
        child.wait()


def test_load_reports_every_error_and_accepts_incomplete_values(make_module: MakeModule) -> None:
    # As `cue eval` does: each conflict is reported (not only the first), and a value that is only
    # incomplete (a schema) loads.
    directory = make_module({"a.cue": "package app\na: 1\na: 2\nb: {x: \"s\"}\nb: x: 3\nc: int\n"})
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.load(directory)
    assert {e.path for e in info.value.errors} >= {("a",), ("b", "x")}
    ok = make_module({"b.cue": "package app\nc: int\nd: {e: string}\n"})
    assert cuepy.load(ok).lookup("c").is_concrete() is False


def test_contexts_collected_while_a_context_is_made_do_not_deadlock() -> None:
    # A Context in a reference cycle is finalized by the garbage collector, which may run
    # inside any allocation: also one Context.__init__ makes while it holds the lock of its
    # owners' table. Its finalizer took that lock too, and the process hung for good.
    import subprocess
    import sys

    script = (
        "import gc, cuepy\n"
        "gc.set_threshold(1)  # collect at nearly every allocation\n"
        "for _ in range(300):\n"
        "    cycle = [cuepy.Context()]\n"
        "    cycle.append(cycle)\n"
        "print('done')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "done", out.stderr[-2000:]
