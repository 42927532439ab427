"""CUE module registries: serve one in memory on loopback, publish modules to one."""

from __future__ import annotations

import json
import os
from typing import Any

from cuepy._native import check, free_handle, native


class Registry:
    """An in-memory OCI registry served over HTTP by libcuepy inside this process.

    For tests and for tools that want a private registry; pass it as
    ``cuepy.load(..., registry=reg)``. Close it (or use ``with``) to stop serving.

    - ``address``: a loopback ``host:port`` only (``127.0.0.1``, ``::1``, ``localhost``); any other
      is a CueUsageError: the registry speaks plain HTTP.
    - ``token``: when given, pushes must present it (HTTP Bearer, or Basic with it as the
      password); ``publish`` sends it. Reads stay open to this machine.
    - ``max_bytes``: what pushes may send in all (default 256 MiB); a push beyond it fails.

    A published version is never replaced: publishing it again is a CueLoadError.
    """

    def __init__(self, address: str = "127.0.0.1:0", *, token: str | None = None,
                 max_bytes: int | None = None) -> None:  # fmt: skip
        self._handle: int = 0
        _check_str(address, "address")
        if token is not None:
            _check_str(token, "token")
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive int, not {max_bytes!r}")
        self._token = token
        config = json.dumps({"address": address, "token": token or "", "max_bytes": max_bytes or 0}).encode()
        lib, ffi = native()
        out = ffi.new("cue_handle *")
        host = ffi.new("char **")
        check(lib.cue_registry_serve_with(config, len(config), out, host))
        self._handle = out[0]
        try:
            self.host: str = ffi.string(host[0]).decode()
        finally:
            lib.cue_free(host[0])

    @property
    def registry(self) -> str:
        """This registry in CUE_REGISTRY syntax."""
        return f"{self.host}+insecure"

    def publish(self, module_dir: str | os.PathLike[str], version: str) -> None:
        """Publish the CUE module in ``module_dir`` as ``version`` (with this registry's token)."""
        publish(self.registry, module_dir, version, token=self._token)

    def close(self) -> None:
        handle, self._handle = self._handle, 0
        if handle:
            free_handle(handle)

    def __reduce__(self) -> Any:
        raise TypeError(f"a cuepy.Registry cannot be pickled; pass its address ({self.registry!r}) instead")

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def publish(registry: str, module_dir: str | os.PathLike[str], version: str, *, token: str | None = None) -> None:
    """Zip the module in ``module_dir`` and push it as ``version`` to ``registry`` (CUE_REGISTRY syntax).

    ``token`` is sent as an HTTP Bearer token. A version the registry already has is not replaced
    (CueLoadError).
    """
    _check_str(registry, "registry")
    _check_str(version, "version")
    if token is not None:
        _check_str(token, "token")
    if not isinstance(module_dir, str | os.PathLike):
        raise TypeError(f"module_dir must be a str or os.PathLike, not {type(module_dir).__name__}")
    _check_str(os.fspath(module_dir), "module_dir")
    config = json.dumps(
        {"registry": registry, "dir": os.fspath(module_dir), "version": version, "token": token or ""}
    ).encode()
    lib, _ = native()
    check(lib.cue_registry_push(config, len(config)))


def _check_str(x: object, what: str) -> None:
    if not isinstance(x, str):
        raise TypeError(f"{what} must be a str, not {type(x).__name__}")
    if "\x00" in x:
        raise ValueError(f"{what} contains a NUL byte")
