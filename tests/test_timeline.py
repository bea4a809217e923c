"""The timeline on day one, after a week and after a year: every tick at its true time, the line starting
at the first snapshot, labels chosen for the span, close snapshots told apart without moving them, and the
coloured ticks explained."""

from __future__ import annotations

from datetime import datetime

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from timekeep.core.types import SnapshotInfo
from timekeep.gui.models.snapshots import SnapshotsModel
from timekeep.gui.widgets.timeline import Timeline
from timekeep.gui.widgets.timeline_scale import DAY_NS, HOUR_NS, MINUTE_NS, Scale, close_to, labels, span_for

NOW = int(datetime(2026, 11, 20, 15, 7).astimezone().timestamp()) * 10**9
SECOND = 10**9
FIRST_HOUR = [NOW - 50 * MINUTE_NS, NOW - 35 * MINUTE_NS, NOW - 20 * MINUTE_NS, NOW - 5 * MINUTE_NS]
FIRST_WEEK = [NOW - 6 * DAY_NS + k * 7 * HOUR_NS for k in range(20)]
A_YEAR = [NOW - 365 * DAY_NS + k * 3 * DAY_NS for k in range(120)] + [NOW - HOUR_NS, NOW - HOUR_NS + 10 * SECOND]


@pytest.mark.parametrize("times", [FIRST_HOUR, FIRST_WEEK, A_YEAR], ids=["hour", "week", "year"])
def test_true_times_map_to_x_exactly_and_the_line_starts_at_the_first_snapshot(times: list[int]) -> None:
    start, end = span_for(times, NOW)
    scale = Scale(start, end, 28.0, 828.0)
    xs = [scale.x(t) for t in times]
    assert xs == sorted(xs) and scale.x(NOW) == 828.0
    for t, x in zip(times, xs, strict=True):
        assert x == pytest.approx(28.0 + (t - start) / (end - start) * 800.0, abs=1e-6)
        assert abs(scale.ns(x) - t) <= (end - start) // 800 // 100 + 1  # back again within rounding
    assert 28.0 + 800 / 25 < xs[0] < 28.0 + 800 / 15  # a twentieth of the span before the first, no more


def test_a_few_seconds_of_history_fill_the_line() -> None:
    start, end = span_for([NOW - 20 * SECOND], NOW)
    assert end - start == MINUTE_NS + MINUTE_NS // 20  # at least a minute, and the first tick well inside
    assert Scale(start, end, 0.0, 1000.0).x(NOW - 20 * SECOND) > 600


@pytest.mark.parametrize(("times", "expected"), [
    (FIRST_HOUR, ["14:20", "14:30", "14:40", "14:50", "15:00"]),
    (FIRST_WEEK, ["2026-11-15", "2026-11-16", "2026-11-17", "2026-11-18", "Yesterday", "Today"]),
    (A_YEAR, ["2026-01", "2026-04", "2026-07", "2026-10"]),
], ids=["hour", "week", "year"])
def test_labels_suit_the_span(times: list[int], expected: list[str]) -> None:
    start, end = span_for(times, NOW)
    found = labels(Scale(start, end, 0.0, 800.0), datetime.fromtimestamp(NOW / 1e9).astimezone())
    assert [text for _x, text in found] == expected
    assert all(0.0 <= x <= 800.0 for x, _text in found)


def test_close_ticks_form_one_group_and_far_ones_do_not() -> None:
    xs = [10.0, 100.0, 102.0, 104.5, 200.0, 800.0, 801.0]
    assert close_to(xs, 2) == range(1, 4) and close_to(xs, 1) == range(1, 4)
    assert close_to(xs, 0) == range(0, 1) and close_to(xs, 6) == range(5, 7)


@pytest.fixture
def year_line(qtbot):  # type: ignore[no-untyped-def]
    model = SnapshotsModel()
    model.set_snapshots([SnapshotInfo(i + 1, t, "schedule") for i, t in enumerate(A_YEAR)])
    timeline = Timeline(model, clock=lambda: NOW)
    qtbot.addWidget(timeline)
    timeline.resize(820, timeline.sizeHint().height())
    timeline.show()
    return timeline


def test_the_widget_moves_no_tick_and_tells_close_snapshots_apart(qtbot, year_line) -> None:  # type: ignore[no-untyped-def]
    timeline = year_line
    scale = timeline.scale()
    assert timeline.tick_xs() == [scale.x(t) for t in A_YEAR] + [scale.right]  # each at its true time
    last, before = len(A_YEAR) - 1, len(A_YEAR) - 2
    assert timeline.tick_xs()[last] - timeline.tick_xs()[before] < 1  # ten seconds apart on a year: one place
    timeline.set_position(before)
    assert timeline.caption() == "Showing 2026-11-20 14:07:00 (1 of 3 here)"  # with Now, an hour away
    timeline.setFocus()
    qtbot.keyClick(timeline, Qt.Key.Key_Right)
    assert timeline.position == last and timeline.caption() == "Showing 2026-11-20 14:07:10 (2 of 3 here)"
    tip = timeline._tooltip_at(timeline.tick_xs()[last])
    assert tip.splitlines()[:4] == ["3 snapshots close together:", "   2026-11-20 14:07:00",
                                    "▸ 2026-11-20 14:07:10", "   Now"]
    first = timeline._tooltip_at(timeline.tick_xs()[0])
    assert first.startswith("2025-11-20 15:07:00")  # alone: its own description


def test_the_coloured_ticks_are_explained(qtbot, year_line) -> None:  # type: ignore[no-untyped-def]
    timeline = year_line
    timeline.set_marked(frozenset({1, 5}), "chapter-1.md")
    assert "taller marks: Changes to chapter-1.md" in timeline.accessibleDescription()
    x = timeline.tick_xs()[4]
    assert timeline._tooltip_at(x).endswith("chapter-1.md changed here\nLooking up what changed…")
    pos = QPoint(int(x), int(timeline._axis_y()))
    QApplication.sendEvent(timeline, QHelpEvent(QEvent.Type.ToolTip, pos, timeline.mapToGlobal(pos)))
    assert "chapter-1.md changed here" in QToolTip.text()
    timeline.set_marked(frozenset())
    assert "taller marks" not in timeline.accessibleDescription()
