"""The timeline's legend: what the taller, coloured ticks mean ("changes to chapter-1.md"), drawn at the
left under the line whenever a file's changes are marked."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QWidget

from timekeep.gui import palette as colours

LEFT = 6.0


def legend_text(name: str) -> str:
    return f"Changes to {name}"


def draw_legend(painter: QPainter, widget: QWidget, baseline: float, name: str) -> float:
    """A marked tick and its meaning at the left of the caption line; returns the right edge it used."""
    metrics = QFontMetrics(widget.font())
    text = metrics.elidedText(legend_text(name), Qt.TextElideMode.ElideMiddle, int(widget.width() * 0.4))
    colour = colours.marked_tick(widget.palette())
    painter.setPen(QPen(colour, 3))
    top = baseline - metrics.ascent()
    painter.drawLine(QPointF(LEFT + 2, top), QPointF(LEFT + 2, baseline + 1))
    painter.setPen(widget.palette().color(widget.foregroundRole()))
    painter.drawText(QPointF(LEFT + 9, baseline), text)
    return LEFT + 9 + metrics.horizontalAdvance(text)
