"""What a right-click on a file or folder offers: Restore, Restore to…, Show versions, Compare with current,
Copy path — as QActions, so the same commands have keyboard shortcuts and sit in the menu bar too.

Restoring never overwrites a file that differs: the engine writes the old version beside it. Whatever
happened ends in one plain sentence ("Restored report.txt as it was on 2026-11-18 19:03."), followed by
what was left as it is (files already holding the stored content keep their current permissions and dates)
and by what may not be as it was (a lost snapshot came before the one restored). A restore with such
warnings, or with errors, is said as a warning, never as a plain success.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from timekeep.core.api import Timekeep
from timekeep.core.types import Progress, RestoreResult
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.dialogs.compare import CompareDialog
from timekeep.gui.dialogs.versions import VersionsDialog
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.key_jobs import held_secret
from timekeep.gui.listing import Row
from timekeep.gui.prompts import Prompts


@dataclass(frozen=True)
class Target:
    """What the commands act on: a row of the tree, and the snapshot shown (None at Now). `stored` is the
    snapshot whose version the file on disk is compared with: the one shown, or at Now the latest backup
    (the timeline's right end is the live folder: a file changed since is compared with its last stored version)."""

    row: Row
    snapshot_id: int | None
    snapshot_ns: int | None
    stored: tuple[int, int] | None = None  # (snapshot id, time_ns)


REPORT_EVERY_S = 0.25  # a restore's progress reaches the window at most this often (a report a file was thousands)


def restore_job(tk: Timekeep, path: bytes, snapshot_id: int, dest: bytes | None, secret: str | None,
                report: Callable[[Progress], None]) -> RestoreResult:
    """On a worker thread: a big folder is restored by a `timekeep restore` of its own, over the cores
    (core/restore/apart.py; `secret`, the passphrase the window holds for an encrypted repository, if any)."""
    last = [-REPORT_EVERY_S]

    def progress(p: Progress) -> None:
        if p.elapsed_s - last[0] >= REPORT_EVERY_S:
            last[0] = p.elapsed_s
            report(p)

    return tk.restore(path, snapshot_id, dest=dest, progress=progress, apart=True, secret=secret)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


SET_BACK = "`timekeep restore --overwrite` sets those back too"


def restore_sentence(path: bytes, when_ns: int, result: RestoreResult, dest: bytes | None = None) -> str:
    """What a restore says when it ends: what came back, what was kept, what failed, and what was left with
    today's permissions and dates; then what may not be as it was."""
    name, when = wording.display_name(path), wording.when(when_ns)
    into = f" into {wording.display_path(dest)}" if dest else ""
    items = len(result.written) + len(result.kept_beside) + len(result.already_beside) + result.unchanged \
        + len(result.errors)
    said = _single_sentence(name, when, into, result) if items == 1 else _folder_sentence(name, when, into, result)
    if result.warnings:
        said += (" Caution: the backup may not hold it exactly as it was then: "
                 + "; ".join(warning.rstrip(".") for warning in result.warnings) + ".")
    return said


def restore_went_wrong(result: RestoreResult) -> bool:
    """Whether a restore is to be said as a warning: something failed, or may not be as it was."""
    return bool(result.errors or result.warnings)


def _folder_sentence(name: str, when: str, into: str, result: RestoreResult) -> str:
    parts = []
    if result.written:
        parts.append(f"{_plural(len(result.written), 'item')} written")
    if result.kept_beside:
        parts.append(f"{_plural(len(result.kept_beside), 'changed file')} kept, the old version saved beside it")
    if result.already_beside:
        parts.append(f"{_plural(len(result.already_beside), 'changed file')} kept, the old version already beside it")
    if result.unchanged:
        parts.append(f"{result.unchanged} already the same")
    if result.errors:
        first = result.errors[0]
        parts.append(f"{len(result.errors)} could not be restored ({wording.display_name(first.path)}: "
                     f"{first.message})")
    detail = "; ".join(parts) if parts else "nothing needed restoring"
    said = f"Restored {name} as it was on {when}{into}: {detail}."
    if result.metadata_kept:
        them = "1 of them keeps its" if result.metadata_kept == 1 else f"{result.metadata_kept:,} of them keep their"
        said += f" {them} current permissions and dates, which differ from then ({SET_BACK})."
    return said


def _single_sentence(name: str, when: str, into: str, result: RestoreResult) -> str:
    if result.written:
        return f"Restored {name} as it was on {when}{into}."
    if result.kept_beside:
        beside = wording.display_name(result.kept_beside[0][1])
        return (f"{name} has changed since {when}, so it was kept, and the version from then was saved "
                f"beside it as “{beside}”.")
    if result.already_beside:
        beside = wording.display_name(result.already_beside[0][1])
        return (f"{name} has changed since {when}, so it was kept; the version from then is already beside it "
                f"as “{beside}”.")
    if result.unchanged and result.metadata_kept:
        return (f"{name} already holds its content from {when}{into}, so it was left as it is, with its current "
                f"permissions and dates ({SET_BACK}).")
    if result.unchanged:
        return f"{name} is already as it was on {when}{into}: nothing needed restoring."
    return f"{name} could not be restored: {result.errors[0].message}."


class FileActions(QObject):
    restored = Signal(str)  # the sentence, once a restore has finished
    restoring = Signal(str)  # how far a restore has come, while it runs
    restore_failed = Signal(str)

    def __init__(self, bridge: EngineBridge, prompts: Prompts, assets: Assets, window: QWidget,
                 target: Callable[[], Target | None]) -> None:
        super().__init__(window)
        self.bridge, self.prompts, self.window, self.target = bridge, prompts, window, target
        self.restore_action = self._action("Restore", "restore", "Ctrl+R", self.restore)
        self.restore_to_action = self._action("Restore to…", "restore-to", "Ctrl+Shift+R", self.restore_to)
        self.versions_action = self._action("Show versions", "versions", "Ctrl+I", self.show_versions)
        self.compare_action = self._action("Compare with current", "compare", "Ctrl+D", self.compare)
        self.copy_action = self._action("Copy path", "copy", "Ctrl+Shift+C", self.copy_path)
        self.actions = [self.restore_action, self.restore_to_action, self.versions_action,
                        self.compare_action, self.copy_action]
        self.assets = assets
        self.extra: list[QAction] = []  # commands other modules add to the right-click menu, after these
        for action, icon in zip(self.actions, ("restore", "restore-to", "versions", "compare", "copy"), strict=True):
            action.setIcon(assets.icon(icon))
        self.refresh()

    def _action(self, text: str, name: str, keys: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self.window)
        action.setObjectName(f"{name}_action")
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        self.window.addAction(action)
        return action

    def refresh(self) -> None:
        """Enable what makes sense for the selection: nothing to restore at Now, where a file that was
        backed up before is compared with its last backup."""
        target = self.target()
        past = target is not None and target.snapshot_id is not None
        is_file = target is not None and target.row.kind == "file"
        self.restore_action.setEnabled(past)
        self.restore_to_action.setEnabled(past)
        self.versions_action.setEnabled(target is not None)
        self.compare_action.setEnabled(is_file and target is not None and target.stored is not None)
        self.compare_action.setText("Compare with current" if past or target is None else "Compare with last backup")
        self.copy_action.setEnabled(target is not None)

    def popup(self, global_pos: QPoint) -> QMenu:
        self.refresh()
        menu = QMenu(self.window)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addActions(self.actions[:2])
        menu.addSeparator()
        menu.addActions(self.actions[2:4])
        menu.addSeparator()
        menu.addAction(self.copy_action)
        if self.extra:
            menu.addSeparator()
            menu.addActions(self.extra)
        menu.popup(global_pos)
        return menu

    # the commands
    def restore(self) -> None:
        target = self.target()
        if target is not None and target.snapshot_id is not None and target.snapshot_ns is not None:
            self.start_restore(target.row.path, target.snapshot_id, target.snapshot_ns, None)

    def restore_to(self) -> None:
        target = self.target()
        if target is None or target.snapshot_id is None or target.snapshot_ns is None:
            return
        chosen = self.prompts.choose_folder(self.window, "Restore to which folder?", os.path.expanduser("~"))
        if chosen:
            self.start_restore(target.row.path, target.snapshot_id, target.snapshot_ns, os.fsencode(chosen))

    def start_restore(self, path: bytes, snapshot_id: int, snapshot_ns: int, dest: bytes | None) -> None:
        def done(result: RestoreResult) -> None:
            sentence = restore_sentence(path, snapshot_ns, result, dest)
            self.restored.emit(sentence)
            say = self.prompts.warn if restore_went_wrong(result) else self.prompts.inform
            say(self.window, "Restore", sentence)

        def failed(message: str) -> None:
            self.restore_failed.emit(message)
            self.prompts.warn(self.window, "Restore", f"{wording.display_name(path)} could not be restored: {message}")

        repo = self.bridge.repo
        secret = None if repo is None else held_secret(repo)
        def progressed(p: Progress) -> None:
            self.restoring.emit(f"Restoring {wording.display_name(path)}… {wording.size(p.bytes_done)} written")

        if self.bridge.reader is not None:  # a read of the "jobs" lane that reports as it goes
            self.bridge.workers.start_reporting(restore_job, self.bridge.reader, path, snapshot_id, dest, secret,
                                                on_progress=progressed, on_done=done, on_failed=failed, lane="jobs")

    def show_versions(self) -> VersionsDialog | None:
        target = self.target()
        if target is None:
            return None
        dialog = VersionsDialog(self.bridge, target.row.path, self.window)
        dialog.restore_requested.connect(lambda p, sid, ns: self.start_restore(p, sid, ns, None))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def compare(self) -> CompareDialog | None:
        target = self.target()
        if target is None or target.stored is None:
            return None
        dialog = CompareDialog(self.bridge, target.row.path, *target.stored, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def copy_path(self) -> None:
        target = self.target()
        if target is not None:
            QGuiApplication.clipboard().setText(wording.display_path(target.row.path))
