""""Browse in the file manager": history mounted read-only (`timekeep mount`, in a process of its own) and the
folder of the selected time opened in the person's file manager; unmounted when the app quits.

The mount is made in a worker (starting it reads the repository and waits for the kernel), and let go from a
thread of its own at quit, so the GUI thread only draws. An encrypted repository unlocked with a secret the
person typed (and kept out of the keyring) hands it to the mount's process through a pipe, never its command
line or environment; one unlocked from the keyring is unlocked there by the mount itself.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QApplication

from timekeep.core.agent.launch import state_folder
from timekeep.core.api import folder_in_mount, mount_unavailable, secret_for_command, timekeep_command, unmount
from timekeep.core.errors import TimekeepError, UsageError
from timekeep.gui.key_jobs import held_secret

if TYPE_CHECKING:
    from timekeep.gui.main_window import MainWindow

MOUNT_TIMEOUT_S = 120  # opening a big index, or a bucket's, before the kernel has the mount


def mount_places() -> tuple[Path, Path]:
    """The window's mount point and where running mounts are written down."""
    state = state_folder()
    return state / "history", state / "mounts"


def mount_job(repo: str, mountpoint: Path, records: Path, secret: str | None) -> Path:
    """Mount the repository's history at `mountpoint` (unmounting what an earlier window left there first);
    returns once the kernel has it. One line (TimekeepError) when it could not be mounted."""
    missing = mount_unavailable()
    if missing is not None:
        raise TimekeepError(missing)
    mountpoint.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(UsageError):  # else nothing was left there
        unmount(mountpoint, records)
    argv = [*timekeep_command(), "mount", str(mountpoint), "--repo", repo]
    with secret_for_command(secret) as (given, fds):
        done = subprocess.run([*argv, *given], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False, timeout=MOUNT_TIMEOUT_S, pass_fds=fds)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise TimekeepError(said[-1].removeprefix("timekeep: ") if said else f"the mount failed ({done.returncode})")
    return mountpoint


class HistoryMount(QObject):
    """The action, the mount it makes, and its end at quit. `opener` is the file manager (Qt's desktop services)."""

    mounted = Signal(str)  # the folder opened
    failed = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.opener: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.mountpoint, self.records = mount_places()
        self.is_mounted = False
        self.action = QAction(window.assets.icon("folder"), "Browse in the file manager", window)
        self.action.setToolTip("Open the folder as it was at the selected time in your file manager (read-only)")
        self.action.triggered.connect(self.browse)
        window.quit_requested.connect(self.unmount)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.unmount)

    def browse(self) -> None:
        repo = self.window.bridge.repo
        if repo is None or self.window.history is None:
            self._say("Nothing to browse yet: the backups are not open")
            return
        where = self._folder()
        if self.is_mounted:
            self._open(where)
            return
        self._say("Mounting the history…")
        self.window.bridge.workers.start(mount_job, str(repo), self.mountpoint, self.records, held_secret(repo),
                                         on_done=lambda _: self._mounted(where), on_failed=self._failed)

    def _folder(self) -> str:
        """The folder shown at the time shown: the selected folder (a file's own folder), else the protected one."""
        target = self.window.target()
        history = self.window.history
        snapshot = self.window.timeline.current()
        path = self.window.browser.root
        if target is not None:
            path = target.row.path if target.row.is_dir else os.path.dirname(target.row.path)
        snapshots = history.snapshots if history is not None else ()
        return folder_in_mount(snapshots, snapshot.id if snapshot is not None else None, path)

    def _mounted(self, where: str) -> None:
        self.is_mounted = True
        self._open(where)

    def _open(self, where: str) -> None:
        folder = str(self.mountpoint / where)
        self.opener(QUrl.fromLocalFile(folder))
        self._say(f"Opened {folder} (read-only)")
        self.mounted.emit(folder)

    def _failed(self, message: str) -> None:
        self._say(f"Could not browse in the file manager: {message}")
        self.failed.emit(message)

    def _say(self, sentence: str) -> None:
        self.window.statusBar().showMessage(sentence, 15_000)

    def unmount(self) -> threading.Thread | None:
        """Let the mount go, from a thread of its own (the app waits for it before it exits)."""
        if not self.is_mounted:
            return None
        self.is_mounted = False
        mountpoint, records = self.mountpoint, self.records

        def let_go() -> None:
            with contextlib.suppress(TimekeepError, OSError):  # unmounted by hand, or busy: `timekeep unmount`
                unmount(mountpoint, records)

        thread = threading.Thread(target=let_go, name="timekeep-unmount")
        thread.start()
        return thread
