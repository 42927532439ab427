"""cuepy.opm.render: modules through their catalog's transformers into Kubernetes objects (docs/render.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from catalogs_helpers import STYLES

import cuepy
import cuepy.opm
from cuepy.cache import Cache
from cuepy.examples import path
from cuepy.opm import OPMConflictError, OPMRenderError, OPMUnmatchedError, _render
from cuepy.stop import cores as usable_cores

EXAMPLES = ("simple", "moderate", "large", "nested")
DEF = "module_definition.cue"
NS = "prod"
K8S_VERSION = "1.31.0"


def _values(example: str) -> dict[str, Any]:
    data = cuepy.load(path(example), files=["values.cue"]).lookup("values").to_python()
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def renders() -> dict[str, cuepy.opm.Render]:
    return {ex: cuepy.opm.render(path(ex), _values(ex), namespace=NS, file=DEF, cache=False) for ex in EXAMPLES}


@pytest.fixture(scope="module")
def releases() -> dict[str, dict[str, Any]]:
    return {ex: cuepy.opm.release(path(ex), _values(ex), namespace=NS, file=DEF).model_dump(mode="json")
            for ex in EXAMPLES}  # fmt: skip


def _by(render: cuepy.opm.Render, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in render.objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [(o["kind"], o["metadata"]["name"]) for o in render.objects])
    return found[0]


# Every example renders, validates, and matches its release -------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_objects_validate_against_kubernetes_schemas(renders: dict[str, cuepy.opm.Render], example: str) -> None:
    render = renders[example]
    assert render.objects
    for obj in render.objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == NS


@pytest.mark.parametrize("example", EXAMPLES)
def test_fields_match_the_release(
    renders: dict[str, cuepy.opm.Render], releases: dict[str, dict[str, Any]], example: str
) -> None:
    render, release = renders[example], releases[example]
    for cid, component in release["components"].items():
        spec = component["spec"]
        stateful = component["metadata"]["labels"].get("core.cuepy.dev/workload-type") == "stateful"
        workload = _by(render, "StatefulSet" if stateful else "Deployment", cid)
        pod = workload["spec"]["template"]["spec"]
        main = pod["containers"][0]
        assert main["image"] == spec["container"]["image"]
        assert main["name"] == spec["container"]["name"]
        autoscaling = spec.get("autoscaling")
        hpas = [o for o in render.objects if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == cid]
        if autoscaling is None:
            assert workload["spec"]["replicas"] == spec["replicas"] and hpas == []
        else:  # the HorizontalPodAutoscaler owns the replica count
            assert "replicas" not in workload["spec"]
            _check_hpa(hpas[0], autoscaling, workload)
        ports = spec["container"].get("ports", {})
        assert [p["containerPort"] for p in main.get("ports", [])] == [p["containerPort"] for p in ports.values()]
        for probe in ("liveness", "readiness", "startup"):
            assert main.get(f"{probe}Probe") == spec.get("healthCheck", {}).get(probe)
        assert [c["image"] for c in pod.get("initContainers", [])] == [c["image"] for c in spec["initContainers"]]
        assert [c["image"] for c in pod["containers"][1:]] == [c["image"] for c in spec["sidecarContainers"]]
        volumes = spec.get("volumes", {})
        claims = {v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
                  if "persistentVolumeClaim" in v}  # fmt: skip
        assert claims == {f"{cid}-{v}" for v in volumes}
        for vname, v in volumes.items():
            pvc = _by(render, "PersistentVolumeClaim", f"{cid}-{vname}")
            assert pvc["spec"]["resources"]["requests"]["storage"] == v["size"]
            assert pvc["spec"]["accessModes"] == [v["accessMode"]]
            assert any(m["name"] == vname for m in main["volumeMounts"])
        for fname, files in spec.get("configFiles", {}).items():
            assert _by(render, "ConfigMap", f"{cid}-{fname}")["data"] == files["data"]
        for sname, secret in spec.get("secrets", {}).items():
            written = _by(render, "Secret", f"{cid}-{sname}")
            assert written["type"] == secret["type"] and written["stringData"] == secret["stringData"]
        strategy = spec.get("updateStrategy", {}).get("type")
        if strategy:
            assert workload["spec"]["updateStrategy" if stateful else "strategy"]["type"] == strategy
        expose = spec.get("expose")
        exposed = (expose or {}).get("ports") or [
            {"port": p["exposedPort"]} for p in spec["container"].get("ports", {}).values()
        ]
        services = [o for o in render.objects if o["kind"] == "Service" and o["metadata"]["name"] == cid]
        if expose is None or not exposed:
            assert services == []  # no port, no Service
        else:
            assert [p["port"] for p in services[0]["spec"]["ports"]] == [p["port"] for p in exposed]
            if expose["type"] == "Headless":
                assert services[0]["spec"]["clusterIP"] == "None"


def _check_hpa(hpa: dict[str, Any], autoscaling: dict[str, Any], workload: dict[str, Any]) -> None:
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": workload["apiVersion"], "kind": workload["kind"],
                                             "name": workload["metadata"]["name"]}  # fmt: skip
    assert hpa["spec"]["minReplicas"] == autoscaling["minReplicas"]
    assert hpa["spec"]["maxReplicas"] == autoscaling["maxReplicas"]
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    expected = {"cpu": autoscaling["targetCPUUtilization"]}
    if "targetMemoryUtilization" in autoscaling:
        expected["memory"] = autoscaling["targetMemoryUtilization"]
    assert targets == {k: {"type": "Utilization", "averageUtilization": v} for k, v in expected.items()}


def test_large_example_has_a_secret_and_an_autoscaler(renders: dict[str, cuepy.opm.Render]) -> None:
    render = renders["large"]
    matches = {(m.component, m.transformer.rsplit("#", 1)[1]) for m in render.matches}
    assert {("auth-service", "Secret"), ("product-service", "HorizontalPodAutoscaler")} <= matches
    assert _by(render, "Secret", "auth-service-jwt")["stringData"] == {"signing-key": "prod-signing-key-from-the-vault"}
    env = _by(render, "Deployment", "auth-service")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "JWT_SIGNING_KEY", "valueFrom": {"secretKeyRef": {"name": "auth-service-jwt",
            "key": "signing-key", "optional": False}}} in env  # fmt: skip
    hpa = _by(render, "HorizontalPodAutoscaler", "product-service")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (6, 24)  # values.cue
    assert [o["metadata"]["name"] for o in render.objects if o["kind"] == "HorizontalPodAutoscaler"] == [
        "product-service"]  # fmt: skip


def test_matches_name_component_and_transformer(renders: dict[str, cuepy.opm.Render]) -> None:
    matches = {(m.component, m.transformer.rsplit("#", 1)[1]) for m in renders["moderate"].matches}
    assert ("database", "StatefulSet") in matches
    assert ("database", "PersistentVolumeClaim") in matches
    assert ("frontend", "Deployment") in matches
    assert ("frontend", "StatefulSet") not in matches


def test_stable_file_names_and_order(renders: dict[str, cuepy.opm.Render], tmp_path: Path) -> None:
    from cuepy.opm._render_cli import write_files

    render = renders["large"]
    names = render.file_names()
    assert len(set(names)) == len(names)
    assert "deployment-frontend.yaml" in names and "statefulset-postgresql.yaml" in names
    again = cuepy.opm.render(path("large"), _values("large"), namespace=NS, file=DEF, cache=False)
    assert again.to_yaml() == render.to_yaml()
    written = write_files(render, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names) and len(written) == len(names)


def test_render_into_a_directory_removes_only_its_own_stale_files(tmp_path: Path) -> None:
    # Before: every *.yaml that the render did not write was deleted, the user's values file too
    # (cuepy render DIR -f values.yaml -o . lost values.yaml).
    from cuepy.cli import main

    values = tmp_path / "values.yaml"
    values.write_text("frontend:\n  replicas: 3\n")
    (tmp_path / "notes.yaml").write_text("precious: true\n")
    assert main(["render", str(path("large")), "-f", str(values), "-n", NS, "-o", str(tmp_path)]) == 0
    large = {p.name for p in tmp_path.glob("*.yaml")} - {"values.yaml", "notes.yaml"}
    assert main(["render", str(path("simple")), "-f", str(values), "-n", NS, "-o", str(tmp_path)]) == 0
    simple = {"deployment-api.yaml", "deployment-frontend.yaml", "service-api.yaml", "service-frontend.yaml"}
    assert large - simple  # files of the first render that the second does not write
    assert {p.name for p in tmp_path.glob("*.yaml")} == simple | {"values.yaml", "notes.yaml"}
    assert values.read_text() == "frontend:\n  replicas: 3\n"
    assert (tmp_path / "notes.yaml").read_text() == "precious: true\n"
    assert "replicas: 3" in (tmp_path / "deployment-frontend.yaml").read_text()


def test_yaml_reads_back_as_the_objects_whatever_the_strings(tmp_path: Path) -> None:
    # PyYAML wrote U+0085 raw in a single-quoted scalar, which reads back as a space.
    from cuepy.opm._render_cli import write_files

    odd = "a\x85b\u2028c\u2029d yes: #x ü"
    render = cuepy.opm.render(path("simple"), {"frontend": {"apiBaseURL": odd}}, namespace=NS, file=DEF, cache=False)
    assert odd in json.dumps(render.objects, ensure_ascii=False)
    assert list(yaml.safe_load_all(render.to_yaml())) == render.objects
    written = write_files(render, tmp_path)
    assert [yaml.safe_load(p.read_text(encoding="utf-8")) for p in written] == render.objects


# Definition and flattened forms ------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_definition_and_flattened_render_identically(renders: dict[str, cuepy.opm.Render], example: str) -> None:
    flat = cuepy.flatten(path(example), file=DEF)
    value = flat.load()
    from_flat = cuepy.opm.render(value, _values(example), namespace=NS, directory=path(example))
    assert from_flat.to_yaml() == renders[example].to_yaml()
    assert cuepy.opm.render(flat, _values(example), namespace=NS).to_yaml() == renders[example].to_yaml()


def test_python_matching_gives_the_same_render(renders: dict[str, cuepy.opm.Render]) -> None:
    other = cuepy.opm.render(path("large"), _values("large"), namespace=NS, file=DEF, cache=False, match="python")
    assert other.to_yaml() == renders["large"].to_yaml()
    assert other.matches == renders["large"].matches


# Matching rules ------------------------------------------------------------------------


def _module(tmp_path: Path, components: str, extra_transformers: str = "") -> Path:
    """A module of cuepy's catalog in tmp_path, and a transformers package of its own next to the catalog's."""
    (tmp_path / "cue.mod").mkdir()
    (tmp_path / "cue.mod" / "module.cue").write_text(
        'module: "test.example/m@v0"\nlanguage: version: "v0.17.0"\ndeps: "cuepy.dev/opm@v0": v: "v0.1.0"\n'
    )
    imports = "".join(f'\t{p} "cuepy.dev/opm/{p}@v0"\n' for p in ("blueprints", "resources", "traits")
                      if f"{p}.#" in components)  # fmt: skip
    (tmp_path / "module.cue").write_text(f"""package m

import (
	core "cuepy.dev/opm/core@v0"
{imports})

core.#ModuleDefinition
metadata: {{name: "m", version: "1.0.0", labels: {{}}}}
#values: {{}}
#components: {{
{components}
}}
""")
    if extra_transformers:
        (tmp_path / "extra").mkdir()
        (tmp_path / "extra" / "extra.cue").write_text(extra_transformers)
    return tmp_path


_WEB = """	web: {
		blueprints.#StatelessWorkload
		spec: statelessWorkload: container: {name: "web", image: "nginx:1.27", ports: http: containerPort: 80}
	}
"""


def test_component_with_no_transformer_is_an_error(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        _WEB
        + """	lonely: {
		resources.#Container
		spec: container: {name: "lonely", image: "busybox:1.36"}
	}
""",
    )
    with pytest.raises(OPMUnmatchedError) as info:
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)
    assert info.value.components == ("lonely",)
    assert 'component "lonely"' in str(info.value)
    assert isinstance(info.value, cuepy.CueError)


_DUPLICATE = """package extra

import (
	core "cuepy.dev/opm/core@v0"
	resources "cuepy.dev/opm/resources@v0"
)

// #AnotherDeployment writes a Deployment named after the component, as the catalog's does.
#AnotherDeployment: core.#Transformer & {
	metadata: {apiVersion: "test.example/m/extra@v0", name: "AnotherDeployment", labels: {}}
	requiredResources: (resources.#ContainerResource.metadata.fqn): _
	requiredTraits: {}
	requiredLabels: {}
	optionalResources: {}
	optionalTraits: {}
	optionalLabels: {}
	#transform: {
		#context:   _
		#component: _
		output: {
			apiVersion: "apps/v1"
			kind:       "Deployment"
			metadata: {name: #component.metadata.name, namespace: #context.namespace}
		}
	}
}
"""


def test_two_transformers_writing_one_object_is_an_error(tmp_path: Path) -> None:
    module = _module(tmp_path, _WEB, _DUPLICATE)
    with pytest.raises(OPMConflictError) as info:
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False,
                         transformers=["cuepy.dev/opm/transformers@v0", "test.example/m/extra@v0"])  # fmt: skip
    assert info.value.components == ("web",)
    assert "Deployment prod/web" in str(info.value) and "AnotherDeployment" in str(info.value)


_SHARED = _DUPLICATE.replace("AnotherDeployment", "SharedConfig").replace(
    """			apiVersion: "apps/v1"
			kind:       "Deployment"
			metadata: {name: #component.metadata.name, namespace: #context.namespace}""",
    """			apiVersion: "v1"
			kind:       "ConfigMap"
			metadata: {name: "shared", namespace: #context.namespace}""",
)


@pytest.mark.parametrize("cores", [1, 2])
def test_two_components_writing_one_object_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    # With 2 cores the two components are evaluated in different parts: the conflict is still seen.
    monkeypatch.setattr(_render, "_CORES", cores)
    module = _module(tmp_path, _WEB + _WEB.replace("web", "api"), _SHARED)
    with pytest.raises(OPMConflictError) as info:
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False,
                         transformers=["cuepy.dev/opm/transformers@v0", "test.example/m/extra@v0"])  # fmt: skip
    assert info.value.components == ("api", "web")
    assert "ConfigMap prod/shared" in str(info.value) and 'component "api"' in str(info.value)


_PICKY = _DUPLICATE.replace("AnotherDeployment", "Picky").replace(
    "metadata: {name: #component.metadata.name, namespace: #context.namespace}",
    'metadata: {name: #component.metadata.name & =~"^api", namespace: #context.namespace}',
)


@pytest.mark.parametrize("match", ["cue", "python"])
@pytest.mark.parametrize("cores", [1, 2])
def test_a_transformer_error_names_its_component_transformer_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, match: str, cores: int
) -> None:
    # Before: the template's list index (matched.1.output...) and <python>:1:N, the release data's
    # pseudo file, where the user looks for a component and a line.
    monkeypatch.setattr(_render, "_CORES", cores)
    module = _module(tmp_path, _WEB.replace("web", "api") + _WEB, _PICKY)
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False, match=match,  # type: ignore[arg-type]
                         transformers=["cuepy.dev/opm/transformers@v0", "test.example/m/extra@v0"])  # fmt: skip
    message = str(info.value)
    line = _PICKY.splitlines().index(next(t for t in _PICKY.splitlines() if '=~"^api"' in t)) + 1
    assert message.startswith(f"cannot render release 'm' in namespace '{NS}':")
    assert ('component "web", transformer test.example/m/extra@v0#Picky: output.metadata.name: '
            'invalid value "web" (out of bound =~"^api")') in message  # fmt: skip
    assert f"{tmp_path / 'extra' / 'extra.cue'}:{line}:" in message
    assert "<python>" not in message and "matched" not in message and "paired" not in message
    assert 'component "api"' not in message


def test_a_transformer_package_in_error_is_named_with_its_line_not_the_template(tmp_path: Path) -> None:
    # Before: "#pkg1.#Broken.#transform...", at cuepy_render.gen.cue:10:8 (the generated template).
    broken = _DUPLICATE.replace("AnotherDeployment", "Broken").replace(
        "namespace: #context.namespace}", "namespace: #context.namespace, replicas: 5 & string}")
    module = _module(tmp_path, _WEB, broken)
    with pytest.raises(cuepy.CueEvalError) as info:
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False,
                         transformers=["cuepy.dev/opm/transformers@v0", "test.example/m/extra@v0"])  # fmt: skip
    message = str(info.value)
    line = broken.splitlines().index(next(t for t in broken.splitlines() if "5 & string" in t)) + 1
    assert message.startswith("cannot load the transformers of cuepy.dev/opm/transformers@v0, test.example/m/extra@v0:")
    assert "test.example/m/extra@v0: #Broken.#transform.output.metadata.replicas: conflicting values" in message
    assert f"{tmp_path / 'extra' / 'extra.cue'}:{line}:" in message
    assert "cuepy_render.gen.cue" not in message and "#pkg" not in message


@pytest.mark.parametrize("cores", [1, 3, 64])
def test_a_render_split_across_cores_is_the_same_render(
    renders: dict[str, cuepy.opm.Render], monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    monkeypatch.setattr(_render, "_CORES", cores)
    for match in ("cue", "python"):
        again = cuepy.opm.render(path("large"), _values("large"), namespace=NS, file=DEF, cache=False, match=match)
        assert again.to_yaml() == renders["large"].to_yaml()
        assert again.matches == renders["large"].matches


def test_renders_fill_the_template_or_a_copy_of_it_lent_to_them_alone(
    renders: dict[str, cuepy.opm.Render],
) -> None:
    # libcuepy evaluates one context at a time: each part of a render, and each render of several
    # threads, fills a value of its own, the kept template's or a copy in a context of its own,
    # kept for the next render (one per core). A stopped evaluation refuses only the value it hit,
    # which is dropped; the template is not made again.
    shared = _render.template(str(path("large")), None, cuepy.LoadOptions())
    with _render.spare(shared) as one, _render.spare(shared) as other:
        assert one.context is not other.context
    assert sum(v is one or v is other for v in shared.spares) == 2 and len(shared.spares) <= 2 * usable_cores()
    with _render.spare(shared) as hit, pytest.raises(cuepy.CueLimitError), cuepy.time_limit(1e-6):
        hit.lookup("requirements").to_python()
    assert not hit.usable() and all(v is not hit and v.usable() for v in shared.spares)
    assert _render.template(str(path("large")), None, cuepy.LoadOptions()) is shared
    with cuepy.time_limit(60):
        bounded = cuepy.opm.render(path("large"), _values("large"), namespace=NS, file=DEF, cache=False)
    assert bounded.to_yaml() == renders["large"].to_yaml()


@pytest.mark.parametrize("output", ['"a string"', '[{kind: "ConfigMap"}, 3]'])
def test_an_output_that_is_not_objects_is_an_error(tmp_path: Path, output: str) -> None:
    """A transformer's output must be an object or a list of objects: anything else is a typed error
    naming the component and the transformer."""
    extra = _DUPLICATE.replace("AnotherDeployment", "Scalar").replace(
        """output: {
			apiVersion: "apps/v1"
			kind:       "Deployment"
			metadata: {name: #component.metadata.name, namespace: #context.namespace}
		}""",
        f"output: {output}",
    )
    assert extra != _DUPLICATE.replace("AnotherDeployment", "Scalar")
    module = _module(tmp_path, _WEB, extra)
    with pytest.raises(OPMRenderError, match=r'component "web": transformer .*#Scalar gives an output that is not'):
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False,
                         transformers=["cuepy.dev/opm/transformers@v0", "test.example/m/extra@v0"])  # fmt: skip


def test_optional_traits_present_and_absent(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """	bare: {
		resources.#Container
		traits.#Replicas
		metadata: labels: "core.cuepy.dev/workload-type": "stateless"
		spec: {container: {name: "bare", image: "busybox:1.36"}, replicas: 2}
	}
	probed: {
		resources.#Container
		traits.#Replicas
		traits.#HealthCheck
		traits.#Expose
		metadata: labels: "core.cuepy.dev/workload-type": "stateless"
		spec: {
			container: {name: "probed", image: "busybox:1.36", ports: http: containerPort: 8080}
			replicas: 1
			healthCheck: readiness: httpGet: {path: "/ready", port: 8080}
		}
	}
""",
    )
    render = cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)
    bare = _by(render, "Deployment", "bare")
    assert "readinessProbe" not in bare["spec"]["template"]["spec"]["containers"][0]
    assert "strategy" not in bare["spec"] and bare["spec"]["replicas"] == 2
    assert [m.transformer.rsplit("#", 1)[1] for m in render.matches if m.component == "bare"] == ["Deployment"]
    probed = _by(render, "Deployment", "probed")["spec"]["template"]["spec"]["containers"][0]
    assert probed["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080, "scheme": "HTTP"}
    assert _by(render, "Service", "probed")["spec"]["ports"][0]["port"] == 8080


# Secrets and Autoscaling -----------------------------------------------------------------

_SCALED = """	web: {
		blueprints.#StatelessWorkload
		traits.#Autoscaling
		resources.#Secrets
		spec: {
			statelessWorkload: {
				container: {
					name: "web", image: "nginx:1.27", ports: http: containerPort: 80
					resources: requests: {cpu: "100m", memory: "64Mi"}
					env: TOKEN: valueFrom: secretKeyRef: {name: "web-api", key: "token"}
				}
				replicas: 9
			}
			autoscaling: {minReplicas: 2, maxReplicas: 7, targetCPUUtilization: 65, targetMemoryUtilization: 90}
			secrets: {
				api: stringData: token: "s3cr3t"
				tls: {type: "kubernetes.io/tls", mountPath: "/etc/tls", immutable: true,
					stringData: {"tls.crt": "CERT", "tls.key": "KEY"}}
			}
		}
	}
	db: {
		blueprints.#StatefulWorkload
		traits.#Autoscaling
		spec: {
			statefulWorkload: {
				container: {name: "db", image: "postgres:16.4", resources: requests: cpu: "1"}
				volumes: data: {mountPath: "/var/lib/postgresql/data", size: "1Gi"}
			}
			autoscaling: {minReplicas: 12, maxReplicas: 40}
		}
	}
	fixed: {
		blueprints.#StatelessWorkload
		spec: statelessWorkload: {container: {name: "fixed", image: "busybox:1.36"}, replicas: 3}
	}
	side: {
		blueprints.#StatelessWorkload
		resources.#Secrets
		spec: {
			statelessWorkload: {
				container: {name: "side", image: "busybox:1.36"}
				replicas: 1
				sidecarContainers: [{name: "proxy", image: "envoyproxy/envoy:v1.31.0",
					volumeMounts: certs: mountPath: "/etc/certs"}]
			}
			secrets: certs: stringData: "ca.crt": "CA"
		}
	}
"""


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, cuepy.opm.Render]:
    module = _module(tmp_path_factory.mktemp("scaled"), _SCALED)
    return module, cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)


def test_secrets_and_autoscaling_render_and_validate(scaled: tuple[Path, cuepy.opm.Render]) -> None:
    _, render = scaled
    for obj in render.objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    api, tls = _by(render, "Secret", "web-api"), _by(render, "Secret", "web-tls")
    assert (api["type"], api["stringData"], "immutable" in api) == ("Opaque", {"token": "s3cr3t"}, False)
    assert (tls["type"], tls["stringData"], tls["immutable"]) == (
        "kubernetes.io/tls", {"tls.crt": "CERT", "tls.key": "KEY"}, True)  # fmt: skip
    assert "data" not in api and api["metadata"]["labels"]["core.cuepy.dev/secrets"] == "managed"
    pod = _by(render, "Deployment", "web")["spec"]["template"]["spec"]
    # Only the mounted set is a pod volume; the other is read through env.
    assert pod["volumes"] == [{"name": "tls", "secret": {"secretName": "web-tls"}}]
    assert {"name": "tls", "mountPath": "/etc/tls", "readOnly": True} in pod["containers"][0]["volumeMounts"]
    # A set without mountPath that a sidecar mounts by name is a pod volume too (the mount needs one).
    side = _by(render, "Deployment", "side")["spec"]["template"]["spec"]
    assert side["volumes"] == [{"name": "certs", "secret": {"secretName": "side-certs"}}]
    assert side["containers"][1]["volumeMounts"][0]["name"] == "certs"
    web = {"minReplicas": 2, "maxReplicas": 7, "targetCPUUtilization": 65, "targetMemoryUtilization": 90}
    _check_hpa(_by(render, "HorizontalPodAutoscaler", "web"), web, _by(render, "Deployment", "web"))
    db = {"minReplicas": 12, "maxReplicas": 40, "targetCPUUtilization": 80}  # the CPU target's default
    _check_hpa(_by(render, "HorizontalPodAutoscaler", "db"), db, _by(render, "StatefulSet", "db"))
    # The autoscaler owns the replicas of what it scales (replicas: 9 is not written); others keep theirs.
    assert "replicas" not in _by(render, "Deployment", "web")["spec"]
    assert "replicas" not in _by(render, "StatefulSet", "db")["spec"]
    assert _by(render, "Deployment", "fixed")["spec"]["replicas"] == 3
    assert sorted(o["metadata"]["name"] for o in render.objects if o["kind"] == "HorizontalPodAutoscaler") == [
        "db", "web"]  # fmt: skip
    assert ("fixed", "HorizontalPodAutoscaler") not in {(m.component, m.transformer.rsplit("#", 1)[1])
                                                        for m in render.matches}  # fmt: skip


def test_secrets_and_autoscaling_definition_and_flattened_render_identically(
    scaled: tuple[Path, cuepy.opm.Render],
) -> None:
    module, render = scaled
    flat = cuepy.flatten(module, file="module.cue")
    assert all(s.flattened for s in flat.structs)
    assert cuepy.opm.render(flat, None, namespace=NS).to_yaml() == render.to_yaml()
    python = cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False, match="python")
    assert python.to_yaml() == render.to_yaml()


def _mkdir(directory: Path) -> Path:
    directory.mkdir()
    return directory


def test_autoscaling_defaults_and_bounds(tmp_path: Path) -> None:
    component = """	web: {{
		blueprints.#StatelessWorkload
		traits.#Autoscaling
		spec: {{statelessWorkload: container: {{name: "web", image: "nginx:1.27"}}, autoscaling: {{{}}}}}
	}}
"""
    module = _module(_mkdir(tmp_path / "defaults"), component.format(""))
    hpa = _by(cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False),
              "HorizontalPodAutoscaler", "web")["spec"]  # fmt: skip
    assert (hpa["minReplicas"], hpa["maxReplicas"], len(hpa["metrics"])) == (1, 10, 1)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    # maxReplicas' default does not go below minReplicas: the module must say it.
    module = _module(_mkdir(tmp_path / "above"), component.format("minReplicas: 11"))
    with pytest.raises(cuepy.opm.OPMIncompleteError, match="maxReplicas"):
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)
    module = _module(_mkdir(tmp_path / "inverted"), component.format("minReplicas: 5, maxReplicas: 4"))
    with pytest.raises(cuepy.CueError, match="maxReplicas"):
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)


@pytest.mark.parametrize(("components", "message"), [
    ("""	web: {
		resources.#Container
		traits.#Autoscaling
		spec: container: {name: "web", image: "nginx:1.27"}
	}
""", "core.cuepy.dev/workload-type"),
    ("""	web: {
		resources.#Container
		traits.#Autoscaling
		metadata: labels: "core.cuepy.dev/workload-type": "stateless"
		spec: container: {name: "web", image: "nginx:1.27"}
	}
""", "needs the Replicas trait"),
])  # fmt: skip
def test_autoscaling_without_a_workload_to_scale_is_an_error(tmp_path: Path, components: str, message: str) -> None:
    module = _module(tmp_path, components)
    with pytest.raises(cuepy.CueError, match=message):
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)


def test_two_pod_volumes_of_one_name_is_an_error(tmp_path: Path) -> None:
    """A volume and a secret set of one name would be a pod Kubernetes rejects: an error naming both."""
    module = _module(
        tmp_path,
        """	db: {
		blueprints.#StatefulWorkload
		resources.#Secrets
		spec: {
			statefulWorkload: {
				container: {name: "db", image: "postgres:16.4"}
				volumes: data: {mountPath: "/var/lib/postgresql/data", size: "1Gi"}
			}
			secrets: data: {mountPath: "/etc/data", stringData: password: "pw"}
		}
	}
""",
    )
    with pytest.raises(cuepy.CueError, match="component db: volumes, config files and secrets both named data"):
        cuepy.opm.render(module, None, namespace=NS, file="module.cue", cache=False)


# A second catalog ------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_embedstyle_catalog_transformers_render(size: str) -> None:
    style = STYLES["embedstyle"]
    render = cuepy.opm.render(style.module_dir(size), style.values(size), namespace="kit", file="module.cue",
                              modules=style.modules, cache=False)  # fmt: skip
    assert {m.transformer.split("/")[-1] for m in render.matches} >= {"deployment:v1", "stateful-set:v1",
                                                                       "persistent-volume-claim:v1"}  # fmt: skip
    for obj in render.objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    components = {m.component for m in render.matches}
    assert components == _components(style, size)


def test_catalog_from_a_registry_renders_as_from_disk(tmp_path: Path, registry: cuepy.Registry) -> None:
    # The catalog (its transformers included) published to a real OCI registry on 127.0.0.1 and
    # fetched through CUE's module cache renders the same objects as served from its directory,
    # through the render cache and without it.
    style = STYLES["embedstyle"]
    registry.publish(style.catalog_dir, "v0.1.0")
    module, values = style.module_dir("small"), style.values("small")
    from_disk = cuepy.opm.render(module, values, namespace="kit", file="module.cue", modules=style.modules,
                                 cache=False)  # fmt: skip
    fetch = cuepy.LoadOptions(registry=registry, cache_dir=tmp_path / "cue-cache")
    fetched = cuepy.opm.render(module, values, namespace="kit", file="module.cue", cache=False, options=fetch)
    assert fetched.objects == from_disk.objects
    cache = Cache(tmp_path / "cache")
    for _ in range(2):  # a miss, then a hit
        cached = cuepy.opm.render(module, values, namespace="kit", file="module.cue", cache=cache, options=fetch)
        assert cached.objects == from_disk.objects
    assert cache.stats().hits >= 1
    assert (tmp_path / "cue-cache").is_dir()  # fetched into the cache_dir given, not the user's


def _components(style: Any, size: str) -> set[str]:
    return set(cuepy.opm.release(style.module_dir(size), style.values(size), namespace="kit", file="module.cue",
                                 modules=style.modules).components)  # fmt: skip


# The render cache --------------------------------------------------------------------------


def test_render_cache_hits_and_is_invalidated(tmp_path: Path) -> None:
    directory = tmp_path / "simple"
    shutil.copytree(path("simple"), directory)
    cache = Cache(tmp_path / "cache")
    values = _values("simple")
    first = cuepy.opm.render(directory, values, namespace=NS, file=DEF, cache=cache)
    assert list(cache.directory.rglob("*manifests*")), "a manifests entry is stored"
    again = cuepy.opm.render(directory, values, namespace=NS, file=DEF, cache=Cache(cache.directory))
    assert again == first
    # Another namespace, other values: other entries.
    other = cuepy.opm.render(directory, values, namespace="other", file=DEF, cache=cache)
    assert other.objects[0]["metadata"]["namespace"] == "other"
    # The module changes: the render follows.
    source = (directory / DEF).read_text()
    (directory / DEF).write_text(source.replace('NODE_ENV: value:     "production"', 'NODE_ENV: value: "staging"'))
    changed = cuepy.opm.render(directory, values, namespace=NS, file=DEF, cache=cache)
    env = _by(changed, "Deployment", "frontend")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "NODE_ENV", "value": "staging"} in env
    assert changed.to_yaml() != first.to_yaml()


def test_render_hit_does_not_evaluate_cue(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    values = _values("simple")
    first = cuepy.opm.render(path("simple"), values, namespace=NS, file=DEF, cache=cache)
    with cuepy.trace() as t:
        hit = cuepy.opm.render(path("simple"), values, namespace=NS, file=DEF, cache=cache)
    assert hit == first
    stages = {e.stage for e in t.events}
    assert not stages & {"load", "fill", "release", "build"}
    assert json.loads(json.dumps(hit.to_data())) == first.to_data()


# values-schema -------------------------------------------------------------------------------


def test_values_schema_of_simple() -> None:
    schema = cuepy.opm.values_schema(path("simple"), file=DEF, cache=False)
    api = schema["properties"]["api"]
    assert api["properties"]["logLevel"]["enum"] == ["info", "debug", "warn", "error"]
    assert api["properties"]["logLevel"]["default"] == "info"
    assert api["properties"]["replicas"] == {"type": "integer", "minimum": 1, "default": 2}
    assert schema["additionalProperties"] is False


def test_values_schema_required_optional_docs() -> None:
    value = cuepy.compile("""
kind: "ModuleDefinition"
metadata: {name: "x", version: "1.0.0"}
#components: {}
#values: {
	// The image to run.
	image!: string
	size?:  int & >=1 & <=10
	mode:   *"a" | "b"
	host:   string
}
""")
    schema = cuepy.opm.values_schema(value, layout=cuepy.opm.Layout())
    assert schema["required"] == ["image", "host"]
    assert schema["properties"]["image"]["description"] == "The image to run."
    assert schema["properties"]["size"] == {"type": "integer", "minimum": 1, "maximum": 10}
    assert schema["properties"]["mode"]["enum"] == ["a", "b"]


def test_values_schema_of_lists_open_structs_and_bytes_accepts_what_cue_accepts() -> None:
    # Before: [...int] was {"const": []} (no list but the empty one passed), [string, int] raised
    # CueIncompleteError, {b?: int, ...} refused other fields, and a bytes default was a Python
    # bytes object that json.dumps (cuepy values-schema) could not write.
    value = cuepy.compile("""
kind: "ModuleDefinition"
metadata: {name: "x", version: "1.0.0"}
#components: {}
#values: {
	ids: [...int]
	pair: [string, int]
	head: ["a", ...string]
	open: {b?: int, ...}
	key: bytes | *'x'
}
""")
    schema = cuepy.opm.values_schema(value, layout=cuepy.opm.Layout())
    json.dumps(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    values = value.lookup("#values")
    for good in ({"pair": ["x", 1]}, {"pair": ["x", 1], "ids": [1, 2], "head": ["a", "b"], "open": {"b": 1, "c": 2}}):
        values.unify(cuepy.encode(good)).validate(concrete=True)  # CUE accepts it
        assert validator.is_valid(good), list(validator.iter_errors(good))
    for bad in ({}, {"pair": ["x"]}, {"pair": ["x", 1], "ids": ["y"]}, {"pair": ["x", 1], "head": ["b"]}):
        with pytest.raises(cuepy.CueError):
            values.unify(cuepy.encode(bad)).validate(concrete=True)
        assert not validator.is_valid(bad), bad
    assert schema["required"] == ["pair"]
    assert schema["properties"]["key"] == {"type": "string", "contentEncoding": "base64", "default": "eA=="}


def test_cli_render_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cuepy.cli import main

    values = tmp_path / "values.yaml"
    values.write_text("frontend:\n  replicas: 5\n")
    assert main(["render", str(path("simple")), "-f", str(values), "-n", NS, "-o", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["deployment-api.yaml", "deployment-frontend.yaml", "service-api.yaml", "service-frontend.yaml"]
    assert "replicas: 5" in (tmp_path / "out" / "deployment-frontend.yaml").read_text()
    assert main(["diff", str(path("simple")), "-n", NS, "--to", str(values)]) == 1
    out = capsys.readouterr().out
    assert "-  replicas: 2" in out and "+  replicas: 5" in out
    assert main(["values-schema", str(path("nested"))]) == 0
    assert json.loads(capsys.readouterr().out)["properties"]["image"]["type"] == "string"


_TOO_DEEP = "nested too deeply for Python's recursion limit"


@pytest.mark.parametrize(("name", "content", "says"), [
    ("values.yaml", b"frontend: [1\n", ":2:1: not YAML: expected ',' or ']', but got '<stream end>'"),
    ("values.json", b'{"frontend":', ":1:13: not JSON: Expecting value"),
    ("values.yaml", b"\xff\xfe\x00", ": not UTF-8 text"),
    ("values.yaml", b"- 1\n", ": values must be a mapping, not list"),
    ("values.yaml", b"a: " + b"[" * 5000 + b"]" * 5000, f": {_TOO_DEEP}"),
    ("values.json", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", f": {_TOO_DEEP}"),
])  # fmt: skip
def test_cli_bad_values_file_names_where(name: str, content: bytes, says: str, tmp_path: Path) -> None:
    # Before: a traceback (yaml's or json's error, or UnicodeDecodeError) instead of a message.
    from cuepy.cli import main

    values = tmp_path / name
    values.write_bytes(content)
    with pytest.raises(SystemExit) as stopped:
        main(["render", str(path("simple")), "-f", str(values), "-n", NS])
    assert stopped.value.code == f"cuepy render: {values}{says}"


@pytest.mark.parametrize("given", ["garbage", "cuepy.dev/opm=/x", "@v0.1.0=/x", "=/x"])
def test_cli_bad_module_option_is_named(given: str) -> None:
    # Before: a traceback (the library's ValueError about "modules keys") for all but the first.
    from cuepy.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["render", str(path("simple")), "-n", NS, "--module", given])
    assert stopped.value.code == f"cuepy render: --module wants MOD@VERSION=DIR, not {given!r}"


def test_cli_diff_exits_2_when_a_side_cannot_be_read_or_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # diff(1)'s statuses: 0 the same, 1 different, 2 trouble. Before: a missing directory read as
    # an empty render (status 0 or 1), a file not UTF-8 was a traceback, a FIFO blocked forever,
    # and a render that failed exited 1 as if the renders differed.
    from cuepy.cli import main

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "service-web.yaml").write_text("kind: Service\n")
    (new / "service-web.yaml").write_text("kind: Service\n")
    assert main(["diff", str(old), str(new)]) == 0
    assert main(["diff", str(old), str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == f"cuepy diff: {tmp_path / 'missing'}: not a directory (of cuepy render -o)\n"
    (new / "service-web.yaml").write_bytes(b"kind: \xff\n")
    assert main(["diff", str(old), str(new)]) == 2
    assert capsys.readouterr().err == f"cuepy diff: {new / 'service-web.yaml'}: not UTF-8 text\n"
    (new / "service-web.yaml").write_text("kind: Service\n")
    os.mkfifo(new / "deployment-web.yaml")
    done = subprocess.run([sys.executable, "-m", "cuepy.cli", "diff", str(old), str(new)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (done.returncode, done.stderr) == (2, f"cuepy diff: {new / 'deployment-web.yaml'}: not a regular file\n")
    values = tmp_path / "values.yaml"
    values.write_text("frontend:\n  replicas: 0\n")
    assert main(["diff", str(path("simple")), "-n", NS, "--to", str(values)]) == 2
    assert "values.frontend.replicas: invalid value 0" in capsys.readouterr().err
