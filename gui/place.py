"""Opening the app at a place, as the file managers' right-click asks: `timekeep-gui --file PATH` (its
versions; `--previous` selects the version before the file's current content), `--folder PATH` (the
folder, with everything deleted at any depth below it) and `--browse PATH` (the folder's history mounted read-only and
opened in the file manager, gui/browse.py; unmounted when the window quits).

The window comes up as always; once the repository's history is in, the opener shows that file's folder in
the window and opens the versions dialog, or the deleted-files dialog, in front of it. A path outside every
protected folder, or a backup that cannot be opened, is said in one sentence in the window.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog

from timekeep.core.paths import below, is_inside
from timekeep.core.types import FolderInfo, VersionInfo
from timekeep.gui import wording
from timekeep.gui.dialogs.deleted import DeletedDialog
from timekeep.gui.dialogs.versions import VersionsDialog
from timekeep.gui.engine_bridge import History
from timekeep.gui.main_window import PATH_ROLE, MainWindow

if TYPE_CHECKING:
    from timekeep.gui.app import TimekeepApp


@dataclass(frozen=True)
class Place:
    kind: Literal["file", "folder", "browse"]
    path: bytes  # absolute, links resolved: as the protected folders are recorded
    previous: bool = False


def place_argument(argv: Sequence[str]) -> Place | None:
    """`--file PATH`, `--folder PATH` or `--browse PATH` (also `--file=PATH`) among the arguments, with
    `--previous`."""
    kinds: dict[str, Literal["file", "folder", "browse"]] = {"file": "file", "folder": "folder", "browse": "browse"}
    for i, arg in enumerate(argv):
        for kind in kinds:
            value = argv[i + 1] if arg == f"--{kind}" and i + 1 < len(argv) else None
            if arg.startswith(f"--{kind}="):
                value = arg.split("=", 1)[1]
            if value:
                path = os.fsencode(os.path.realpath(os.path.expanduser(value)))
                return Place(kinds[kind], path, "--previous" in argv)
    return None


def protecting(path: bytes, folders: Sequence[FolderInfo]) -> FolderInfo | None:
    return next((f for f in folders if is_inside(path, f.path)), None)


def refusal(place: Place, folders: Sequence[FolderInfo]) -> str:
    """Why a path has nothing to show: one sentence naming what is protected."""
    what = wording.display_path(place.path)
    if not folders:
        return f"{what} has no backups: Timekeep protects no folder yet."
    named = ", ".join(wording.display_path(f.path) for f in folders)
    return f"{what} is not in a folder Timekeep protects ({named}), so it has no backups."


def previous_row(shown: Sequence[VersionInfo], on_disk: tuple[int, int] | None) -> int | None:
    """The row of the newest version the file on disk does not already hold: the newest stored one when the
    file changed since (or is gone), else the one before it. Deletions are never offered."""
    rows = [r for r, v in enumerate(shown) if v.state != "deleted"]
    if not rows:
        return None
    newest = shown[rows[-1]]
    unchanged = on_disk is not None and shown[-1].state != "deleted" and on_disk == (newest.size, newest.mtime_ns)
    if not unchanged:
        return rows[-1]
    return rows[-2] if len(rows) > 1 else None


def on_disk(path: bytes) -> tuple[int, int] | None:
    """Size and modification time of the file now (a worker asks), or None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class PlaceOpener(QObject):
    opened = Signal(object)  # the dialog shown in front of the window
    refused = Signal(str)  # the sentence the window shows instead

    def __init__(self, app: TimekeepApp, place: Place) -> None:
        super().__init__(app)
        self.app, self.place = app, place
        self.dialog: QDialog | None = None
        app.bridge.repository_opened.connect(self._history_in)
        app.bridge.repository_missing.connect(self._missing)
        app.bridge.repository_failed.connect(self._failed)

    def _done(self) -> None:
        bridge = self.app.bridge
        for signal, slot in ((bridge.repository_opened, self._history_in), (bridge.repository_missing, self._missing),
                             (bridge.repository_failed, self._failed)):
            signal.disconnect(slot)

    def _refuse(self, sentence: str) -> None:
        """Said after the window's own words for this state (its slots may run after this one's)."""
        QTimer.singleShot(0, lambda: self._say(sentence))

    def _say(self, sentence: str) -> None:
        window = self.app.window
        if window is not None:
            window.preview.show_message(sentence)
            window.statusBar().showMessage(sentence)
        self.refused.emit(sentence)

    def _missing(self, _repo: str) -> None:
        self._refuse(f"{wording.display_path(self.place.path)} can be shown once the backup drive is connected.")

    def _failed(self, message: str) -> None:
        self._done()
        self._refuse(f"{wording.display_path(self.place.path)} cannot be shown: {message.rstrip('.')}.")

    def _history_in(self, history: History) -> None:
        """Acts once the window has drawn this history (its own slot may come after this one)."""
        self._done()
        QTimer.singleShot(0, lambda: self._show(history))

    def _show(self, history: History) -> None:
        window = self.app.window
        folder = protecting(self.place.path, history.folders)
        if window is None or folder is None:
            self._say(refusal(self.place, history.folders))
            return
        shown = self.place.path if self.place.kind != "file" else os.path.dirname(self.place.path)
        if self.place.kind == "browse":  # once the tree has it selected, so the mount opens that folder
            window.browser.tree_shown.connect(lambda: QTimer.singleShot(0, window.browse_files.browse),
                                              Qt.ConnectionType.SingleShotConnection)
            show_in_window(window, folder.path, shown, self.place.path)
            return
        show_in_window(window, folder.path, shown, self.place.path)
        self.dialog = self._versions(window) if self.place.kind == "file" else self._deleted(window)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.show()
        self.dialog.raise_()
        self.opened.emit(self.dialog)

    def _versions(self, window: MainWindow) -> VersionsDialog:
        dialog = VersionsDialog(self.app.bridge, self.place.path, window)
        dialog.restore_requested.connect(lambda p, sid, ns: window.actions_.start_restore(p, sid, ns, None))
        if self.place.previous:
            self.app.workers.start(on_disk, self.place.path, on_done=lambda now: self._pick_previous(dialog, now))
        return dialog

    def _pick_previous(self, dialog: VersionsDialog, now: tuple[int, int] | None) -> None:
        """Select the previous version once the dialog has its versions (it selects the newest itself)."""
        def pick() -> None:
            row = previous_row(dialog.model.shown, now)
            if row is not None:
                dialog.table.selectRow(row)
                dialog.preview_row(dialog.model.index(row, 0))

        if dialog.model.rowCount():
            pick()
        else:
            dialog.model.modelReset.connect(lambda: QTimer.singleShot(0, pick), Qt.ConnectionType.SingleShotConnection)

    def _deleted(self, window: MainWindow) -> DeletedDialog:
        return DeletedDialog(self.app.bridge, self.place.path, self.app.prompts, self.app.assets, window)


def show_in_window(window: MainWindow, root: bytes, folder: bytes, selected: bytes) -> None:
    """The window's tree at `folder` inside the protected folder `root`, opened down to it, `selected` chosen."""
    for row in range(window.folders_list.count()):
        if window.folders_list.item(row).data(PATH_ROLE) == root:
            window.folders_list.setCurrentRow(row)
    browser = window.browser
    browser.show_folder(root)
    opened, current = set(), folder
    while below(current, root):
        opened.add(current)
        current = os.path.dirname(current)
    browser.expanded.update(opened)
    if selected != root:
        browser.tree_shown.connect(lambda: browser.select_path(selected), Qt.ConnectionType.SingleShotConnection)
    browser.reload()


def open_place(app: TimekeepApp, place: Place | None) -> PlaceOpener | None:
    return PlaceOpener(app, place) if place is not None else None
