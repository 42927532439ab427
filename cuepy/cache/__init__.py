"""A content-addressed cache of computed results: compiled modules, renders, anything text.

Tools load the same CUE modules again and again. ``cuepy.cache`` keeps what
was computed from them, keyed by the request and the content of every file
the computation read (:mod:`cuepy.cache.keys`):

* :class:`Cache` is the store: an in-process LRU in front of a directory of
  checksummed entries (``CUEPY_CACHE_DIR``, default the user cache
  directory; ``CUEPY_CACHE=off`` disables it), plus loaded Values kept in
  the process (``keep``/``kept``);
* :meth:`Cache.memoize` is the one operation callers need: the key from the
  request and the files ``inputs()`` names (``cuepy.api.load_inputs`` for a
  CUE load); on a miss, compute, store, return.

Scale (docs/cache.md, "Scale"): concurrent misses of one key compute once
(threads, processes sharing the directory, and machines sharing a store, through
its leases); ``shared=``/``CUEPY_CACHE_URL`` adds a Redis or S3 store a fleet
shares (:mod:`cuepy.cache.backends`);
``secret=``/``CUEPY_CACHE_KEY`` authenticates entries, ``encrypt=`` encrypts them.

The cache knows nothing of what it stores: ``cuepy.opm.load`` and
``cuepy.opm.render`` build on it (cuepy/opm/_cached.py). See docs/cache.md.
"""

from __future__ import annotations

from cuepy.cache import backends, keys
from cuepy.cache._memoize import Computed, Inputs, Unusable
from cuepy.cache._store import (
    DEFAULT_MAX_BYTES,
    Cache,
    CacheWarning,
    Stats,
    VerifyReport,
    default_cache,
    default_directory,
    resolve,
)
from cuepy.cache.keys import CacheError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Cache",
    "CacheError",
    "CacheWarning",
    "Computed",
    "Inputs",
    "Stats",
    "Unusable",
    "VerifyReport",
    "backends",
    "default_cache",
    "default_directory",
    "keys",
    "resolve",
]
