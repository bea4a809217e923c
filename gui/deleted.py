"""“Show deleted files”: everything that ever existed below a folder and is gone now, newest deletion first,
each restorable from its last version (gui/dialogs/deleted.py, listed by `Timekeep.gone_beneath`).

Offered on the folder view's right-click menu, in the File menu (Ctrl+Shift+D) and by the button beside the
search field; it acts on the folder selected, the folder holding the file selected, or else the protected
folder shown.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractButton

from timekeep.gui.dialogs.deleted import DeletedDialog

if TYPE_CHECKING:
    from timekeep.gui.main_window import MainWindow

KEYS = "Ctrl+Shift+D"  # D for deleted, beside Compare's Ctrl+D


class ShowDeleted(QObject):
    def __init__(self, window: MainWindow, button: QAbstractButton) -> None:
        super().__init__(window)
        self.window = window
        self.action = QAction(window.assets.icon("restore"), "Show deleted files…", window)
        self.action.setObjectName("show_deleted_action")
        self.action.setShortcut(QKeySequence(KEYS))
        self.action.setToolTip(button.toolTip())
        self.action.triggered.connect(self.show)
        window.actions_.extra.append(self.action)
        button.clicked.connect(self.show)
        self.dialog: DeletedDialog | None = None

    def folder(self) -> bytes | None:
        """The folder selected, the one holding the file selected, else the protected folder shown."""
        row = self.window.browser.selected
        if row is not None:
            return row.path if row.is_dir else os.path.dirname(row.path)
        return self.window.browser.root

    def show(self) -> DeletedDialog | None:
        folder = self.folder()
        if folder is None:
            self.window.statusBar().showMessage("Choose a protected folder first", 10_000)
            return None
        window = self.window
        dialog = DeletedDialog(window.bridge, folder, window.prompts, window.assets, window)
        dialog.actions_.restored.connect(lambda sentence: window.statusBar().showMessage(sentence, 15_000))
        dialog.actions_.restoring.connect(window.statusBar().showMessage)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.dialog = dialog
        return dialog
