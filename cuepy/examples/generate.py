"""Generate synthetic OPM-style CUE modules of arbitrary size.

:func:`generate` writes a complete CUE module directory holding a
ModuleDefinition with *n* components built on the ``cuepy.dev/opm@v0``
catalog blueprints, plus concrete values for a release::

    <directory>/
        cue.mod/module.cue      module "cuepy.dev/examples/generated@v0",
                                depends on "cuepy.dev/opm@v0" v0.1.0
        module_definition.cue   package "generated": the ModuleDefinition
        values.cue              package "generated": top-level ``values: {...}``

Stateless (``blueprints.#StatelessWorkload``) and stateful
(``blueprints.#StatefulWorkload``) components are mixed about 2:1 (every third
component is stateful). Output is a pure function of ``(n, seed)``.

Only the Python standard library is used.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import tempfile
from dataclasses import dataclass, field

__all__ = ["MAX_COMPONENTS", "MODULE_PATH", "PACKAGE", "generate"]

#: Largest supported number of components.
MAX_COMPONENTS = 1024
#: CUE module path of generated modules.
MODULE_PATH = "cuepy.dev/examples/generated@v0"
#: CUE package name of generated files.
PACKAGE = "generated"
#: Catalog module and version the generated module depends on.
CATALOG_MODULE = "cuepy.dev/opm@v0"
CATALOG_VERSION = "v0.1.0"
#: CUE language version written to cue.mod/module.cue.
LANGUAGE_VERSION = "v0.17.0"

_DOMAINS = [
    "account", "billing", "cart", "catalog", "checkout", "customer", "search",
    "inventory", "invoice", "ledger", "loyalty", "media", "order", "payment",
    "pricing", "profile", "promotion", "rating", "report", "review", "session",
    "shipping", "tax", "wishlist", "analytics", "audit", "booking", "coupon",
]
_STATELESS_ROLES = ["api", "web", "worker", "gateway", "consumer", "scheduler"]


@dataclass(frozen=True)
class _Store:
    """Template of a stateful datastore."""

    role: str
    image: str
    tags: tuple[str, ...]
    port_name: str
    port: int
    mount: str
    probe: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()


_STORES = [
    _Store("postgres", "docker.io/library/postgres", ("15.8", "16.4", "17.0"), "postgres", 5432,
           "/var/lib/postgresql/data", ("pg_isready", "-U", "app"),
           env=(("POSTGRES_USER", "app"), ("PGDATA", "/var/lib/postgresql/data/pgdata")),
           secret_env=(("POSTGRES_PASSWORD", "password"),)),
    _Store("mysql", "docker.io/library/mysql", ("8.0.39", "8.4.2"), "mysql", 3306,
           "/var/lib/mysql", ("mysqladmin", "ping", "-h", "127.0.0.1"),
           secret_env=(("MYSQL_ROOT_PASSWORD", "root-password"),)),
    _Store("redis", "docker.io/library/redis", ("7.2", "7.4"), "redis", 6379,
           "/data", ("redis-cli", "ping"), args=("--appendonly", "yes")),
    _Store("mongodb", "docker.io/library/mongo", ("6.0", "7.0"), "mongodb", 27017,
           "/data/db", ("mongosh", "--quiet", "--eval", "db.adminCommand('ping')"),
           env=(("MONGO_INITDB_ROOT_USERNAME", "root"),),
           secret_env=(("MONGO_INITDB_ROOT_PASSWORD", "root-password"),)),
    _Store("rabbitmq", "docker.io/library/rabbitmq", ("3.12", "3.13"), "amqp", 5672,
           "/var/lib/rabbitmq", ("rabbitmq-diagnostics", "-q", "ping"),
           secret_env=(("RABBITMQ_DEFAULT_PASS", "password"),)),
    _Store("elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch", ("8.14.3", "8.15.1"),
           "http", 9200, "/usr/share/elasticsearch/data", ("curl", "-fs", "http://localhost:9200/_cluster/health"),
           env=(("ES_JAVA_OPTS", "-Xms1g -Xmx1g"),)),
]

_CPUS = ["50m", "100m", "250m", "500m", "1"]
_MEMORIES = ["128Mi", "256Mi", "512Mi", "1Gi", "2Gi"]
_SIZES = ["1Gi", "5Gi", "10Gi", "20Gi", "50Gi", "100Gi"]
_LOG_LEVELS = ["debug", "info", "warn", "error"]


def _q(value: str) -> str:
    """Quote a string as a CUE (= JSON) string literal."""
    return json.dumps(value)


def _label(key: str) -> str:
    """Render a field label, quoting it unless it is a plain identifier."""
    if key.replace("_", "a").isalnum() and not key[0].isdigit() and "-" not in key:
        return key
    return _q(key)


def _list(items: list[str] | tuple[str, ...]) -> str:
    """Render a list of strings as a CUE list literal."""
    return "[" + ", ".join(_q(i) for i in items) + "]"


@dataclass
class _Component:
    """One generated component: its CUE text and its values."""

    name: str
    stateful: bool
    schema: list[str] = field(default_factory=list)  # lines of the #values schema
    values: list[str] = field(default_factory=list)  # lines of the concrete values
    body: list[str] = field(default_factory=list)  # lines of the component


class _Writer:
    """Builds the CUE text of a generated module from a seeded RNG."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.rng = random.Random(seed)
        self.stores: list[str] = []  # names of stateful components generated so far
        self.services: list[str] = []  # names of stateless HTTP components so far

    # -- naming ---------------------------------------------------------------

    def _name(self, index: int, role: str) -> str:
        domain = self.rng.choice(_DOMAINS)
        return f"{domain}-{role}-{index:04d}"

    # -- components -----------------------------------------------------------

    def stateless(self, index: int) -> _Component:
        rng = self.rng
        role = rng.choice(_STATELESS_ROLES)
        name = self._name(index, role)
        comp = _Component(name, stateful=False)
        ref = f'#values.components["{name}"]'
        http = role in ("api", "web", "gateway")
        port = {"api": 8080, "web": 3000, "gateway": 8443}.get(role, 9090)
        domain = name.split("-", 1)[0]
        version = f"{rng.randint(0, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        replicas = rng.randint(1, 6)
        cpu, memory = rng.choice(_CPUS), rng.choice(_MEMORIES)
        log_level = rng.choice(_LOG_LEVELS)

        comp.schema = [
            f"image:    string | *{_q(f'ghcr.io/acme/{domain}-{role}:{version}')}",
            "replicas: int & >=1 | *1",
            f"cpu:      string | *{_q('100m')}",
            f"memory:   string | *{_q('128Mi')}",
            'logLevel: *"info" | "debug" | "warn" | "error"',
        ]
        release_version = f"{version.rsplit('.', 1)[0]}.{int(version.rsplit('.', 1)[1]) + 1}"
        comp.values = [
            f"image:    {_q(f'ghcr.io/acme/{domain}-{role}:{release_version}')}",
            f"replicas: {replicas}",
            f"cpu:      {_q(cpu)}",
            f"memory:   {_q(memory)}",
            f"logLevel: {_q(log_level)}",
        ]

        env = [
            f"LOG_LEVEL: value: {ref}.logLevel",
            'POD_NAME: valueFrom: fieldRef: fieldPath: "metadata.name"',
        ]
        if self.stores and rng.random() < 0.7:
            store = rng.choice(self.stores)
            env.append(f"DATASTORE_HOST: value: {_q(store)}")
            secret = _q(store + "-credentials")
            env.append(f'DATASTORE_PASSWORD: valueFrom: secretKeyRef: {{name: {secret}, key: "password"}}')
        if self.services and rng.random() < 0.5:
            upstream = rng.choice(self.services)
            env.append(f"UPSTREAM_URL: value: {_q(f'http://{upstream}:8080')}")

        container = [
            f"name:  {_q(role)}",
            f"image: {ref}.image",
        ]
        if role == "worker" or role == "consumer":
            args = ["--queue", f"{domain}-jobs", "--concurrency", str(rng.choice([2, 4, 8]))]
            container.append(f"args: {_list(args)}")
        if role == "scheduler":
            container.append(f"args: {_list(['--interval', f'{rng.choice([30, 60, 300])}s'])}")
        ports = [f"{'http' if http else 'metrics'}: containerPort: {port}"]
        if http:
            ports.append("metrics: containerPort: 9090")
        container.append("ports: {")
        container += ["\t" + p for p in ports]
        container.append("}")
        container.append("env: {")
        container += ["\t" + e for e in env]
        container.append("}")
        container += [
            "resources: {",
            f"\trequests: {{cpu: {ref}.cpu, memory: {ref}.memory}}",
            f"\tlimits: {{cpu: {_q(rng.choice(['500m', '1', '2']))}, "
            f"memory: {_q(rng.choice(['512Mi', '1Gi', '2Gi']))}}}",
            "}",
        ]
        if rng.random() < 0.5:
            container += [
                "securityContext: {",
                "\trunAsNonRoot:             true",
                "\treadOnlyRootFilesystem:   true",
                "\tallowPrivilegeEscalation: false",
                "}",
            ]

        spec = ["container: {"] + ["\t" + c for c in container] + ["}", f"replicas: {ref}.replicas"]
        probe_port = port
        if http:
            spec += [
                "healthCheck: {",
                f'\tliveness: httpGet: {{path: "/healthz", port: {probe_port}}}',
                f'\treadiness: {{httpGet: {{path: "/readyz", port: {probe_port}}}, '
                f"periodSeconds: {rng.choice([5, 10])}}}",
                "}",
                f'expose: ports: [{{name: "http", port: {80 if role == "web" else port}, targetPort: {port}}}]',
            ]
            if role == "gateway":
                spec.append('expose: type: "LoadBalancer"')
        else:
            spec.append(f'healthCheck: liveness: {{tcpSocket: port: {port}, periodSeconds: 30}}')
        if rng.random() < 0.3:
            spec.append('updateStrategy: rollingUpdate: {maxSurge: "25%", maxUnavailable: 0}')
        if rng.random() < 0.2:
            spec += [
                "initContainers: [{",
                '\tname:  "migrate"',
                f"\timage: {ref}.image",
                '\targs: ["migrate", "up"]',
                "}]",
            ]
        if rng.random() < 0.15:
            spec += [
                "sidecarContainers: [{",
                '\tname:  "log-shipper"',
                '\timage: "docker.io/fluent/fluent-bit:3.1.9"',
                '\tresources: limits: {cpu: "100m", memory: "128Mi"}',
                "}]",
            ]

        comp.body = [
            "blueprints.#StatelessWorkload",
            f'metadata: labels: "app.kubernetes.io/component": {_q(role)}',
            "spec: statelessWorkload: {",
        ] + ["\t" + s for s in spec] + ["}"]
        if http:
            self.services.append(name)
        return comp

    def stateful(self, index: int) -> _Component:
        rng = self.rng
        store = rng.choice(_STORES)
        name = self._name(index, store.role)
        comp = _Component(name, stateful=True)
        ref = f'#values.components["{name}"]'
        tag = rng.choice(store.tags)
        comp.schema = [
            f"image:       string | *{_q(f'{store.image}:{store.tags[0]}')}",
            "replicas:    int & >=1 | *1",
            f"storageSize: string | *{_q('10Gi')}",
            f"memory:      string | *{_q('1Gi')}",
        ]
        comp.values = [
            f"image:       {_q(f'{store.image}:{tag}')}",
            f"replicas:    {rng.choice([1, 1, 3])}",
            f"storageSize: {_q(rng.choice(_SIZES))}",
            f"memory:      {_q(rng.choice(['1Gi', '2Gi', '4Gi', '8Gi']))}",
        ]
        env = [f"{_label(k)}: value: {_q(v)}" for k, v in store.env]
        env += [
            f"{_label(k)}: valueFrom: secretKeyRef: {{name: {_q(name + '-credentials')}, key: {_q(key)}}}"
            for k, key in store.secret_env
        ]
        container = [
            f"name:  {_q(store.role)}",
            f"image: {ref}.image",
        ]
        if store.args:
            container.append(f"args: {_list(store.args)}")
        container.append(f"ports: {store.port_name}: containerPort: {store.port}")
        if env:
            container.append("env: {")
            container += ["\t" + e for e in env]
            container.append("}")
        container += [
            "resources: {",
            f"\trequests: {{cpu: {_q(rng.choice(['250m', '500m', '1']))}, memory: {_q('512Mi')}}}",
            f"\tlimits: {{cpu: {_q(rng.choice(['1', '2', '4']))}, memory: {ref}.memory}}",
            "}",
            f"volumeMounts: data: mountPath: {_q(store.mount)}",
        ]
        spec = ["container: {"] + ["\t" + c for c in container] + ["}"]
        spec += [
            "volumes: data: {",
            f"\tmountPath:    {_q(store.mount)}",
            f"\tsize:         {ref}.storageSize",
            f"\tstorageClass: {_q(rng.choice(['standard', 'premium-rwo', 'gp3']))}",
            "}",
            f"replicas: {ref}.replicas",
            "healthCheck: {",
            f"\tliveness: {{exec: command: {_list(store.probe)}, initialDelaySeconds: {rng.choice([10, 20, 30])}}}",
            f"\treadiness: {{exec: command: {_list(store.probe)}, periodSeconds: 5}}",
            "}",
            f'updateStrategy: type: {_q(rng.choice(["RollingUpdate", "OnDelete"]))}',
            "expose: {",
            '\ttype: "Headless"',
            f"\tports: [{{name: {_q(store.port_name)}, port: {store.port}}}]",
            "}",
        ]
        comp.body = [
            "blueprints.#StatefulWorkload",
            f'metadata: labels: "app.kubernetes.io/component": {_q(store.role)}',
            "spec: statefulWorkload: {",
        ] + ["\t" + s for s in spec] + ["}"]
        self.stores.append(name)
        return comp

    # -- files ----------------------------------------------------------------

    def components(self) -> list[_Component]:
        comps = []
        for i in range(self.n):
            comps.append(self.stateful(i) if i % 3 == 2 else self.stateless(i))
        return comps

    def render(self) -> tuple[str, str]:
        comps = self.components()
        n_stateful = sum(c.stateful for c in comps)
        d: list[str] = [
            f"// Generated by cuepy.examples.generate(n={self.n}, seed={self.seed}): "
            f"{self.n - n_stateful} stateless and {n_stateful} stateful components.",
            "// ModuleDefinition written against the cuepy.dev/opm@v0 blueprints.",
            f"package {PACKAGE}",
            "",
            "import (",
            '\tcore "cuepy.dev/opm/core@v0"',
            '\tblueprints "cuepy.dev/opm/blueprints@v0"',
            ")",
            "",
            "core.#ModuleDefinition",
            "",
            "metadata: {",
            f'\tname:             "generated-{self.n}"',
            '\tversion:          "1.0.0"',
            f"\tdescription:      {_q(f'Synthetic module with {self.n} components (seed {self.seed}).')}",
            '\tdefaultNamespace: "generated"',
            '\tlabels: "app.kubernetes.io/part-of": "generated"',
            "}",
            "",
            "#components: {",
        ]
        for c in comps:
            d.append(f"\t{_q(c.name)}: {{")
            d += ["\t\t" + line for line in c.body]
            d.append("\t}")
        d += ["}", "", "#values: components: {"]
        for c in comps:
            d.append(f"\t{_q(c.name)}: {{")
            d += ["\t\t" + line for line in c.schema]
            d.append("\t}")
        d += ["}", ""]

        v: list[str] = [
            f"// Values for generate(n={self.n}, seed={self.seed}).",
            f"package {PACKAGE}",
            "",
            "values: components: {",
        ]
        for c in comps:
            v.append(f"\t{_q(c.name)}: {{")
            v += ["\t\t" + line for line in c.values]
            v.append("\t}")
        v += ["}", ""]
        return "\n".join(d), "\n".join(v)


def _module_file() -> str:
    return (
        f"module: {_q(MODULE_PATH)}\n"
        f"language: {{\n\tversion: {_q(LANGUAGE_VERSION)}\n}}\n"
        f"deps: {{\n\t{_q(CATALOG_MODULE)}: {{\n\t\tv: {_q(CATALOG_VERSION)}\n\t}}\n}}\n"
    )


def generate(
    n: int,
    *,
    seed: int = 0,
    directory: str | os.PathLike[str] | None = None,
) -> pathlib.Path:
    """Write a CUE module with a ModuleDefinition of ``n`` components.

    Args:
        n: number of components, from 1 to :data:`MAX_COMPONENTS` (1024).
            Every third component (index 2, 5, 8, ...) uses the
            StatefulWorkload blueprint, the others StatelessWorkload.
        seed: seed of the :class:`random.Random` choosing names, images,
            resources and optional traits. Same ``(n, seed)``, same files.
        directory: where to write the module (created if missing; existing
            ``cue.mod/module.cue``, ``module_definition.cue`` and
            ``values.cue`` are overwritten). A new temporary directory is
            created when ``None``.

    Returns:
        The module directory, holding ``cue.mod/module.cue`` (module
        :data:`MODULE_PATH`, depending on ``cuepy.dev/opm@v0`` v0.1.0),
        ``module_definition.cue`` and ``values.cue`` (package
        :data:`PACKAGE`, top-level ``values: components: {<name>: {...}}``).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if not 1 <= n <= MAX_COMPONENTS:
        raise ValueError(f"n must be between 1 and {MAX_COMPONENTS}, got {n}")
    if directory is None:
        root = pathlib.Path(tempfile.mkdtemp(prefix=f"cuepy-generated-{n}-"))
    else:
        root = pathlib.Path(directory)
    (root / "cue.mod").mkdir(parents=True, exist_ok=True)
    definition, values = _Writer(n, seed).render()
    (root / "cue.mod" / "module.cue").write_text(_module_file(), encoding="utf-8")
    (root / "module_definition.cue").write_text(definition, encoding="utf-8")
    (root / "values.cue").write_text(values, encoding="utf-8")
    return root


if __name__ == "__main__":  # pragma: no cover - convenience entry point
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of components (1-1024)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default=None)
    args = parser.parse_args()
    print(generate(args.n, seed=args.seed, directory=args.directory))
