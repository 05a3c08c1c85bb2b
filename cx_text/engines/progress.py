"""Progress reporting for long runs: a live bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

#: a callback ``(rows done, total or None)`` after every chunk (the app's progress bar)
Progress = Callable[[int, int | None], None]


class ProgressReporter:
    """Rows done / total, rows per second and ETA.

    On a TTY a ``rich`` progress bar is drawn; elsewhere (CI, logs, pipes) one plain line is
    printed at most every ``every_s`` seconds and at the end, e.g.
    ``tag: 15,000/200,000 rows (7.5%) · 412 rows/s · ETA 7m30s``.
    """

    def __init__(
        self,
        total: int | None,
        label: str = "tag",
        stream: TextIO | None = None,
        every_s: float = 10.0,
        enabled: bool = True,
        on_advance: Progress | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.enabled = enabled
        self.on_advance = on_advance
        self.done = 0
        self.started = time.perf_counter()
        self._last_line = float("-inf")  # the first line is never held back
        self._printed: int | None = None  # rows done when the last plain line was printed
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        if self.enabled and self.stream.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{self.label}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled:
            self._line(force=True)

    def advance(self, rows: int, counted: bool = True) -> None:
        """Record ``rows`` more rows; ``counted=False`` for rows skipped on resume (no rate)."""
        self.done += rows
        if self.total is not None and self.done > self.total:
            self.total = self.done  # the count was an estimate (CSV blank lines, JSONL)
            if self._bar is not None:
                self._bar.update(self._task, total=self.total)
        if not counted:
            self.started = time.perf_counter()
            self._skipped = self.done
        if self.on_advance is not None:
            self.on_advance(self.done, self.total)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=f"{self.rate():,.0f} rows/s")
        elif self.enabled:
            self._line()

    def rate(self) -> float:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return (self.done - getattr(self, "_skipped", 0)) / elapsed

    def _line(self, force: bool = False) -> None:
        """A plain line, at most every ``every_s`` seconds; the closing one (``force``) only
        when it would say something new (a one-chunk run printed its rows once, not twice)."""
        now = time.perf_counter()
        if force and self._printed == self.done:
            return
        if not force and now - self._last_line < self.every_s:
            return
        self._last_line, self._printed = now, self.done
        self.stream.write(self.describe() + "\n")
        self.stream.flush()

    def describe(self) -> str:
        rate = self.rate()
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            return (
                f"{self.label}: {self.done:,}/{self.total:,} rows ({pct:.1f}%) · "
                f"{rate:,.0f} rows/s · ETA {_fmt_duration(eta)}"
            )
        return f"{self.label}: {self.done:,} rows · {rate:,.0f} rows/s"


def _fmt_duration(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN
        return "?"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{sec:02d}s" if minutes else f"{sec}s")
    )
