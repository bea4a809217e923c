"""`timekeep-gui --quit-after-start`, for tests of an installed copy: once the event loop runs, say which
windows are shown and quit the way the Quit menu does. A person never needs it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def arm(app: QApplication, quit_app: Callable[[], None]) -> None:
    """Once the event loop turns (after the app has started), print `shown: TITLE; TITLE` (the visible
    top-level windows), then quit."""

    def report() -> None:
        shown = [widget.windowTitle() for widget in app.topLevelWidgets() if widget.isVisible()]
        print("shown: " + "; ".join(shown), flush=True)
        quit_app()

    QTimer.singleShot(0, report)
