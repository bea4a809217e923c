"""The tray icon, where the desktop has a tray: status, Back up now, Open, Quit — and notifications.

Without a tray (some desktops, offscreen tests) everything still works: notifications fall back to the
window's status bar through `fallback`, and closing the window quits.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from timekeep.gui.assets import Assets


class Tray(QObject):
    open_requested = Signal()
    backup_requested = Signal()
    quit_requested = Signal()

    def __init__(self, assets: Assets, enabled: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fallback: Callable[[str, str], None] = lambda title, text: None
        self.icon: QSystemTrayIcon | None = None
        self.status_action = QAction("Starting…", self)
        self.status_action.setEnabled(False)
        if enabled and QSystemTrayIcon.isSystemTrayAvailable():
            self._build(assets)

    @property
    def available(self) -> bool:
        return self.icon is not None

    def _build(self, assets: Assets) -> None:
        self.menu = QMenu()
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addAction(assets.icon("backup"), "Back up now", self.backup_requested.emit)
        self.menu.addAction(assets.icon("open"), "Open Timekeep", self.open_requested.emit)
        self.menu.addSeparator()
        self.menu.addAction(assets.icon("quit"), "Quit", self.quit_requested.emit)
        self.icon = QSystemTrayIcon(assets.app_icon(), self)
        self.icon.setToolTip("Timekeep")
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.show()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_requested.emit()

    def set_status(self, text: str) -> None:
        self.status_action.setText(text)
        if self.icon is not None:
            self.icon.setToolTip(f"Timekeep — {text}")

    def notify(self, title: str, text: str, error: bool = False) -> None:
        if self.icon is None:
            self.fallback(title, text)
            return
        kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, text, kind, 10_000 if error else 5_000)

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()
