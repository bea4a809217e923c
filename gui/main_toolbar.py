"""The window's toolbar: the actions used most, as buttons with their words beside the icons."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolBar, QWidget


def main_toolbar(parent: QWidget, first: list[QAction], then: list[QAction]) -> QToolBar:
    """A fixed toolbar of `first`, a separator, and `then`."""
    toolbar = QToolBar("Main", parent)
    toolbar.setObjectName("main_toolbar")  # saved and restored with the window's state
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.setMovable(False)
    toolbar.addActions(first)
    toolbar.addSeparator()
    toolbar.addActions(then)
    return toolbar
