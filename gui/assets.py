"""The one way to find `resources/`: in a checkout, in an installed copy, and in a PyInstaller bundle.

Line icons are drawn in one neutral grey in the SVG files; `Assets.icon` repaints that grey in the palette's
text colour, so they read on light and dark palettes alike, and renders them at several sizes so they stay
sharp at 200% scaling. A missing file gives an empty icon, never an error: every button also has text.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

LINE_GREY = b"#4f5b6b"
SIZES = (16, 24, 32, 48, 64, 128)


def resource_roots() -> list[Path]:
    """Candidate folders, most specific first: bundle, checkout, installed data files."""
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(Path(__file__).resolve().parent.parent / "resources")
    roots.append(Path(sys.prefix) / "share" / "timekeep" / "resources")
    return roots


def resource_path(relative: str) -> Path | None:
    """The first existing `resources/<relative>`, or None."""
    for root in resource_roots():
        candidate = root / relative
        if candidate.exists():
            return candidate
    return None


class Assets:
    """Icons by name, recoloured for the current palette and cached for the life of the app."""

    def __init__(self, text_colour: QColor | None = None) -> None:
        self._colour = text_colour
        self._cache: dict[str, QIcon] = {}

    def icon(self, name: str) -> QIcon:
        if name not in self._cache:
            self._cache[name] = self._load(f"icons/{name}.svg")
        return self._cache[name]

    def app_icon(self) -> QIcon:
        if "__app__" not in self._cache:
            self._cache["__app__"] = self._load("timekeep.svg")
        return self._cache["__app__"]

    def _load(self, relative: str) -> QIcon:
        path = resource_path(relative)
        if path is None:
            return QIcon()
        data = path.read_bytes().replace(LINE_GREY, self._text_colour().name().encode())
        renderer = QSvgRenderer(QByteArray(data))
        icon = QIcon()
        for px in SIZES:
            icon.addPixmap(_render(renderer, px))
        return icon

    def _text_colour(self) -> QColor:
        if self._colour is not None:
            return self._colour
        app = QApplication.instance()
        palette = app.palette() if isinstance(app, QApplication) else QPalette()
        colour = palette.color(QPalette.ColorRole.WindowText)
        return QColor("#4f5b6b") if colour.lightness() < 80 else colour


def _render(renderer: QSvgRenderer, px: int) -> QPixmap:
    pixmap = QPixmap(px, px)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, px, px))
    painter.end()
    return pixmap
