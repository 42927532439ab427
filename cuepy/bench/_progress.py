"""A tiny progress bar on stderr (one line redrawn on a terminal, a line per 10% otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.monotonic()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1
        self._label = ""

    def add(self, units: int) -> None:
        """More work than announced (the total grows)."""
        self.total += max(0, units)

    def update(self, units: int = 1) -> None:
        self.done = min(self.total, self.done + units)
        self._draw()

    def label(self, text: str) -> None:
        self._label = text
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        fraction = self.done / self.total
        elapsed = time.monotonic() - self.start
        if self._tty:
            filled = int(self.width * fraction)
            bar = "#" * filled + "." * (self.width - filled)
            line = f"\r[{bar}] {100 * fraction:5.1f}% {elapsed:6.0f}s  {self._label}"
            self.stream.write(f"{line[:118]:<118}")
            self.stream.flush()
            return
        decile = int(10 * fraction)
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(f"cuepy bench: {100 * fraction:3.0f}% after {elapsed:.0f}s  {self._label}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\r" + " " * 118 + "\r")
            self.stream.flush()
