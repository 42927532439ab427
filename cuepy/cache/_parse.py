"""The parsed-source cache inside libcuepy (go/parsecache.go), seen from Python."""

from __future__ import annotations

from dataclasses import dataclass

from cuepy._native import native


@dataclass(frozen=True, slots=True)
class ParseCacheInfo:
    """The syntax trees cue_load keeps, by file name, parser configuration and content hash."""

    entries: int
    """Files whose tree is kept."""
    bytes: int
    """Their source bytes plus a fixed 8 KiB charge per entry (a tree's heap cost even for a tiny file)."""
    max_bytes: int
    """The bound on ``bytes``; 0 when the cache is off."""
    hits: int
    """Parses saved (each hit hands out a deep copy of the kept tree)."""
    misses: int
    """Files parsed."""
    evictions: int
    """Trees dropped to stay within the bound."""


def parse_cache_info() -> ParseCacheInfo:
    """Counters of libcuepy's parsed-source cache (this process)."""
    lib, ffi = native()
    out = ffi.new("cue_parsecache_info *")
    lib.cue_parsecache_read(out)
    return ParseCacheInfo(out.entries, out.bytes, out.max_bytes, out.hits, out.misses, out.evictions)


def reset_parse_cache(max_bytes: int | None = None) -> None:
    """Empty the parsed-source cache and zero its counters; ``max_bytes`` sets its bound (0: off)."""
    if max_bytes is not None and max_bytes < 0:
        raise ValueError("max_bytes cannot be negative")
    lib, _ = native()
    lib.cue_parsecache_reset(-1 if max_bytes is None else max_bytes)
