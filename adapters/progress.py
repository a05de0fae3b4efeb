"""Progress bars for long commands, on stderr, only where a person watches.

A bar is drawn only when stderr is a terminal and the command was not asked for ``--json``, so pipes,
logs, CI and JSON consumers see nothing of it. ``Bar.update(done, total)`` redraws at most ten times a
second; ``Bar.stage(text)`` names what is running when there is nothing to count (training stages,
indexing), with the elapsed time.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

WIDTH = 28


def wanted(as_json: bool = False, stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return not as_json and bool(getattr(stream, "isatty", lambda: False)())


class Bar:
    def __init__(self, label: str, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._last = 0.0
        self._drawn = False
        self._stage = ""
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def __enter__(self) -> Bar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _write(self, line: str) -> None:
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self._drawn = True

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(WIDTH * share)
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 and done < total else 0.0
        bar = "█" * filled + "░" * (WIDTH - filled)
        self._write(f"{self.label} {bar} {share:4.0%} {done:,}/{total:,} · {rate:,.0f}/s · ETA {eta:.0f}s")

    def stage(self, text: str) -> None:
        """Show what runs now (with a ticking clock until the next stage or ``close``)."""
        if not self.enabled:
            return
        self._stage = text
        self._draw_stage()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _draw_stage(self) -> None:
        elapsed = time.perf_counter() - self.started
        self._write(f"{self.label} {self._stage[:80]} · {elapsed:.0f}s")

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._draw_stage()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1)
            self._ticker = None
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
