"""Progress on stderr: a one-line terminal bar redrawn at most ~10 times a second, or JSON lines."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from timekeep.core import units
from timekeep.core.cli.output import json_safe, plural, show_path
from timekeep.core.types import Progress

_ERASE = "\r\x1b[K"
PHASES = {"scan": "scanning", "store": "storing", "commit": "saving", "restore": "restoring", "check": "checking",
          "coalesce": "thinning", "rebuild": "rebuilding", "encrypt": "encrypting",
          "place": "placing"}  # what each step is, in a word


class Reporter(Protocol):
    """Receives the engine's progress callbacks; `close` leaves the terminal clean."""

    def __call__(self, progress: Progress) -> None: ...

    def close(self) -> None: ...


class _Throttle:
    """Lets an update through when `interval` seconds have passed since the last one, or the phase changed."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.clock = clock
        self.last = -float("inf")
        self.phase = ""

    def due(self, progress: Progress) -> bool:
        now = self.clock()
        if progress.phase == self.phase and now - self.last < self.interval:
            return False
        self.last, self.phase = now, progress.phase
        return True


class Silent:
    """For `--quiet` and for stderr that is not a terminal."""

    def __call__(self, progress: Progress) -> None:
        pass

    def close(self) -> None:
        pass


class ProgressBar:
    """Redraws one line in place; erases it on close so the summary that follows starts clean."""

    def __init__(
        self,
        stream: TextIO,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ) -> None:
        self.stream = stream
        self.throttle = _Throttle(interval, clock)
        self.width = width
        self.drawn = False

    def __call__(self, progress: Progress) -> None:
        if self.throttle.due(progress):
            self.stream.write(_ERASE + render_bar(progress, self.width()))
            self.stream.flush()
            self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.drawn = False


class JsonLines:
    """One JSON object per line (`{"phase": ..., "files_done": ...}`), throttled like the bar."""

    def __init__(self, stream: TextIO, interval: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.throttle = _Throttle(interval, clock)
        self.pending: Progress | None = None

    def __call__(self, progress: Progress) -> None:
        self.pending = progress
        if self.throttle.due(progress):
            self._emit()

    def close(self) -> None:
        """Emit the last state if it was held back, so the final counts always reach the reader."""
        self._emit()

    def _emit(self) -> None:
        if self.pending is not None:
            self.stream.write(json.dumps(json_safe(progress_json(self.pending))) + "\n")
            self.stream.flush()
            self.pending = None


def progress_json(p: Progress) -> dict[str, object]:
    return {
        "phase": p.phase,
        "files_done": p.files_done,
        "files_total": p.files_total,
        "bytes_done": p.bytes_done,
        "bytes_total": p.bytes_total,
        "elapsed_s": round(p.elapsed_s, 3),
        "current": None if p.current is None else os.fsdecode(p.current),
    }


def render_bar(p: Progress, width: int) -> str:
    """`storing   12/340 files  1.5 MB/20.0 MB  35.2 MB/s  …/long/path/name.txt`, cut to `width - 1`."""
    unit = {"check": "chunk", "coalesce": "pack", "rebuild": "snapshot", "encrypt": "chunk",
            "place": "object"}.get(p.phase, "file")
    files = f"{p.files_done}/{plural(p.files_total, unit)}" if p.files_total else ""
    done = units.size(p.bytes_done)
    size = f"{done}/{units.size(p.bytes_total)}" if p.bytes_total else done if p.bytes_done else ""
    rate = units.rate(p.bytes_done / p.elapsed_s) if p.elapsed_s > 0 and p.bytes_done else ""
    head = "  ".join(part for part in (f"{PHASES.get(p.phase, p.phase):<9}", files, size, rate) if part).rstrip()
    room = width - 1 - len(head) - 2
    if p.current is None or room < 8:
        return head[: max(width - 1, 0)]
    return f"{head}  {_tail(show_path(p.current), room)}"


def _tail(text: str, room: int) -> str:
    """Keep the end of a path (the file name matters most), marking the cut with `…`."""
    return text if len(text) <= room else "…" + text[-(room - 1) :]


def make_reporter(stream: TextIO, quiet: bool, as_json: bool) -> Reporter:
    """The reporter a command should use: JSON lines, a bar on a terminal, or nothing."""
    if quiet:
        return Silent()
    if as_json:
        return JsonLines(stream)
    if stream.isatty():
        return ProgressBar(stream)
    return Silent()
