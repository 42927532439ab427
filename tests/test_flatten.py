"""The blueprint flattener: a module in, the same module with its blueprints written out.

Equivalence is checked the way it matters: releasing (docs/catalog.md,
section 3) the module as written and as flattened with the same values gives
the same concrete components. The flattener itself (go/internal/flatten)
knows no catalog; tests/test_catalogs.py runs it on catalogs in other styles.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import blueprint_shapes
import pytest
from conftest import MakeModule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cuepy
import cuepy.examples as ex
import cuepy.flatten
from cuepy._embedded import CATALOG_DIR
from cuepy.cli import main
from cuepy.flatten import CompiledModule, flatten

DEF = "module_definition.cue"
CORE = "cuepy.dev/opm/core@v0"
CATALOG_DEP = {"cuepy.dev/opm@v0": "v0.1.0"}


# Releasing a module -------------------------------------------------------------


def _split(text: str) -> tuple[list[str], str]:
    """(import specs, declarations) of a module file."""
    m = re.search(r"^package \S+\n", text, re.M)
    assert m, "no package clause"
    rest = text[m.end() :]
    block = re.match(r"\s*import \((.*?)\n\)\n", rest, re.S)
    if not block:
        return [], rest
    return [line.strip() for line in block.group(1).splitlines() if line.strip()], rest[block.end() :]


def release(directory: Path, module: str, values: Any, *, core: str = CORE, at: str = "", **options: Any) -> Any:
    """``core.#ModuleRelease & {#module: <module>, values, metadata: namespace}``: its components.

    ``at``: the field of the file that holds the module ("": the file's top level).
    """
    imports, body = _split(module)
    experiments = re.findall(r"^@experiment\(.*\)$", module, re.M)
    text = "\n".join([
        *experiments, "package release", "import (", *imports, f'relcore "{core}"', ")",
        "_F: {", body, "}", "_M: _F" + (f".{at}" if at else ""), f"_V: {json.dumps(values)}",
        'release: relcore.#ModuleRelease & {#module: _M, values: _V, metadata: namespace: "production"}',
    ])  # fmt: skip
    name = "zz_release_check.cue"
    value = cuepy.load(directory, files=[name], overlay={name: text}, **options)
    return json.loads(value.lookup("release.components").export("json"))


def outcome(directory: Path, module: str, values: Any, **options: Any) -> Any:
    """The released components, or "error" when the release fails."""
    try:
        return release(directory, module, values, **options)
    except cuepy.CueError:
        return "error"


def example_values(directory: Path) -> Any:
    return cuepy.load(directory, files=["values.cue"]).lookup("values").to_python()


@functools.cache
def flattened_example(name: str) -> CompiledModule:
    return flatten(ex.path(name), file=DEF)


@functools.cache
def generated(n: int) -> tuple[Path, CompiledModule]:
    directory = ex.generate(n, seed=n)
    return directory, flatten(directory, file=DEF)


# Equivalence ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ex.EXAMPLES)
def test_example_releases_equal_definition_and_hand_compiled(name: str) -> None:
    directory = ex.path(name)
    result = flattened_example(name)
    values = example_values(directory)
    flat = release(directory, result.source, values)
    assert flat == release(directory, (directory / DEF).read_text(), values)
    assert flat == release(directory, (directory / "module_compiled.cue").read_text(), values)
    assert all(s.flattened for s in result.structs) and result.structs
    assert set(flat) == {k for k, _ in cuepy.load(directory, files=[DEF]).lookup("#components").fields()}


@pytest.mark.parametrize("n", [1, 7, 64, pytest.param(256, marks=pytest.mark.slow)])
def test_generated_releases_equal(n: int) -> None:
    directory, result = generated(n)
    values = example_values(directory)
    flat = release(directory, result.source, values)
    assert len(flat) == n
    assert flat == release(directory, (directory / DEF).read_text(), values)


def _digits(draw: st.DrawFn, text: str) -> str:
    # Same shape, other digits: images, quantities and sizes stay valid.
    return re.sub(r"[1-9]", lambda _: str(draw(st.integers(1, 9))), text)


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mutate(draw, v) for k, v in value.items() if draw(st.integers(0, 15)) != 0}
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, int):
        return draw(st.integers(1, 9))
    if isinstance(value, str):
        return _digits(draw, value)
    return value


@st.composite
def drawn_values(draw: st.DrawFn, template: Any) -> Any:
    return _mutate(draw, template)


@pytest.mark.parametrize("name", ["simple", "moderate", "nested", "generated-7"])
def test_drawn_values_release_equal(name: str) -> None:
    if name.startswith("generated"):
        directory, result = generated(7)
    else:
        directory, result = ex.path(name), flattened_example(name)
    definition = (directory / DEF).read_text()

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(drawn_values(example_values(directory)))
    def check(values: Any) -> None:
        assert outcome(directory, result.source, values) == outcome(directory, definition, values)

    check()


# Not only the embedded catalog -------------------------------------------------------


def _renamed_catalog(root: Path, old: str, new: str) -> Path:
    target = root / "othercat"
    shutil.copytree(CATALOG_DIR, target)
    for path in target.rglob("*.cue"):
        path.write_text(path.read_text().replace(old, new))
    return target


def test_catalog_from_registry(tmp_path: Path, registry: cuepy.Registry, make_module: MakeModule) -> None:
    old, new = "cuepy.dev/opm", "example.com/othercat"
    registry.publish(_renamed_catalog(tmp_path, old, new), "v0.1.0")
    source = ex.path("moderate")
    files = {name: (source / name).read_text().replace(old, new) for name in (DEF, "module_compiled.cue")}
    directory = make_module(files, module="example.com/app@v0", deps={f"{new}@v0": "v0.1.0"})
    options: dict[str, Any] = {"registry": registry, "cache_dir": tmp_path / "cache"}

    result = flatten(directory, file=DEF, **options)
    assert f'"{new}/resources@v0"' in result.source and f'"{new}/traits@v0"' in result.source
    assert all(s.flattened for s in result.structs) and len(result.structs) == 4
    values = example_values(source)
    flat = release(directory, result.source, values, core=f"{new}/core@v0", **options)
    assert flat == release(directory, files[DEF], values, core=f"{new}/core@v0", **options)
    assert flat == release(directory, files["module_compiled.cue"], values, core=f"{new}/core@v0", **options)


def test_blueprint_defined_in_the_users_module(make_module: MakeModule) -> None:
    # A catalog of one's own: a blueprint in a package of the module itself.
    directory = make_module({"bp/bp.cue": LOCAL_BLUEPRINT, DEF: LOCAL_MODULE}, deps=CATALOG_DEP)
    result = flatten(directory, file=DEF)
    assert [s.inlined for s in result.structs] == [("example.com/app/bp@v0.#Tiny",)]
    assert "bp.#Tiny\n" not in result.source and "traits.#Replicas" in result.source
    values = {"replicas": 3}
    assert release(directory, result.source, values) == release(directory, LOCAL_MODULE, values)


def test_blueprint_outside_any_convention(make_module: MakeModule) -> None:
    # Extra spec keys, a wrapper definition adding labels, a spec fed by a comprehension: all
    # written out, the release unchanged.
    field = "\t\treplicas:  traits.#ReplicasTrait.#spec.replicas\n"
    odd = LOCAL_BLUEPRINT.replace(field, field + "\t\textra?: int\n") + (
        '\n#Wrapped: #Tiny & {metadata: labels: "example.com/extra": "yes"}\n'
        "\n#Guarded: #Tiny & {spec: _, if spec.tiny.extra != _|_ "
        '{metadata: labels: "example.com/extra": "\\(spec.tiny.extra)"}}\n'
    )
    module = LOCAL_MODULE.replace("bp.#Tiny", "bp.#Wrapped") + (
        '#components: two: {\n\tbp.#Guarded\n\tspec: tiny: {container: {name: "two", image: "x:1"}, extra: 3}\n}\n'
    )
    directory = make_module({"bp/bp.cue": odd, DEF: module}, deps=CATALOG_DEP)
    result = flatten(directory, file=DEF)
    assert [s.flattened for s in result.structs] == [True, True]
    for values in ({"replicas": 2}, {}):
        assert release(directory, result.source, values) == release(directory, module, values)


@pytest.mark.parametrize("batch", range(4))
def test_randomly_composed_blueprints_release_the_same(batch: int, tmp_path: Path) -> None:
    # Blueprints drawn from the ways catalogs map a spec onto what they compose
    # (tests/blueprint_shapes.py). Flattened with and without verification, each module releases
    # what it releases as written, with the values' defaults and with values given.
    released = structs = kept = 0
    for seed in range(batch, 48, 4):
        drawn = blueprint_shapes.draw(seed)
        directory = blueprint_shapes.write(drawn, tmp_path / f"seed{seed}")
        verified = flatten(directory, file=DEF)
        unverified = flatten(directory, file=DEF, verify=False)
        for values in ({}, {"image": "x:2", "replicas": 7}):
            want = outcome(directory, drawn.module, values, at=drawn.at)
            assert outcome(directory, verified.source, values, at=drawn.at) == want, seed
            assert outcome(directory, unverified.source, values, at=drawn.at) == want, seed
            released += want != "error"
        # A struct is kept as written only where CUE gives the value written out another meaning
        # (an optional field of a guarded copy: docs/flatten.md, "What stays as written").
        reasons = {s.reason for s in verified.structs if not s.flattened}
        assert reasons <= {"its value differs once written out"}, (seed, reasons)
        structs += len(verified.structs)
        kept += len(verified.provenance.not_flattened)
        assert all(s.flattened for s in unverified.structs), seed
    assert released >= 12 and kept <= structs / 10, (released, structs, kept)


def test_what_cannot_be_written_out_stays_as_written(make_module: MakeModule) -> None:
    # A blueprint that refers to a hidden name of its package cannot be written elsewhere; a
    # blueprint declaring a name the component looks up outside itself would capture it.
    hidden = LOCAL_BLUEPRINT + '\n_label: "hidden"\n#Hidden: #Tiny & {metadata: labels: "example.com/h": _label}\n'
    capture = hidden + "\n#Capture: #Tiny & {#values: _}\n"
    module = LOCAL_MODULE.replace("bp.#Tiny", "bp.#Hidden") + (
        '#components: two: {\n\tbp.#Capture\n\tspec: tiny: {container: {name: "two", image: "x:1"}, '
        "replicas: #values.replicas}\n}\n"
    )
    directory = make_module({"bp/bp.cue": capture, DEF: module}, deps=CATALOG_DEP)
    result = flatten(directory, file=DEF)
    by_path = {s.path: s for s in result.structs}
    assert not by_path["#components.one"].flattened
    assert "_label is hidden" in by_path["#components.one"].reason
    assert not by_path["#components.two"].flattened
    assert "#values" in by_path["#components.two"].reason
    assert len(result.provenance.not_flattened) == 2
    assert result.source == module.lstrip("\n") or result.files == {}
    values = {"replicas": 2}
    assert release(directory, result.source, values) == release(directory, module, values)


LOCAL_BLUEPRINT = """
package bp

import (
	core "cuepy.dev/opm/core@v0"
	resources "cuepy.dev/opm/resources@v0"
	traits "cuepy.dev/opm/traits@v0"
)

#TinyBlueprint: core.#Blueprint & {
	metadata: {apiVersion: "example.com/app/bp@v0", name: "Tiny", labels: "example.com/kind": "tiny"}
	composedResources: [resources.#ContainerResource]
	composedTraits: [traits.#ReplicasTrait]
	#spec: tiny: {
		container: resources.#ContainerResource.#spec.container
		replicas:  traits.#ReplicasTrait.#spec.replicas
	}
}

#Tiny: core.#Component & {
	resources.#Container
	traits.#Replicas
	#blueprints: (#TinyBlueprint.metadata.fqn): #TinyBlueprint
	spec: {
		tiny:      _
		container: tiny.container
		replicas:  tiny.replicas
	}
}
"""

LOCAL_MODULE = """
package app

import (
	core "cuepy.dev/opm/core@v0"
	bp "example.com/app/bp@v0"
)

core.#ModuleDefinition
metadata: {name: "tiny", version: "0.1.0"}
#components: one: {
	bp.#Tiny
	spec: tiny: {
		container: {name: "one", image: "nginx:1.27"}
		replicas: #values.replicas
	}
}
#values: replicas: int | *1
"""


# Where the module sits, spellings, several files ------------------------------------------

MODULE_HEAD = """
package app

import (
	core "cuepy.dev/opm/core@v0"
	blueprints "cuepy.dev/opm/blueprints@v0"
	resources "cuepy.dev/opm/resources@v0"
	traits "cuepy.dev/opm/traits@v0"
)

core.#ModuleDefinition
metadata: {name: "app", version: "0.1.0"}
#values: {image: string | *"nginx:1.27", replicas: int | *2}
"""

SPELLINGS = (
    MODULE_HEAD
    + """
#components: {
	conj: blueprints.#StatelessWorkload & {
		spec: statelessWorkload: container: {name: "conj", image: #values.image}
	}
	inner: {
		blueprints.#StatefulWorkload
		spec: {
			statefulWorkload: {
				container: {name: "inner", image: #values.image}
				volumes: data: {mountPath: "/data", size: "1Gi"}
			}
		}
	}
	oneline: {blueprints.#StatelessWorkload, spec: statelessWorkload: {container: {name: "one", image: "x:1"}}}
	plain: {
		resources.#Container
		traits.#Replicas
		spec: {container: {name: "plain", image: #values.image}, replicas: #values.replicas}
	}
}
#components: inner: spec: statefulWorkload: replicas: #values.replicas
#components: nested: {
	blueprints.#WebApplication
	spec: webApplication: statelessWorkload: container: {name: "nested", image: #values.image}
	spec: webApplication: configFiles: c: {mountPath: "/etc/c", data: "a.conf": "a"}
}
"""
)


def test_spellings_and_pass_through(make_module: MakeModule) -> None:
    directory = make_module({DEF: SPELLINGS}, deps=CATALOG_DEP)
    result = flatten(directory, file=DEF)
    assert {s.path for s in result.structs if s.flattened} == {
        "#components.inner", "#components.oneline", "#components.nested"}  # fmt: skip
    plain = re.search(r"\tplain: \{.*?\n\t\}", SPELLINGS, re.S)
    assert plain and plain.group() in result.source  # untouched
    for values in ({}, {"image": "ghcr.io/a/b:2", "replicas": 5}):
        assert release(directory, result.source, values) == release(directory, SPELLINGS, values)


def test_module_inside_a_field(make_module: MakeModule) -> None:
    # As the seed benchmark writes modules: `app: {...}` rather than the file's top level.
    imports, body = _split(SPELLINGS)
    wrapped = "package app\n\nimport (\n" + "\n".join(imports) + "\n)\n\napp: {\n" + body + "\n}\n"
    directory = make_module({DEF: wrapped}, deps=CATALOG_DEP)
    result = flatten(directory, file=DEF)
    assert {s.path for s in result.structs if s.flattened} == {
        "app.#components.inner", "app.#components.oneline", "app.#components.nested"}  # fmt: skip
    for values in ({}, {"image": "ghcr.io/a/b:2", "replicas": 5}):
        assert release(directory, result.source, values, at="app") == release(directory, wrapped, values, at="app")


def test_flattening_a_compiled_module_changes_nothing() -> None:
    directory = ex.path("simple")
    result = flatten(directory, file="module_compiled.cue")
    assert result.files == {} and result.structs == ()
    assert result.source == (directory / "module_compiled.cue").read_text()


def test_package_of_several_files(make_module: MakeModule) -> None:
    imports, body = _split(SPELLINGS)
    head, components = body.split("#components: {", 1)
    files = {
        "a_module.cue": 'package app\n\nimport core "cuepy.dev/opm/core@v0"\n' + head,
        "b_components.cue": "package app\n\nimport (\n" + "\n".join(imports[1:]) + "\n)\n#components: {" + components,
    }
    directory = make_module(files, deps=CATALOG_DEP)
    result = flatten(directory)
    assert list(result.files) == [str(directory / "b_components.cue")]
    assert result.filename == "a_module_flattened.cue" or result.filename == "app_flattened.cue"
    path = "#components.nested.spec.container"
    flat = result.load().fill("#values", {"image": "x:2"}).lookup(path).to_python()
    assert flat == cuepy.load(directory).fill("#values", {"image": "x:2"}).lookup(path).to_python()


def test_experiment_aliasv2(make_module: MakeModule) -> None:
    # Syntax CUE v0.17 accepts behind an experiment is CUE's parser's business, not ours.
    module = "@experiment(aliasv2)\n" + LOCAL_MODULE.replace(
        "#values: replicas: int | *1", "#values: {\n\treplicas~R: int | *1\n\ttwice: R * 2\n}"
    )
    directory = make_module({"bp/bp.cue": LOCAL_BLUEPRINT, DEF: module}, deps=CATALOG_DEP)
    mod = directory / "cue.mod" / "module.cue"
    mod.write_text(mod.read_text().replace('version: "v0.9.0"', 'version: "v0.17.0"'))
    assert cuepy.load(directory, files=[DEF]).lookup("#values.twice").export("json") == "2"
    result = flatten(directory, file=DEF)
    assert [s.flattened for s in result.structs] == [True]
    assert "replicas~" in result.source
    assert result.load().lookup("#values.twice").export("json") == "2"
    assert release(directory, result.source, {}) == release(directory, module, {})


# Errors ----------------------------------------------------------------------------------


def _broken_simple(tmp_path: Path, old: str, new: str) -> Path:
    directory = tmp_path / "simple"
    shutil.copytree(ex.path("simple"), directory)
    text = (directory / DEF).read_text()
    assert old in text
    (directory / DEF).write_text(text.replace(old, new, 1))
    return directory


def _line_of(path: Path, text: str) -> int:
    return 1 + path.read_text().split(text)[0].count("\n")


def test_spec_breaking_the_blueprint_schema(tmp_path: Path) -> None:
    directory = _broken_simple(tmp_path, "replicas: #values.frontend.replicas", 'replicas: "three"')
    with pytest.raises(cuepy.CueEvalError) as info:
        flatten(directory, file=DEF)
    line = _line_of(directory / DEF, 'replicas: "three"')
    assert any(p.file == str(directory / DEF) and p.line == line for p in info.value.positions)


def test_errors_of_the_flattened_module_name_the_users_lines(tmp_path: Path) -> None:
    # Unchecked (verify=False), the error surfaces when the flattened module loads; the rewrite
    # moved every line, the error still points at the line the user wrote.
    directory = _broken_simple(tmp_path, "initialDelaySeconds: 10", 'initialDelaySeconds: "ten"')
    result = flatten(directory, file=DEF, verify=False)
    with pytest.raises(cuepy.CueError) as info:
        result.load().validate()
    line = _line_of(directory / DEF, '"ten"')
    mine = {p for p in info.value.positions if p.file == str(directory / DEF)}
    with pytest.raises(cuepy.CueError) as written:
        cuepy.load(directory, files=[DEF]).validate()
    expected = {p for p in written.value.positions if p.file == str(directory / DEF)}
    # The value's own line is the same; where the component's conjuncts come from may differ
    # (the blueprint's embedding rather than the module's #ModuleDefinition).
    assert line in {p.line for p in mine} and line in {p.line for p in expected}
    lines = (directory / DEF).read_text().splitlines()
    assert all(lines[p.line - 1][p.column - 1 :].strip() for p in mine)
    assert f"{DEF}:{line}:" in str(info.value)


def test_errors_name_the_users_column_where_the_printer_aligns_otherwise(tmp_path: Path) -> None:
    # The user did not align this value as cue fmt does: printed, it moves along its line; the
    # error still names the column the user wrote it at, for the value read after the load too.
    directory = _broken_simple(tmp_path, "runAsNonRoot:             true", 'runAsNonRoot: "no"')
    line = _line_of(directory / DEF, '"no"')
    column = (directory / DEF).read_text().splitlines()[line - 1].index('"no"') + 1
    flat = flatten(directory, file=DEF, verify=False)
    printed = next(i for i, text in enumerate(flat.source.splitlines(), 1) if '"no"' in text)
    at = cuepy.Position(str(directory / DEF), printed, flat.source.splitlines()[printed - 1].index('"no"') + 1)
    assert at.column != column and flat.original(at) == cuepy.Position(str(directory / DEF), line, column)
    for load in (lambda: cuepy.load(directory, files=[DEF]), flat.load):
        with pytest.raises(cuepy.CueError) as info:
            load().validate()
        mine = {(p.line, p.column) for p in info.value.positions if p.file == str(directory / DEF)}
        assert {p for p in mine if p[0] == line} == {(line, column)}
        assert f"{DEF}:{line}:{column}" in str(info.value)


def test_a_flattened_values_source_slices_the_users_file_where_they_wrote_it(tmp_path: Path) -> None:
    # Value.source() serves tools that rewrite the user's file. A flattened module loads other
    # text (every line moved): its offsets are still those of the user's file, where its line
    # and column are.
    directory = _broken_simple(tmp_path, "runAsNonRoot:             true", "runAsNonRoot:             true")
    path = "#components.frontend.spec.statelessWorkload.container.securityContext.runAsNonRoot"
    flat = flatten(directory, file=DEF)
    assert flat.source.index("runAsNonRoot:") != (directory / DEF).read_text().index("runAsNonRoot:")
    placed = flat.load().lookup(path).source()
    assert placed == cuepy.load(directory, files=[DEF]).lookup(path).source()
    text = (directory / DEF).read_text()
    assert text[placed["offset"]:placed["end"]] == "true" == placed["text"]
    line_start = len("".join(text.splitlines(keepends=True)[: placed["line"] - 1]))
    assert placed["offset"] == line_start + placed["column"] - 1


def test_syntax_errors_are_the_loaders(tmp_path: Path) -> None:
    directory = _broken_simple(tmp_path, "#values: {", "#values: {{")
    with pytest.raises(cuepy.CueSyntaxError):
        flatten(directory, file=DEF)


# The result ----------------------------------------------------------------------------


def test_result_provenance_write_and_load(tmp_path: Path) -> None:
    result = flattened_example("moderate")
    provenance = result.provenance
    assert len(provenance.sha256) == 64 and provenance.not_flattened == ()
    assert provenance.cuepy_version == cuepy.__version__
    assert provenance.cue_version == cuepy.__cue_version__
    assert provenance.sources == ("cue.mod/module.cue", DEF)
    assert result.load().lookup("kind").to_python() == "ModuleDefinition"
    target = result.write(tmp_path / "out.cue")
    assert target.read_text() == result.source
    assert CompiledModule.from_json(json.loads(json.dumps(result.to_json()))) == result
    # An entry stored before line maps were packed (rows as lists) places positions the same.
    doc = result.to_json()
    lines = {name: {**m, "rows": [list(r) for r in result.lines[name].rows]} for name, m in doc["lines"].items()}
    older = CompiledModule.from_json({**doc, "lines": lines})
    (name, line_map), = result.lines.items()
    assert older.lines[name].rows == line_map.rows and len(line_map.rows) > 10
    for line in (1, 20, len(result.source.splitlines())):
        at = cuepy.Position(name, line, 3)
        assert older.original(at) == result.original(at)
    # The source is one of the rewritten files: stored once. An entry holding it twice reads back the same.
    first_line = json.dumps(result.source.splitlines()[0])[1:-1]
    assert doc["source"] == {"file_index": 0} and json.dumps(doc).count(first_line) == 1
    assert CompiledModule.from_json({**doc, "source": result.source}) == result

    # Relative to the module's directory (as caches store it), the document serves a copy of the
    # module: read back against the copy, it loads there and places positions in the copy's files.
    original = shutil.copytree(ex.path("moderate"), tmp_path / "a" / "moderate")
    doc = json.loads(json.dumps(flatten(original, file=DEF).to_json(relative_to=original)))
    assert doc["directory"] == "." and list(doc["files"]) == [DEF]
    copy = shutil.copytree(original, tmp_path / "b" / "c" / "moderate")
    moved = CompiledModule.from_json(doc, relative_to=copy)
    assert moved.directory == copy and list(moved.files) == [str(copy / DEF)]
    assert moved.load().export("json") == result.load().export("json")
    (name, line_map), = moved.lines.items()
    assert name == str(copy / DEF) and str(copy / DEF) in line_map.sources
    # (a written-out declaration's lines come from the catalog's file, outside the module: named as it is)
    assert all(Path(source).exists() for source in line_map.sources), line_map.sources
    assert any(Path(source).is_relative_to(CATALOG_DIR) for source in line_map.sources), line_map.sources

    changed = _broken_simple(tmp_path, "NODE_ENV", "NODE_ENVIRONMENT")
    assert flatten(changed, file=DEF).provenance.sha256 != flattened_example("simple").provenance.sha256


def test_value_input_and_callable_module() -> None:
    directory = ex.path("large")
    value = cuepy.load(directory, files=[DEF])
    from_value = flatten(value)
    assert from_value.source == flattened_example("large").source
    assert cuepy.flatten(directory, file=DEF).source == from_value.source  # type: ignore[operator]


def test_without_verification_same_source() -> None:
    assert flatten(ex.path("large"), file=DEF, verify=False).source == flattened_example("large").source


@pytest.mark.parametrize("name", ex.EXAMPLES)
def test_output_is_formatted_and_loads(name: str) -> None:
    result = flattened_example(name)
    assert not re.search(r"^ +\S", result.source, re.M)  # tabs, as cue fmt writes
    assert result.load().lookup("#components") is not None


# Command line ---------------------------------------------------------------------------


def test_cli_flatten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flat.cue"
    assert main(["flatten", str(ex.path("nested")), "--file", DEF, "-o", str(out)]) == 0
    assert out.read_text() == flattened_example("nested").source
    assert main(["flatten", str(ex.path("nested")), "--file", DEF]) == 0
    assert capsys.readouterr().out == flattened_example("nested").source


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _broken_simple(tmp_path, "replicas: #values.frontend.replicas", 'replicas: "three"')
    assert main(["flatten", str(directory), "--file", DEF]) == 1
    assert f"{DEF}:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["nope"])


def test_flatten_obeys_the_loaders_confinement(tmp_path: Path, make_module: MakeModule) -> None:
    # A symlinked .cue file from outside the module root is refused, as cuepy.load refuses it;
    # its text never reaches the result.
    outside = tmp_path / "outside.cue"
    outside.write_text('package app\nsecret: "outside text"\n')
    directory = make_module({"a.cue": "package app\na: 1\n"})
    (directory / "s.cue").symlink_to(outside)
    for verify in (True, False):
        with pytest.raises(cuepy.CueLoadError, match="outside the module root"):
            flatten(directory, verify=verify)
