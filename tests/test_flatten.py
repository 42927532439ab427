"""The blueprint flattener: ModuleDefinition in, equivalent compiled Module out.

Equivalence is checked the way it matters: releasing (docs/catalog.md,
section 3) the ModuleDefinition and the flattened Module with the same
values gives the same concrete components.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeModule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cuepy
import cuepy.examples as ex
import cuepy.flatten
from cuepy._embedded import CATALOG_DIR
from cuepy.cli import main
from cuepy.flatten import CompiledModule, FlattenError, Provenance, flatten
from cuepy.flatten._lexer import Kind, Source

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


def release(directory: Path, module: str, values: Any, *, core: str = CORE, **options: Any) -> Any:
    """``core.#ModuleRelease & {#module: <module>, values, metadata: namespace}``: its components."""
    imports, body = _split(module)
    text = "\n".join([
        "package release", "import (", *imports, f'relcore "{core}"', ")",
        "_M: {", body, "}", f"_V: {json.dumps(values)}",
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
    assert set(flat) == {k for k, _ in cuepy.load(directory, files=[DEF]).lookup("#components").fields()}


@pytest.mark.parametrize("n", [1, 7, 64, 256])
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
    assert "blueprints" not in _split(result.source)[0].__str__()
    values = example_values(source)
    flat = release(directory, result.source, values, core=f"{new}/core@v0", **options)
    assert flat == release(directory, files[DEF], values, core=f"{new}/core@v0", **options)
    assert flat == release(directory, files["module_compiled.cue"], values, core=f"{new}/core@v0", **options)
    assert result.load().lookup("kind").to_python() == "Module"


def test_blueprint_defined_in_the_users_module(make_module: MakeModule) -> None:
    # A catalog of one's own: a blueprint in a package of the module itself, following the conventions.
    directory = make_module({"bp/bp.cue": LOCAL_BLUEPRINT, DEF: LOCAL_MODULE}, deps=CATALOG_DEP)
    result = flatten(directory, file=DEF)
    assert "example.com/app/bp@v0" not in result.source
    assert 'metadata: labels: "example.com/kind": "tiny"' in result.source
    values = {"replicas": 3}
    assert release(directory, result.source, values) == release(directory, LOCAL_MODULE, values)


def test_blueprint_breaking_the_convention(make_module: MakeModule) -> None:
    field = "\t\treplicas:  traits.#ReplicasTrait.#spec.replicas\n"
    broken = LOCAL_BLUEPRINT.replace(field, field + "\t\textra?: int\n")
    directory = make_module({"bp/bp.cue": broken, DEF: LOCAL_MODULE}, deps=CATALOG_DEP)
    with pytest.raises(FlattenError, match=r"Tiny does not follow the catalog convention"):
        flatten(directory, file=DEF)


def test_wrapped_blueprint_mixin(make_module: MakeModule) -> None:
    # A definition that embeds a blueprint mixin and adds to it is not that mixin: no silent expansion.
    wrapper = LOCAL_BLUEPRINT + '\n#Wrapped: #Tiny & {metadata: labels: "example.com/extra": "yes"}\n'
    directory = make_module(
        {"bp/bp.cue": wrapper, DEF: LOCAL_MODULE.replace("bp.#Tiny", "bp.#Wrapped")}, deps=CATALOG_DEP
    )
    with pytest.raises(FlattenError, match=r"#Wrapped attaches blueprint .*#Tiny but is not its mixin"):
        flatten(directory, file=DEF)


def test_without_verification_same_source() -> None:
    assert flatten(ex.path("large"), file=DEF, verify=False).source == flattened_example("large").source


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


# Spellings, pass-through, several files ------------------------------------------------

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
    assert "blueprints" not in result.source
    assert "statelessWorkload" not in result.source and "statefulWorkload" not in result.source
    plain = re.search(r"\tplain: \{.*?\n\t\}", SPELLINGS, re.S)
    assert plain and plain.group() in result.source  # untouched
    for values in ({}, {"image": "ghcr.io/a/b:2", "replicas": 5}):
        assert release(directory, result.source, values) == release(directory, SPELLINGS, values)


def test_flattening_a_module_changes_nothing_that_matters() -> None:
    directory = ex.path("simple")
    result = flatten(directory, file="module_compiled.cue")
    values = example_values(directory)
    assert release(directory, result.source, values) == release(directory, flattened_example("simple").source, values)


def test_package_of_several_files(make_module: MakeModule) -> None:
    imports, body = _split(SPELLINGS)
    head, components = body.split("#components: {", 1)
    files = {
        "a_module.cue": 'package app\n\nimport core "cuepy.dev/opm/core@v0"\n' + head,
        "b_components.cue": "package app\n\nimport (\n" + "\n".join(imports[1:]) + "\n)\n#components: {" + components,
    }
    directory = make_module(files, deps=CATALOG_DEP)
    result = flatten(directory)
    assert "// From b_components.cue." in result.source
    assert release(directory, result.source, {}) == release(directory, SPELLINGS, {})
    assert result.filename == "app_flattened.cue"


# Errors ----------------------------------------------------------------------------------


def _broken_simple(tmp_path: Path, old: str, new: str) -> Path:
    directory = tmp_path / "simple"
    shutil.copytree(ex.path("simple"), directory)
    text = (directory / DEF).read_text()
    assert old in text
    (directory / DEF).write_text(text.replace(old, new, 1))
    return directory


def test_spec_breaking_the_blueprint_schema(tmp_path: Path) -> None:
    directory = _broken_simple(tmp_path, "replicas: #values.frontend.replicas", 'replicas: "three"')
    with pytest.raises(cuepy.CueEvalError) as info:
        flatten(directory, file=DEF)
    line = 1 + (directory / DEF).read_text().split('replicas: "three"')[0].count("\n")
    assert str(info.value).startswith(f"component 'frontend' ({directory / DEF}:{line}:")
    assert any(p.file == str(directory / DEF) and p.line == line for p in info.value.positions)


def test_unknown_blueprint_field(tmp_path: Path) -> None:
    directory = _broken_simple(
        tmp_path, "replicas: #values.api.replicas", "replicas: #values.api.replicas\n\t\t\tbogus: 1"
    )
    with pytest.raises(cuepy.CueEvalError, match=r"^component 'api' \(.*module_definition.cue:\d+:\d+\)"):
        flatten(directory, file=DEF)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # Attached through a helper: no embedding in the component to rewrite.
        ("frontend: {\n\t\tblueprints.#StatelessWorkload", "frontend: _sw & {\n", "is still referred to"),
        # A blueprint referenced outside any component would keep the blueprint import.
        ("#values: {", "_spare: blueprints.#StatefulWorkload\n#values: {", "is still referred to"),
        # A reference to the blueprint-level spec would dangle.
        ('NODE_ENV: value:     "production"', "NODE_ENV: value: spec.statelessWorkload.container.name", "refers to"),
    ],
)
def test_blueprints_the_flattener_cannot_expand(tmp_path: Path, old: str, new: str, message: str) -> None:
    directory = _broken_simple(tmp_path, old, new)
    if "_sw" in new:
        text = (directory / DEF).read_text() + "\n_sw: blueprints.#StatelessWorkload\n"
        (directory / DEF).write_text(text)
    with pytest.raises(FlattenError, match=message) as info:
        flatten(directory, file=DEF)
    assert isinstance(info.value, cuepy.CueError)


def test_not_a_module_definition(make_module: MakeModule) -> None:
    directory = make_module({"x.cue": 'package x\nkind: "Component"\n'})
    with pytest.raises(FlattenError, match="not a ModuleDefinition"):
        flatten(directory, file="x.cue")


# The result ----------------------------------------------------------------------------


def test_result_provenance_write_and_load(tmp_path: Path) -> None:
    result = flattened_example("moderate")
    provenance = Provenance.parse(result.source)
    assert provenance is not None
    assert provenance.sha256 == result.provenance.sha256 and len(provenance.sha256) == 64
    assert provenance.cuepy_version == cuepy.__version__
    assert provenance.cue_version == cuepy.__cue_version__
    assert result.provenance.sources == ("cue.mod/module.cue", DEF)
    assert result.load().lookup("kind").to_python() == "Module"
    target = result.write(tmp_path / "out.cue")
    assert target.read_text() == result.source

    changed = _broken_simple(tmp_path, "NODE_ENV", "NODE_ENVIRONMENT")
    assert flatten(changed, file=DEF).provenance.sha256 != flattened_example("simple").provenance.sha256


def test_value_input_and_callable_module() -> None:
    directory = ex.path("large")
    value = cuepy.load(directory, files=[DEF])
    from_value = flatten(value)
    assert from_value.source == flattened_example("large").source
    assert cuepy.flatten(directory, file=DEF).source == from_value.source  # type: ignore[operator]


def _depths(text: str) -> list[tuple[int, int, str]]:
    """(expected indentation, leading tabs, line) of each line that starts with a token.

    As `cue fmt` indents: one level per enclosing line that opens brackets (``[{`` is one level).
    """
    src = Source(text, "out.cue")
    by_line: dict[int, list[str]] = {}
    for tok in src.tokens:
        by_line.setdefault(src.position(tok.start).line, []).append(tok.text if tok.kind is Kind.PUNCT else "")
    lines, stack, out = text.split("\n"), list[int](), []
    for number, toks in by_line.items():
        lead = 0
        while lead < len(toks) and toks[lead] in (")", "]", "}"):
            stack.pop()
            lead += 1
        line = lines[number - 1]
        out.append((len(set(stack)), len(line) - len(line.lstrip("\t")), line))
        for t in toks[lead:]:
            if t in ("(", "[", "{"):
                stack.append(number)
            elif t in (")", "]", "}"):
                stack.pop()
    return out


@pytest.mark.parametrize("name", ex.EXAMPLES)
def test_output_is_formatted(name: str) -> None:
    source = flattened_example(name).source
    assert not re.search(r"^ +\S", source, re.M)
    assert all(depth == tabs for depth, tabs, _ in _depths(source)), [x for x in _depths(source) if x[0] != x[1]]
    assert "blueprints" not in "".join(_split(source)[0])
    assert "\ncore.#Module\n" in source and "ModuleDefinition\n" not in source


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
    assert "component 'frontend'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["nope"])
