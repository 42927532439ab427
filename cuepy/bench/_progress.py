"""A tiny progress bar on stderr.

On a terminal: one line, redrawn at each step and every second in between
(so the elapsed time ticks during a long step such as a Go build). Otherwise:
a line per 10%, a line per :meth:`Progress.note`, and a line after 30 s
without one (a long step is still running).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

WIDTH = 99
"""Characters of the drawn line (fits 100 columns)."""
QUIET = 30.0
"""Seconds without a line (not on a terminal) before one says the step is still running."""


class Progress:
    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None, width: int = 24,
                 tick: float = 1.0) -> None:  # fmt: skip
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.monotonic()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1
        self._label = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_line = self.start
        self._ticker: threading.Thread | None = None
        if enabled and tick > 0:
            self._ticker = threading.Thread(target=self._tick, args=(tick,), name="cuepy-bench-progress", daemon=True)
            self._ticker.start()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._tty:
                self._draw()
            elif time.monotonic() - self._last_line >= QUIET:
                with self._lock:
                    self._line(f"still {self._label}" if self._label else "still running")

    def add(self, units: int) -> None:
        """More work than announced (the total grows)."""
        self.total += max(0, units)

    def update(self, units: int = 1) -> None:
        self.done = min(self.total, self.done + units)
        self._draw()

    def label(self, text: str) -> None:
        self._label = text
        self._draw()

    def note(self, text: str) -> None:
        """A label that also gets its own line when the stream is not a terminal (a long step starts)."""
        self._label = text
        if self.enabled and not self._tty:
            with self._lock:
                self._line(text)
        self._draw()

    def _line(self, text: str) -> None:
        """One line (not on a terminal), with the elapsed time; the caller holds the lock."""
        if self._stop.is_set():
            return
        self._last_line = time.monotonic()
        self.stream.write(f"cuepy bench: {text} (after {self._last_line - self.start:.0f}s)\n")
        self.stream.flush()

    def _draw(self) -> None:
        if not self.enabled or self._stop.is_set():
            return
        with self._lock:
            fraction = self.done / self.total
            elapsed = time.monotonic() - self.start
            if self._tty:
                filled = int(self.width * fraction)
                bar = "#" * filled + "." * (self.width - filled)
                line = f"\r[{bar}] {100 * fraction:3.0f}% {elapsed:5.0f}s  {self._label}"
                self.stream.write(f"{line[: WIDTH + 1]:<{WIDTH + 1}}")
                self.stream.flush()
                return
            decile = int(10 * fraction)
            if decile != self._last_decile:
                self._last_decile = decile
                self._last_line = time.monotonic()
                self.stream.write(f"cuepy bench: {100 * fraction:3.0f}% after {elapsed:.0f}s  {self._label}\n")
                self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.enabled and self._tty:
            with self._lock:
                self.stream.write("\r" + " " * WIDTH + "\r")
                self.stream.flush()
