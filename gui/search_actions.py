"""What a right-click on a search result offers: the folder view's own Restore, Restore to…, Show versions,
Compare and Copy path (`FileActions`), acting on the result's last version.

A deleted result restores what it was before it went (the engine never overwrites a file that differs: it
writes the old version beside it). Compare sets a present result's last version beside the file on this
computer; a result gone from the computer has nothing there, so its last version is set beside the one
before it, looked up in a worker.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QWidget

from timekeep.core.api import Timekeep
from timekeep.core.types import Found, VersionInfo
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.dialogs.compare import CompareDialog, Side
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.file_actions import FileActions, Target
from timekeep.gui.listing import Row
from timekeep.gui.prompts import Prompts


def found_target(found: Found | None, times: dict[int, int]) -> Target | None:
    """The result as the snapshot that last held it shows it: what Restore puts back."""
    if found is None or found.last_seen not in times:
        return None
    when = times[found.last_seen]
    row = Row(found.path, found.kind, found.size, found.mtime_ns, "" if found.present else "deleted")
    return Target(row, found.last_seen, when, (found.last_seen, when))


def version_before(tk: Timekeep, path: bytes, snapshot_id: int) -> tuple[VersionInfo, VersionInfo] | None:
    """Runs in a worker: the stored version in force at `snapshot_id` and the one before it, if any."""
    stored = [v for v in tk.versions(path) if v.state != "deleted" and v.snapshot_id <= snapshot_id]
    return (stored[-2], stored[-1]) if len(stored) >= 2 else None


class FoundActions(FileActions):
    """The folder view's commands on the selected search result. Their keys are the folder view's: while
    the results list has the focus it takes them first (a shortcut override), so Ctrl+R there restores the
    result, never the folder view's selection, and Qt never finds the two shortcuts ambiguous."""

    def __init__(self, bridge: EngineBridge, prompts: Prompts, assets: Assets, list_widget: QWidget,
                 target: Callable[[], Target | None]) -> None:
        super().__init__(bridge, prompts, assets, list_widget, target)
        for action in self.actions:
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        list_widget.installEventFilter(self)
        self.last_dialog: CompareDialog | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and isinstance(event, QKeyEvent):
            pressed = QKeySequence(event.keyCombination())
            action = next((a for a in self.actions if a.isEnabled() and a.shortcut() == pressed), None)
            if action is not None:
                if event.type() == QEvent.Type.KeyPress:
                    action.trigger()
                event.accept()
                return True
        return super().eventFilter(watched, event)

    def refresh(self) -> None:
        super().refresh()
        target = self.target()
        gone = target is not None and target.row.deleted
        self.compare_action.setText("Compare with the version before" if gone else "Compare with current")

    def compare(self) -> CompareDialog | None:
        target = self.target()
        if target is None or target.snapshot_id is None or target.row.kind != "file":
            return None
        if not target.row.deleted:
            return self._open(target.row.path, None)
        path, last = target.row.path, target.snapshot_id
        self.bridge.read(version_before, path, last, on_done=lambda pair: self._compare_before(path, pair),
                         on_failed=lambda message: self._say(f"{wording.display_name(path)}: {message}"))
        return None

    def _compare_before(self, path: bytes, pair: tuple[VersionInfo, VersionInfo] | None) -> None:
        if pair is None:
            self._say(f"{wording.display_name(path)} has only one version: nothing to compare it with")
            return
        before, last = pair
        self._open(path, (Side(path, before.snapshot_id, before.time_ns), Side(path, last.snapshot_id, last.time_ns)))

    def _open(self, path: bytes, sides: tuple[Side, Side] | None) -> CompareDialog:
        target = self.target()
        stored = target.stored if target is not None and target.stored is not None else (0, 0)
        dialog = CompareDialog(self.bridge, path, *stored, self.window.window(), sides=sides)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.last_dialog = dialog
        return dialog

    def _say(self, sentence: str) -> None:
        self.prompts.inform(self.window.window(), "Compare", wording.sentence(sentence))
