"""Dragging the timeline over 5,000 snapshots in the real window: every engine call stays off the GUI thread,
at most one listing runs at a time and they are coalesced (one per pause of the drag, one where the handle is
let go), the ticks' places are worked out once for the whole drag, not at each mouse move, and no listing
resets the folder view (each moves it by the rows that changed). The frame times themselves are
bench/timeline_drag.py's to measure (bench/README.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from bench.many_snapshots import LOG
from bench.timeline_drag import HOUR_NS, EngineSpy, make_history, spying
from tests.test_gui_window import start_app, wait_tree
from timekeep.gui.widgets import timeline_geometry

SNAPSHOTS = 5000
STEP_PX = 4  # a quick hand: a mouse event every 4 pixels


def test_dragging_over_5000_snapshots_keeps_the_engine_off_the_gui_thread(qtbot, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                         monkeypatch) -> None:
    work = Path(tempfile.mkdtemp(prefix="tk-drag-", dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp_path))
    app = None
    try:
        repo, src = make_history(work, SNAPSHOTS)  # a tmpfs: 5,000 manifests are written in seconds
        app, _ = start_app(qtbot, tmp_path, repo)
        window, timeline = app.window, app.window.timeline
        qtbot.waitUntil(lambda: timeline.now_position == SNAPSHOTS + 1 and window.tree_model.rowCount() > 0,
                        timeout=30_000)
        end = timeline.snapshots[-1].time_ns + HOUR_NS
        timeline.clock = lambda: end  # the last snapshot an hour ago, whatever the test machine's clock says
        wait_tree(qtbot, window, lambda: timeline.set_position(0))
        qtbot.waitUntil(lambda: window.browser.select_path(os.fsencode(src / LOG)), timeout=10_000)
        qtbot.waitUntil(lambda: bool(timeline.marked), timeout=10_000)  # its changes are marked on the line
        placed: list[int] = []
        real_geometry = timeline_geometry.geometry
        monkeypatch.setattr(timeline_geometry, "geometry",
                            lambda *args: placed.append(1) or real_geometry(*args))
        passed: set[int] = set()
        timeline.position_changed.connect(lambda _snap: passed.add(timeline.position))
        pauses: list[int] = []
        window.browser._drag_pause.timeout.connect(lambda: pauses.append(1))
        resets: list[int] = []
        window.tree_model.modelReset.connect(lambda: resets.append(1))
        xs = timeline.tick_xs()
        spy = EngineSpy()
        with spying(spy):
            qtbot.mousePress(timeline, Qt.MouseButton.LeftButton, pos=QPoint(int(xs[0]), 14))
            for x in range(int(xs[0]), int(xs[-1]) + STEP_PX, STEP_PX):
                move = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, 14), QPointF(x, 14),
                                   Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
                QApplication.sendEvent(timeline, move)
                QApplication.processEvents()  # answers arrive between a hand's mouse events
            shown: list[bool] = []
            window.browser.tree_shown.connect(lambda: shown.append(window.browser.snapshot is None))
            qtbot.mouseRelease(timeline, Qt.MouseButton.LeftButton, pos=QPoint(int(xs[-1]), 14))
            qtbot.waitUntil(lambda: bool(shown) and shown[-1] and spy.listing_in_flight == 0, timeout=30_000)
        assert timeline.current() is None and len(passed) > 200  # from the first snapshot to Now
        assert spy.on_gui_thread == [] and spy.elsewhere > 0  # listings, previews: all in workers
        assert spy.most_listings_at_once == 1
        assert 2 <= spy.listings <= len(pauses) + 2  # one at the press, one per pause, one where it was let go
        assert len(placed) <= 1  # the ticks were placed once (or not at all: the press found them placed)
        assert resets == []  # each listing moved the folder view by the rows that changed, none reset it
    finally:
        if app is not None:
            app.shut_down()
        shutil.rmtree(work, ignore_errors=True)
