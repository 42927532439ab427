"""Compiled-module and render caches: pay for blueprints once.

Deployment tools load the same modules again and again. ``cuepy.cache``
keeps what cuepy compiled and what it rendered, keyed by the content of
everything that can change the result (:mod:`cuepy.cache.keys`):

* :func:`load_module` loads a ModuleDefinition through the compiled-module
  cache: flattened once, then the stored Module is loaded;
* :func:`release` / :func:`render` return a stored release for the same
  module, values, namespace and name without evaluating CUE;
* :class:`Cache` is the store: an in-process LRU in front of a directory of
  checksummed entries (``CUEPY_CACHE_DIR``, default the user cache
  directory; ``CUEPY_CACHE=off`` disables it).

See docs/cache.md.
"""

from __future__ import annotations

from cuepy.cache import keys
from cuepy.cache._modules import load_module, release, render
from cuepy.cache._parse import ParseCacheInfo, parse_cache_info, reset_parse_cache
from cuepy.cache._store import (
    DEFAULT_MAX_BYTES,
    Cache,
    Stats,
    VerifyReport,
    default_cache,
    default_directory,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Cache",
    "ParseCacheInfo",
    "Stats",
    "VerifyReport",
    "default_cache",
    "default_directory",
    "keys",
    "load_module",
    "parse_cache_info",
    "release",
    "render",
    "reset_parse_cache",
]
