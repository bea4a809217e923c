"""The timeline along the window: a tick per snapshot at its real time, labels by day or hour, "Now" at the end.

Ticks stand at their true times (see `timeline_scale`); snapshots too close to tell apart by eye stay
where they are, and the tooltip lists them all while the caption says which of them is shown ("2 of 3
here"), the arrow keys stepping through them one by one. Times read to the minute unless two snapshots
share a minute; then every time on the line reads to the second (`time_words`).
The position is an index: 0..n-1 are the snapshots (oldest first), n is "Now". Dragging or clicking moves to
the nearest tick; the arrow keys step snapshot by snapshot, Ctrl+arrows jump between the snapshots where the
selected file changed, Home/End jump to the first snapshot and to Now.
Shift-click, a Shift-drag or Shift+arrows choose a range between the position and another moment, drawn
as a band; `range_chosen` then says what changed between them (gui/range_diff.py); a plain click ends it.
`position_changed` fires on every move (the window queries in workers and drops stale answers); a tick's
tooltip says what changed in that snapshot, read in a worker the first time it is shown and put in the
tooltip when it arrives. Ticks of snapshots where the selected file changed stand taller, in the marked
colour, and a legend under the line names the file they belong to. Every colour
comes from the palette, so a dark desktop reads as well as a light one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QKeyEvent, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from timekeep.core.types import SnapshotInfo
from timekeep.gui import palette as colours
from timekeep.gui import wording
from timekeep.gui.models.snapshots import SnapshotsModel, describe
from timekeep.gui.time_words import formatter
from timekeep.gui.widgets.timeline_geometry import Geometry, GeometryCache
from timekeep.gui.widgets.timeline_legend import draw_legend, legend_text
from timekeep.gui.widgets.timeline_scale import Scale

MARGIN = 28


class Timeline(QWidget):
    position_changed = Signal(object)  # the SnapshotInfo now shown, or None for "Now"
    range_chosen = Signal(object, object)  # the earlier SnapshotInfo, the later one (None: Now)
    drag_finished = Signal()  # the handle was let go (while `dragging`, listings may wait: gui/browser.py)

    def __init__(self, model: SnapshotsModel, clock: Any = time.time_ns, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.clock = model, clock
        self.position = 0
        self._shown_id: int | None = None  # None: Now
        self.marked: frozenset[int] = frozenset()
        self.marked_name = ""  # the file whose changes the marked ticks are
        self.range: tuple[int, int] | None = None  # (anchor, far end) positions of a range chosen
        self._when: Callable[[int], str] = wording.when
        self._tip: tuple[int, QPoint, float] | None = None  # the snapshot whose tooltip shows, where, at which x
        self._geometry = GeometryCache()
        self.dragging = False  # the handle is held down and moving with the mouse
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Timeline")
        self.setToolTip("Drag, click, or use the arrow keys to move through the snapshots; Shift-click (or "
                        "Shift+arrows) to see what changed between two moments")
        model.modelReset.connect(self._snapshots_changed)
        model.summary_arrived.connect(self._summary_arrived)
        self._snapshots_changed()

    # state
    @property
    def snapshots(self) -> tuple[SnapshotInfo, ...]:
        return self.model.snapshots

    @property
    def now_position(self) -> int:
        return len(self.snapshots)

    def current(self) -> SnapshotInfo | None:
        """The snapshot at the position, None at Now."""
        return self.snapshots[self.position] if self.position < len(self.snapshots) else None

    def set_position(self, position: int) -> None:
        position = max(0, min(position, self.now_position))
        if position == self.position:
            return
        self.position = position
        snap = self.current()
        self._shown_id = None if snap is None else snap.id
        self._describe_position()
        self.update()
        self.position_changed.emit(self.current())

    def set_snapshot(self, snapshot_id: int | None) -> None:
        found = None if snapshot_id is None else self.model.position_of(snapshot_id)
        self.set_position(self.now_position if found is None else found)

    def set_marked(self, snapshot_ids: frozenset[int], name: str = "") -> None:
        """Mark the snapshots where the file `name` changed (none: no legend)."""
        self.marked, self.marked_name = snapshot_ids, name if snapshot_ids else ""
        self._describe_position()
        self.update()

    def step(self, delta: int) -> None:
        self.set_position(self.position + delta)

    def choose_range(self, anchor: int, end: int) -> None:
        """The moments from `anchor` to `end` (positions, either order); the same position twice ends it."""
        end = max(0, min(end, self.now_position))
        self.range = None if end == anchor else (anchor, end)
        self.update()
        if self.range is not None:
            first, last = sorted(self.range)
            later = self.snapshots[last] if last < self.now_position else None
            self.range_chosen.emit(self.snapshots[first], later)

    def jump_marked(self, direction: int) -> None:
        """To the previous or next snapshot where the selected file changed (Ctrl+arrow)."""
        marked = [i for i, snap in enumerate(self.snapshots) if snap.id in self.marked]
        ahead = [i for i in marked if (i - self.position) * direction > 0]
        if ahead:
            self.set_position(min(ahead) if direction > 0 else max(ahead))

    def _snapshots_changed(self) -> None:
        """New history: keep showing the same snapshot (or Now); if it is gone, move to Now and say so."""
        found = None if self._shown_id is None else self.model.position_of(self._shown_id)
        self.position = self.now_position if found is None else found
        moved = found is None and self._shown_id is not None
        self._shown_id = None if found is None else self._shown_id
        self._when = formatter([s.time_ns for s in self.snapshots])
        self.range = None
        self._describe_position()
        self.update()
        if moved:
            self.position_changed.emit(None)

    def time_words(self, snap: SnapshotInfo) -> str:
        """The snapshot's time: to the minute, or to the second when any two snapshots share a minute."""
        return self._when(snap.time_ns)

    def caption(self) -> str:
        """What the line says under the handle: the time shown, and which of a close group it is."""
        snap = self.current()
        if snap is None:
            return "Showing now"
        group = self.placement().close_to(self.position)
        here = f" ({self.position - group.start + 1} of {len(group)} here)" if len(group) > 1 else ""
        return f"Showing {self.time_words(snap)}{here}"

    def _describe_position(self) -> None:
        legend = f"; taller marks: {legend_text(self.marked_name)}" if self.marked_name else ""
        self.setAccessibleDescription(f"{self.caption()}; {len(self.snapshots)} snapshots{legend}")

    # geometry
    def sizeHint(self) -> QSize:
        return QSize(600, QFontMetrics(self.font()).height() * 2 + 40)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, QFontMetrics(self.font()).height() * 2 + 40)

    def placement(self) -> Geometry:
        """Ticks, groups and labels for this history, width and second (worked out once for all of them)."""
        right = self.width() - MARGIN - QFontMetrics(self.font()).horizontalAdvance("Now") // 2
        return self._geometry.get(self.snapshots, self.clock(), MARGIN, max(MARGIN + 1, right))

    def scale(self) -> Scale:
        return self.placement().scale

    def tick_xs(self) -> list[float]:
        """x of every position: one per snapshot, then Now at the right end."""
        return list(self.placement().xs)

    def _axis_y(self) -> float:
        return 14.0

    # input
    def keyPressEvent(self, event: QKeyEvent) -> None:
        moves = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_PageUp: -10, Qt.Key.Key_PageDown: 10}
        key = Qt.Key(event.key())
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            anchor, end = self.range or (self.position, self.position)
            if 0 <= end + moves[key] <= self.now_position:
                self.choose_range(anchor, end + moves[key])
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.jump_marked(moves[key])
        elif key in moves:
            self.step(moves[key])
        elif key == Qt.Key.Key_Home:
            self.set_position(0)
        elif key == Qt.Key.Key_End:
            self.set_position(self.now_position)
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            clicked = self.placement().nearest(event.position().x())
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.choose_range(self.position, clicked)
                return
            self.range = None
            self.dragging = True
            self.set_position(clicked)
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.dragging and event.button() == Qt.MouseButton.LeftButton:
            self.dragging = False
            self.drag_finished.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not event.buttons() & Qt.MouseButton.LeftButton:
            return
        under = self.placement().nearest(event.position().x())
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:  # a Shift-drag stretches the range
            anchor, end = self.range or (self.position, self.position)
            if under != end:
                self.choose_range(anchor, under)
        elif self.range is None:
            self.set_position(under)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self._tooltip_at(event.pos().x())
            if self._tip is not None:
                self._tip = (self._tip[0], event.globalPos(), self._tip[2])
            QToolTip.showText(event.globalPos(), text, self)
            return True
        return super().event(event)

    def _tooltip_at(self, x: float) -> str:
        """The tooltip for the tick under `x`; a snapshot's summary is asked for if not known yet."""
        geo = self.placement()
        i = geo.nearest(x)
        self._tip = None
        if abs(geo.xs[i] - x) > 8:
            return self.toolTip()
        group = geo.close_to(i)
        heading = self._group_tip(group) + "\n\n" if len(group) > 1 else ""
        if i == self.now_position:
            return heading + "Now: the folders as they are on this computer"
        snap = self.snapshots[i]
        summary = self.model.want_summary(snap.id)
        self._tip = (snap.id, QPoint(), x)
        text = heading + describe(snap, summary, self.model.roots) + self._marked_words(snap)
        return text if summary is not None else f"{text}\nLooking up what changed…"

    def _marked_words(self, snap: SnapshotInfo) -> str:
        return f"\n{self.marked_name} changed here" if snap.id in self.marked and self.marked_name else ""

    def _group_tip(self, group: range) -> str:
        """Snapshots too close to tell apart on the line: each by time; the arrow keys step through them."""
        lines = [f"{len(group)} snapshots close together:"]
        for i in list(group)[:10]:
            snap = None if i == self.now_position else self.snapshots[i]
            words = "Now" if snap is None else self.time_words(snap) + self._marked_words(snap).replace("\n", " · ")
            lines.append(("▸ " if i == self.position else "   ") + words)
        if len(group) > 10:
            lines.append(f"   … and {len(group) - 10} more")
        lines.append("Click, then use ← and → to step through them. Nearest the pointer:")
        return "\n".join(lines)

    def _summary_arrived(self, snapshot_id: int) -> None:
        """Refresh the tooltip still showing for that snapshot with what the worker found."""
        if self._tip is None or self._tip[0] != snapshot_id or not QToolTip.isVisible():
            return
        where = self._tip[1]
        text = self._tooltip_at(self._tip[2])
        if self._tip is not None:
            self._tip = (self._tip[0], where, self._tip[2])
        QToolTip.showText(where, text, self)

    # drawing
    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        geo, y = self.placement(), self._axis_y()
        scale = geo.scale
        text = palette.color(QPalette.ColorRole.WindowText)
        faint = palette.color(QPalette.ColorRole.Mid)
        if self.range is not None:
            left, right = sorted(geo.xs[p] for p in self.range)
            painter.fillRect(QRectF(left, y - 10, max(2.0, right - left), 20), colours.range_band(palette))
        painter.setPen(QPen(faint, 2))
        painter.drawLine(QPointF(scale.left, y), QPointF(scale.right, y))
        self._draw_ticks(painter, geo, text, y, colours.accent(palette), colours.marked_tick(palette))
        self._draw_labels(painter, geo, text, y)
        self._draw_handle(painter, geo, y)
        if self.hasFocus():
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 1, Qt.PenStyle.DotLine))
            painter.drawRect(self.rect().adjusted(1, 1, -2, -2))
        painter.end()

    def _draw_ticks(self, painter: QPainter, geo: Geometry, text: QColor, y: float, accent: QColor,
                    marked_colour: QColor) -> None:
        """Marked ticks (the selected file changed there) stand taller, over the plain ones."""
        plain, marked = self._geometry.tick_lines(geo, self.snapshots, self.marked, y, lambda m: 9 if m else 6)
        painter.setPen(QPen(text, 1.5))
        painter.drawLines(plain)
        painter.setPen(QPen(marked_colour, 3))
        painter.drawLines(marked)
        painter.setPen(QPen(accent, 2))
        painter.drawLine(QPointF(geo.xs[-1], y - 8), QPointF(geo.xs[-1], y + 8))

    def _draw_labels(self, painter: QPainter, geo: Geometry, text: QColor, y: float) -> None:
        metrics = QFontMetrics(self.font())
        baseline = y + 14 + metrics.ascent()
        now_width = metrics.horizontalAdvance("Now")
        painter.setPen(text)
        last_right = -1e9
        scale = geo.scale
        for x, label in geo.labels:
            width = metrics.horizontalAdvance(label)
            left = max(0.0, x - width / 2)
            if left < last_right + 8 or left + width > scale.right - now_width:
                continue
            painter.drawText(QPointF(left, baseline), label)
            painter.drawLine(QPointF(x, y + 2), QPointF(x, y + 6))  # the label's place on the axis
            last_right = left + width
        painter.setPen(colours.accent(self.palette()))
        painter.drawText(QPointF(scale.right - now_width / 2, baseline), "Now")
        self._draw_current_time(painter, geo, metrics, baseline + metrics.height() + 2, text)

    def _draw_current_time(self, painter: QPainter, geo: Geometry, metrics: QFontMetrics, baseline: float,
                           text: QColor) -> None:
        snap = self.current()
        caption = self.caption()
        legend_right = draw_legend(painter, self, baseline, self.marked_name) if self.marked_name else 0.0
        x = geo.xs[self.position] - metrics.horizontalAdvance(caption) / 2
        x = max(2.0 + legend_right, min(x, self.width() - metrics.horizontalAdvance(caption) - 2.0))
        painter.setPen(colours.accent(self.palette()) if snap is None else text)
        painter.drawText(QPointF(x, baseline), caption)

    def _draw_handle(self, painter: QPainter, geo: Geometry, y: float) -> None:
        x = geo.xs[self.position]
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Base), 2))
        painter.setBrush(colours.accent(self.palette()))
        painter.drawEllipse(QRectF(x - 6, y - 6, 12, 12))
