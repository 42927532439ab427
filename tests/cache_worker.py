"""A process of tests/test_cache.py's concurrency test: loads and renders through one shared cache.

Usage: ``python tests/cache_worker.py SPEC CACHE_DIR SEED OPS`` (or
``python tests/cache_worker.py export DIR CACHE_DIR``: print the JSON export of
the package in DIR through ``Cache.memoize``). SPEC is a JSON
file ``{"modules": [{"directory": ..., "values": [{...}, ...]}, ...],
"namespaces": [...]}``. Prints one JSON list: for each operation
``[module index, "load" | "render", values index, namespace, sha256 of the
result]``, the result being the compiled Module's CUE export for a load and the
canonical JSON of the release for a render.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from typing import Any

import cuepy.cache
import cuepy.opm
from cuepy.cache.keys import canonical_json

FILE = "module_definition.cue"


def load_digest(directory: str, cache: cuepy.cache.Cache | bool) -> str:
    value = cuepy.opm.load(directory, file=FILE, cache=cache)
    return hashlib.sha256(value.export("cue").encode()).hexdigest()


def render_digest(directory: str, values: dict[str, Any], namespace: str, cache: cuepy.cache.Cache | bool) -> str:
    release = cuepy.opm.render_release(directory, values, namespace=namespace, file=FILE, cache=cache)
    return hashlib.sha256(canonical_json(release).encode()).hexdigest()


def main(spec_path: str, cache_dir: str, seed: int, ops: int) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    cache = cuepy.cache.Cache(cache_dir)
    rng = random.Random(seed)
    out: list[list[Any]] = []
    for i in range(ops):
        m = rng.randrange(len(spec["modules"]))
        module = spec["modules"][m]
        if i % 2 == 0:
            out.append([m, "load", 0, "", load_digest(module["directory"], cache)])
        else:
            v = rng.randrange(len(module["values"]))
            ns = rng.choice(spec["namespaces"])
            out.append([m, "render", v, ns, render_digest(module["directory"], module["values"][v], ns, cache)])
    json.dump(out, sys.stdout)


def cached_export(cache: cuepy.cache.Cache, directory: str) -> str:
    """A plain CUE load through ``Cache.memoize``: the JSON export of the package in ``directory``."""
    import cuepy
    import cuepy.api

    return cache.memoize("export", directory=directory, request={"op": "export"},
                         inputs=lambda: cuepy.api.load_inputs(directory),
                         compute=lambda: str(cuepy.load(directory).export("json")),
                         use=lambda payload, _key: payload)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "export":  # python tests/cache_worker.py export DIR CACHE_DIR
        print(cached_export(cuepy.cache.Cache(sys.argv[3]), sys.argv[2]))
    else:
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
