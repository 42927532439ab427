"""CUE module registries: serve one in memory on loopback, publish modules to one."""

from __future__ import annotations

import os

from cuepy._native import check, free_handle, native


class Registry:
    """An in-memory OCI registry served over HTTP by libcuepy inside this process.

    For tests and for tools that want a private registry; pass it as
    ``cuepy.load(..., registry=reg)``. Close it (or use ``with``) to stop serving.
    """

    def __init__(self, address: str = "127.0.0.1:0") -> None:
        lib, ffi = native()
        out = ffi.new("cue_handle *")
        host = ffi.new("char **")
        check(lib.cue_registry_serve(address.encode(), out, host))
        self._handle: int = out[0]
        try:
            self.host: str = ffi.string(host[0]).decode()
        finally:
            lib.cue_free(host[0])

    @property
    def registry(self) -> str:
        """This registry in CUE_REGISTRY syntax."""
        return f"{self.host}+insecure"

    def publish(self, module_dir: str | os.PathLike[str], version: str) -> None:
        """Publish the CUE module in ``module_dir`` as ``version``."""
        publish(self.registry, module_dir, version)

    def close(self) -> None:
        handle, self._handle = self._handle, 0
        if handle:
            free_handle(handle)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def publish(registry: str, module_dir: str | os.PathLike[str], version: str) -> None:
    """Zip the module in ``module_dir`` and push it as ``version`` to ``registry`` (CUE_REGISTRY syntax)."""
    lib, _ = native()
    check(lib.cue_registry_publish(registry.encode(), os.fspath(module_dir).encode(), version.encode()))
