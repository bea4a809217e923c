"""Dragging the timeline over thousands of snapshots: how long the window's event loop is ever blocked.

A repository of N snapshots (bench/many_snapshots.py) opens in the real window, offscreen; the file the
snapshots change is selected, so every moment the handle passes asks for a listing, a preview and the
file's changes. The handle is dragged from the first snapshot to Now by mouse events sent one every 8 ms
(a 125 Hz mouse) from a timer, so the event loop runs between them as it does under a person's hand.
A 1 ms heartbeat timer records every gap between its ticks: the largest gap is the longest the window was
blocked, waiting for the processor or the GIL included (on a loaded machine, mostly that); the GUI thread's
own processor time between two ticks says how long it was busy itself. Also reported: the time the window
spent in each mouse move, in each repaint of the timeline and in each listing's arrival (the folder view
updated), how many listings ran (a drag must coalesce them: at most one runs and one waits), and how many
engine calls ran on the GUI thread (none may).

    .venv/bin/python -m bench.timeline_drag                  # 5,000 snapshots, a folder of 200 files
    .venv/bin/python -m bench.timeline_drag --files 10000    # the folder shown holds 10,000
    .venv/bin/python -m bench.timeline_drag --snapshots 20000 --json bench/results/timeline-drag.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.many_snapshots import LOG, add_snapshots

HOUR_NS = 3600 * 10**9
MOVE_MS = 8
HEARTBEAT_MS = 1


def make_history(work: Path, count: int, files: int = 200) -> tuple[Path, Path]:
    """A protected folder of `files` small files and the log file, backed up once, then `count` snapshots."""
    from timekeep.core.api import Timekeep, init_repository

    src = work / "Documents"
    src.mkdir(parents=True)
    for i in range(files):
        (src / f"note {i:03}.txt").write_text(f"note {i}\n" * 10)
    (src / LOG).write_bytes(b"")
    repo = work / "drive" / "Timekeep" / "repo"
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        first = tk.backup()
    add_snapshots(repo, src, count, first.time_ns + HOUR_NS, HOUR_NS)
    return repo, src


@dataclass
class EngineSpy:
    """Every call of a public `Timekeep` method, by the thread it ran on: the GUI thread may make none."""

    on_gui_thread: list[str] = field(default_factory=list)
    elsewhere: int = 0
    listings: int = 0
    listing_in_flight: int = 0
    most_listings_at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def called(self, name: str) -> None:
        with self._lock:
            if threading.current_thread() is threading.main_thread():
                self.on_gui_thread.append(name)
            else:
                self.elsewhere += 1

    def listing(self, delta: int) -> None:
        with self._lock:
            self.listing_in_flight += delta
            self.listings += max(0, delta)
            self.most_listings_at_once = max(self.most_listings_at_once, self.listing_in_flight)


@contextmanager
def collections_timed(record: list[tuple[float, float, int]]) -> Iterator[None]:
    """Append each garbage collection's (wall, processor) seconds and generation to `record`, whichever thread
    runs it."""
    began: dict[int, tuple[float, float]] = {}

    def timed(phase: str, info: dict[str, int]) -> None:
        me = threading.get_ident()
        if phase == "start":
            began[me] = (time.perf_counter(), time.thread_time())
        elif me in began:
            wall, cpu = began.pop(me)
            record.append((time.perf_counter() - wall, time.thread_time() - cpu, info["generation"]))

    gc.callbacks.append(timed)
    try:
        yield
    finally:
        gc.callbacks.remove(timed)


@contextmanager
def spying(spy: EngineSpy) -> Iterator[None]:
    """Wrap `Timekeep`'s public methods and the window's listing job so `spy` hears of every call."""
    from timekeep.core.api import Timekeep
    from timekeep.gui import browser

    saved: dict[str, Any] = {}

    def wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kw: Any) -> Any:
            spy.called(name)
            return real(*args, **kw)
        return watched

    for name, value in list(vars(Timekeep).items()):
        if callable(value) and not name.startswith("_") and not isinstance(value, (staticmethod, classmethod)):
            saved[name] = value
            setattr(Timekeep, name, wrap(name, value))
    real_tree = browser.load_tree

    def load_tree(*args: Any) -> Any:
        spy.listing(1)
        try:
            return real_tree(*args)
        finally:
            spy.listing(-1)

    browser.load_tree = load_tree
    try:
        yield
    finally:
        browser.load_tree = real_tree
        for name, value in saved.items():
            setattr(Timekeep, name, value)


@dataclass
class Figures:
    snapshots: int
    moves: int
    positions_passed: int
    longest_block_ms: float
    heartbeat_p50_ms: float  # the gaps between the 1 ms heartbeat's ticks: the window's frame times
    heartbeat_p90_ms: float
    heartbeat_p99_ms: float
    heartbeat_p999_ms: float
    longest_busy_ms: float
    move_median_ms: float
    move_max_ms: float
    paint_median_ms: float
    paint_max_ms: float
    paints: int
    arrivals: int  # listings shown: at the handle's moment, or overtaken by it and shown meanwhile
    arrival_median_ms: float
    arrival_max_ms: float
    listings: int
    most_listings_at_once: int
    gc_longest_ms: float  # the longest cyclic garbage collection during the drag, in any thread: it holds the GIL
    gc_longest_cpu_ms: float
    gc_full_collections: int  # of the oldest generation: each walks every object the collector tracks
    engine_calls_on_gui_thread: int
    settle_ms: float


def spin(app: Any, condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.002)  # a bench driving a real event loop, not a test waiting


def timed(record: list[float], real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, with the time each call took appended to `record`."""
    def call(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args)
        finally:
            record.append(time.perf_counter() - started)
    return call


def measure(count: int, work: Path, files: int = 200) -> Figures:
    from PySide6.QtCore import QPointF, Qt, QTimer
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from timekeep.gui.app import TimekeepApp
    from timekeep.gui.prompts import ScriptedPrompts
    from timekeep.gui.settings import AppPaths, AppSettings

    repo, src = make_history(work, count, files)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    tk_app = TimekeepApp(AppPaths(work / "config", work / "cache", work / "no-agent.sock", work / "state"),
                         ScriptedPrompts(), AppSettings(repository=str(repo)), tray=False)
    tk_app.start()
    window = tk_app.window
    assert window is not None
    window.show()
    spin(app, lambda: window.history is not None and window.timeline.now_position == count + 1)
    timeline = window.timeline
    end_ns = timeline.snapshots[-1].time_ns + HOUR_NS
    timeline.clock = lambda: end_ns
    spin(app, lambda: window.tree_model.rowCount() > 0)
    timeline.set_position(0)
    spin(app, lambda: window.browser.select_path(os.fsencode(src / LOG)))
    spin(app, lambda: len(timeline.marked) > 0)

    moves: list[float] = []
    paints: list[float] = []
    real_paint = timeline.paintEvent

    def timed_paint(event: Any) -> None:
        started = time.perf_counter()
        real_paint(event)
        paints.append(time.perf_counter() - started)

    timeline.paintEvent = timed_paint  # type: ignore[method-assign]
    arrivals: list[float] = []  # a listing's arrival: the folder view updated on the GUI thread
    window.browser._tree_loaded = timed(arrivals, window.browser._tree_loaded)  # type: ignore[method-assign]
    window.browser._tree_overtaken = timed(arrivals, window.browser._tree_overtaken)  # type: ignore[method-assign]
    xs = timeline.tick_xs()
    y = 14.0
    steps = max(2, int(xs[-1] - xs[0]))  # one move per pixel, as a slow steady hand
    path = [xs[0] + (xs[-1] - xs[0]) * i / steps for i in range(steps + 1)]
    beats: list[float] = []
    busy: list[float] = []  # the GUI thread's processor time at each tick
    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: (beats.append(time.perf_counter()), busy.append(time.thread_time())))
    passed: set[int] = set()
    timeline.position_changed.connect(lambda _snap: passed.add(timeline.position))

    def send(kind: Any, x: float, buttons: Any) -> None:
        event = QMouseEvent(kind, QPointF(x, y), QPointF(x, y), Qt.MouseButton.LeftButton, buttons,
                            Qt.KeyboardModifier.NoModifier)
        started = time.perf_counter()
        QApplication.sendEvent(timeline, event)
        moves.append(time.perf_counter() - started)

    spy = EngineSpy()
    remaining = list(path)
    mover = QTimer()
    mover.setInterval(MOVE_MS)

    def next_move() -> None:
        if remaining:
            send(QMouseEvent.Type.MouseMove, remaining.pop(0), Qt.MouseButton.LeftButton)
        else:
            mover.stop()

    mover.timeout.connect(next_move)
    collected: list[tuple[float, float, int]] = []
    with spying(spy), collections_timed(collected):
        send(QMouseEvent.Type.MouseButtonPress, path[0], Qt.MouseButton.LeftButton)
        heartbeat.start()
        mover.start()
        spin(app, lambda: not mover.isActive(), 600)
        shown: list[bool] = []
        window.browser.tree_shown.connect(lambda: shown.append(window.browser.snapshot is None))
        send(QMouseEvent.Type.MouseButtonRelease, path[-1], Qt.MouseButton.NoButton)
        released = time.perf_counter()
        spin(app, lambda: bool(shown) and shown[-1] and spy.listing_in_flight == 0)
        settle = time.perf_counter() - released
        heartbeat.stop()
    gaps = [b - a for a, b in pairwise(beats)]
    busiest = max(b - a for a, b in pairwise(busy))
    tk_app.shut_down()
    move_times = moves[1:-1] or moves
    cuts = statistics.quantiles(gaps, n=1000)
    return Figures(count + 1, len(move_times), len(passed), max(gaps) * 1000, cuts[499] * 1000, cuts[899] * 1000,
                   cuts[989] * 1000, cuts[998] * 1000, busiest * 1000, statistics.median(move_times) * 1000,
                   max(move_times) * 1000, statistics.median(paints) * 1000 if paints else 0.0,
                   max(paints, default=0.0) * 1000, len(paints), len(arrivals), statistics.median(arrivals) * 1000,
                   max(arrivals) * 1000, spy.listings, spy.most_listings_at_once,
                   max((w for w, _, _ in collected), default=0.0) * 1000,
                   max((c for _, c, _ in collected), default=0.0) * 1000, sum(g == 2 for _, _, g in collected),
                   len(spy.on_gui_thread), settle * 1000)


def readme_table(f: Figures, load: float) -> str:
    """The figures bench/README.md reports, as one Markdown table: the longest stall, the frame times'
    percentiles, and what the window itself spent."""
    rows = [("longest stall (largest heartbeat gap)", f.longest_block_ms),
            ("frame time p50 / p90 / p99 / p99.9",
             f"{f.heartbeat_p50_ms:.1f} / {f.heartbeat_p90_ms:.1f} / {f.heartbeat_p99_ms:.1f} / "
             f"{f.heartbeat_p999_ms:.1f}"),
            ("longest the GUI thread was busy itself", f.longest_busy_ms),
            ("a mouse move, median / max", f"{f.move_median_ms:.1f} / {f.move_max_ms:.1f}"),
            ("a timeline repaint, median / max", f"{f.paint_median_ms:.1f} / {f.paint_max_ms:.1f}"),
            ("a listing's arrival, median / max", f"{f.arrival_median_ms:.1f} / {f.arrival_max_ms:.1f}"),
            ("longest garbage collection, wall / CPU", f"{f.gc_longest_ms:.1f} / {f.gc_longest_cpu_ms:.1f}"),
            ("settled after release", f.settle_ms)]
    lines = [f"| {f.snapshots:,} snapshots, {f.moves} moves, {f.listings} listings, load {load:.1f} | ms |",
             "|---|---|"]
    lines += [f"| {name} | {value:.1f} |" if isinstance(value, float) else f"| {name} | {value} |"
              for name, value in rows]
    lines.append(f"| engine calls on the GUI thread | {f.engine_calls_on_gui_thread} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=5000)
    parser.add_argument("--files", type=int, default=200, help="files in the folder shown (besides the log)")
    parser.add_argument("--work", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
                        help="where to make the repository (default: /dev/shm, a tmpfs)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="timekeep-drag-", dir=args.work))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(work / "home" / var.lower())  # never the real home's settings
    try:
        figures = measure(args.snapshots, work, args.files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, value in asdict(figures).items():
        print(f"{name:28} {value:.1f}" if isinstance(value, float) else f"{name:28} {value}")
    print()
    print(readme_table(figures, os.getloadavg()[0]))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
