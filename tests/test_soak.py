"""A short soak (tests/soak/run.py runs 100,000 operations): mixed operations in
one process leave no handle behind and do not grow memory without bound."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "soak"))

import pytest
from run import soak


@pytest.mark.slow
def test_short_soak() -> None:
    result = soak(5000, seed=3)
    summary = result.summary()
    assert result.end_handles == result.warm_handles, summary
    # Caches still fill after a warm-up of 500 operations; the 100,000-operation run holds it to 10 %.
    assert result.end_rss - result.warm_rss < max(0.25 * result.warm_rss, 32 << 20), summary
    assert set(result.counts) >= {"compile", "export", "load", "unify", "fill", "encode", "navigate", "error"}
