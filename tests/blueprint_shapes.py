"""Modules of randomly composed blueprints, for the flattener's tests.

Each blueprint is a component definition of a package of the module's own
(``bp``) over cuepy's shipped catalog: it attaches the Container resource
and some traits, declares a spec of its own (``spec: <key>: {...}``) and maps
it onto what it composes in one of the ways catalogs do: key copies,
renames, defaults, constants, arithmetic, guards inside and outside the
spec, conditions on a value, comprehensions copying keys, interpolation, a
``let``, ``close()``, and wrappers that refine another blueprint. Components
set some of the blueprint's fields, literally or from ``#values``, and may
add a trait of their own, a label under a condition on ``#values`` or one
taken from another component; the module sits at the file's top level or
in a field.

A draw is a pure function of its seed (``draw(seed)``), so a failing seed
can be written out and read (``write(draw(seed), directory)``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from conftest import write_module

DEF = "module_definition.cue"
CATALOG_DEP = {"cuepy.dev/opm@v0": "v0.1.0"}

# trait key -> (the catalog's definition name, its schema, two values: the catalog's default first)
TRAITS: dict[str, tuple[str, str, list[object]]] = {
    "replicas": ("Replicas", "int & >=1 & <=1000", [1, 5]),
    "restartPolicy": ("RestartPolicy", '"Always" | "OnFailure" | "Never"', ["Always", "Never"]),
    "updateStrategy": ("UpdateStrategy", "schemas.#UpdateStrategySchema",
                       [{"type": "RollingUpdate"}, {"type": "Recreate"}]),
    "expose": ("Expose", "schemas.#ExposeSchema", [{"type": "ClusterIP"}, {"type": "NodePort"}]),
}
SCALAR_TRAITS = ("replicas", "restartPolicy")
CONTAINER_MAPPINGS = ("copy", "parts", "embed", "close", "interpolation", "let")
TRAIT_MAPPINGS = ("copy", "guard in spec", "guard outside spec", "default", "rename", "constant", "arithmetic",
                  "condition", "guard with label", "key copy")  # fmt: skip

# What a component may set for a field of a blueprint's spec, by field name.
SETTINGS: dict[str, list[str]] = {
    "container": ['{name: "%(name)s", image: "nginx:1.27"}', '{name: "%(name)s", image: #values.image}'],
    "image": ['"redis:7"', "#values.image"],
    "tag": ['"7"', '"\\(#values.replicas)"'],
    "repo": ['"acme/x"'],
    "port": ["8080"],
    "big": ["true", "false"],
    "size": ["3", "#values.replicas"],
    "replicas": ["3", "#values.replicas"],
    "myReplicas": ["2", "#values.replicas"],
    "restartPolicy": ['"OnFailure"'],
    "myRestartPolicy": ['"Never"'],
    "updateStrategy": ['{type: "Recreate"}'],
    "myUpdateStrategy": ['{type: "Recreate"}'],
    "expose": ['{type: "NodePort", annotations: a: "b"}'],
    "myExpose": ['{type: "NodePort"}'],
}


@dataclass
class Blueprint:
    """A component definition of package ``bp`` and the fields of its spec (``spec: <key>: {...}``)."""

    name: str
    key: str
    fields: list[str]
    traits: list[str]
    source: str


@dataclass
class Draw:
    catalog: str
    """The ``bp`` package."""
    module: str
    """The module file."""
    at: str
    """The field of the file that holds the module ("": its top level)."""


def _blueprint(r: random.Random, index: int) -> Blueprint:
    key = f"b{index}"
    name = f"B{index}"
    traits = r.sample(list(TRAITS), r.randint(1, len(TRAITS)))
    fields: dict[str, str] = {}
    spec: list[str] = []
    outside: list[str] = []
    container = r.choice(CONTAINER_MAPPINGS)
    if container == "parts":
        fields |= {"image!": "string", "port?": "int"}
        spec.append(f"container: {{name: metadata.name, image: {key}.image}}")
        outside.append(f"if spec.{key}.port != _|_ {{spec: container: ports: main: containerPort: spec.{key}.port}}")
    elif container == "interpolation":
        fields |= {"repo": 'string | *"library/app"', "tag!": "string"}
        spec.append(f'container: {{name: metadata.name, image: "\\({key}.repo):\\({key}.tag)"}}')
    elif container == "let":
        fields["container"] = "schemas.#ContainerSchema"
        outside += [f"let C = spec.{key}.container", "spec: container: C"]
    else:
        fields["container"] = "schemas.#ContainerSchema"
        spec.append({
            "copy": f"container: {key}.container",
            "embed": f'container: {{{key}.container, imagePullPolicy: "Always"}}',
            "close": f"container: close({{{key}.container}})",
        }[container])  # fmt: skip
    for trait in traits:
        _map_trait(r, key, trait, r.choice(TRAIT_MAPPINGS), fields, spec, outside)
    lines = [
        f"#{name}Blueprint: core.#Blueprint & {{",
        f'\tmetadata: {{apiVersion: "example.com/app/bp@v0", name: "{name}", labels: "example.com/kind": "{key}"}}',
        "\tcomposedResources: [resources.#ContainerResource]",
        f"\tcomposedTraits: [{', '.join(f'traits.#{TRAITS[t][0]}Trait' for t in traits)}]",
        f"\t#spec: {key}: {{",
        *(f"\t\t{label}: {schema}" for label, schema in fields.items()),
        "\t}",
        "}",
        "",
        f"#{name}: core.#Component & {{",
        "\tresources.#Container",
        *(f"\ttraits.#{TRAITS[t][0]}" for t in traits),
        f"\t#blueprints: (#{name}Blueprint.metadata.fqn): #{name}Blueprint",
        f'\tmetadata: labels: "example.com/kind": "{key}"',
        "\tspec: {",
        f"\t\t{key}: #{name}Blueprint.#spec.{key}",
        *(f"\t\t{line}" for line in spec),
        "\t}",
        *(f"\t{line}" for line in outside),
        "}",
    ]
    return Blueprint(name, key, [label.rstrip("?!") for label in fields], traits, "\n".join(lines) + "\n")


def _map_trait(r: random.Random, key: str, trait: str, how: str, fields: dict[str, str], spec: list[str],
               outside: list[str]) -> None:  # fmt: skip
    """Map the blueprint's spec onto ``trait``'s key, the way ``how`` says."""
    definition, schema, (default, other) = TRAITS[trait]
    scalar = trait in SCALAR_TRAITS
    renamed = "my" + trait[0].upper() + trait[1:]
    # (a mapping the trait's schema cannot take falls back to one it can)
    if not scalar and how in ("arithmetic", "default"):
        how = "key copy"
    elif how == "arithmetic" and trait != "replicas":
        how = "copy"
    elif how == "key copy" and scalar:
        how = "guard outside spec"
    if how == "copy":
        fields[trait] = f"traits.#{definition}Trait.#spec.{trait}"
        spec.append(f"{trait}: {key}.{trait}")
    elif how == "guard in spec":
        fields[trait + "?"] = schema
        spec.append(f"if {key}.{trait} != _|_ {{{trait}: {key}.{trait}}}")
    elif how == "guard outside spec":
        fields[trait + "?"] = schema
        outside.append(f"if spec.{key}.{trait} != _|_ {{spec: {trait}: spec.{key}.{trait}}}")
    elif how == "default":
        fields[trait] = f"{schema} | *{json.dumps(default)}"
        spec.append(f"{trait}: {key}.{trait}")
    elif how == "rename":
        fields[renamed] = f"{schema} | *{json.dumps(default)}" if scalar else schema
        spec.append(f"{trait}: {key}.{renamed}")
    elif how == "constant":
        spec.append(f"{trait}: {json.dumps(r.choice([default, other]))}")
    elif how == "arithmetic":
        fields["size"] = "int & >=1 | *1"
        spec.append(f"{trait}: {key}.size * 2")
    elif how == "condition":
        fields["big"] = "bool | *false"
        outside.append(f"if spec.{key}.big {{spec: {trait}: {json.dumps(other)}}}")
        outside.append(f"if !spec.{key}.big {{spec: {trait}: {json.dumps(default)}}}")
    elif how == "guard with label":
        fields[trait + "?"] = schema
        label = f"example.com/{trait.lower()}"
        shown = f"spec.{key}.{trait}" if scalar else f"spec.{key}.{trait}.type"
        outside.append(f'if spec.{key}.{trait} != _|_ {{metadata: labels: "{label}": "\\({shown})"}}')
        outside.append(f"if spec.{key}.{trait} != _|_ {{spec: {trait}: spec.{key}.{trait}}}")
    else:  # key copy
        fields[trait + "?"] = schema
        outside.append(f"if spec.{key}.{trait} != _|_ {{spec: {trait}: {{for k, v in spec.{key}.{trait} {{(k): v}}}}}}")


def _wrapper(inner: Blueprint) -> Blueprint:
    """A blueprint refining another: a label more, and the container made optional to set."""
    name = f"W{inner.name}"
    source = (f"#{name}: #{inner.name} & {{\n"
              f'\tmetadata: labels: "example.com/wrapped": "yes"\n'
              f"\tspec: {inner.key}: container?: _\n}}\n")  # fmt: skip
    return Blueprint(name, inner.key, inner.fields, inner.traits, source)


def _component(r: random.Random, name: str, bp: Blueprint) -> str:
    settings = []
    for label in bp.fields:
        required = label in ("container", "image", "tag")
        if required or r.random() < 0.5:
            settings.append(f"{label}: {r.choice(SETTINGS[label]) % {'name': name}}")
    extra = f'\n\tmetadata: labels: "example.com/tier": "{name}"' if r.random() < 0.3 else ""
    roll = r.random()  # what the component adds: a trait of its own, a condition, a reference
    if roll < 0.15 and "replicas" not in bp.traits:
        extra += "\n\ttraits.#Replicas\n\tspec: replicas: 2"
    elif roll < 0.3:
        extra += '\n\tif #values.replicas > 3 {metadata: labels: "example.com/big": "yes"}'
    elif roll < 0.45 and name != "c0":
        extra += '\n\tmetadata: labels: "example.com/peer": #components.c0.metadata.name'
    elif roll < 0.55:
        extra += '\n\tmetadata: annotations: "example.com/image": "\\(#values.image)"'

    body = "\n".join(f"\t\t{s}" for s in settings)
    return f"#components: {name}: {{\n\tbp.#{bp.name}{extra}\n\tspec: {bp.key}: {{\n{body}\n\t}}\n}}\n"


def draw(seed: int) -> Draw:
    r = random.Random(seed)
    blueprints = [_blueprint(r, i) for i in range(r.randint(1, 3))]
    if r.random() < 0.5:
        blueprints.append(_wrapper(r.choice(blueprints)))
    body = "".join(bp.source + "\n" for bp in blueprints)
    imports = ["core", "resources", "traits"] + (["schemas"] if "schemas." in body else [])
    catalog = ("package bp\n\nimport (\n" + "".join(f'\t{p} "cuepy.dev/opm/{p}@v0"\n' for p in imports)
               + ")\n\n" + body)  # fmt: skip
    components = "".join(_component(r, f"c{j}", r.choice(blueprints)) for j in range(r.randint(1, 4)))
    module = ('core.#ModuleDefinition\nmetadata: {name: "drawn", version: "0.1.0"}\n'
              '#values: {image: string | *"busybox:1", replicas: int | *4}\n' + components)  # fmt: skip
    at = "appDefinition" if r.random() < 0.4 else ""
    if at:
        module = f"{at}: {{\n{module}}}\n"
    imports = '\tcore "cuepy.dev/opm/core@v0"\n\tbp "example.com/app/bp@v0"\n'
    if "traits.#" in module:
        imports += '\ttraits "cuepy.dev/opm/traits@v0"\n'
    head = f"package app\n\nimport (\n{imports})\n\n"
    return Draw(catalog, head + module, at)


def write(drawn: Draw, directory: Path) -> Path:
    return write_module(directory, "example.com/app@v0", {"bp/bp.cue": drawn.catalog, DEF: drawn.module},
                        CATALOG_DEP)  # fmt: skip
