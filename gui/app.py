"""Start the desktop app: settings, the welcome flow or the main window, the tray, protection by the agent.

`main()` is the `timekeep-gui` entry point. `TimekeepApp` wires the pieces and is what tests build, with
their own paths, prompts and no tray. Nothing happens at import.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool
from PySide6.QtWidgets import QApplication

from timekeep.core.agent.launch import Protection, protect
from timekeep.core.api import Argon2Params, answer_notice, is_remote, notice_due
from timekeep.core.types import Retention, SnapshotInfo
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.backup_command import WHERE_KEPT
from timekeep.gui.dialogs.check import CheckDialog
from timekeep.gui.dialogs.key_buttons import KeyButtons
from timekeep.gui.dialogs.new_drive import NewDriveDialog
from timekeep.gui.dialogs.settings import SettingsDialog
from timekeep.gui.dialogs.unlock import UnlockDialog
from timekeep.gui.dialogs.welcome import WelcomeDialog
from timekeep.gui.dialogs.welcome_keys import KeySteps
from timekeep.gui.engine_bridge import EngineBridge, History
from timekeep.gui.engine_jobs import named_repository_problem
from timekeep.gui.guard_banner import GuardWatch
from timekeep.gui.guard_banner import attach as attach_guard
from timekeep.gui.history_watch import HistoryWatch
from timekeep.gui.location import Location, key_of, location_of
from timekeep.gui.main_window import MainWindow
from timekeep.gui.place import open_place, place_argument
from timekeep.gui.prompts import Prompts
from timekeep.gui.protection import ProtectionWatch, Protector
from timekeep.gui.settings import AppPaths, AppSettings, SettingsStore, load_settings
from timekeep.gui.tray import Tray
from timekeep.gui.volumes import backups_folder
from timekeep.gui.widgets.protection_status import ProtectionStatus
from timekeep.gui.workers import WorkerPool

WORKER_THREADS = 4  # a backup holds one for its whole length; browsing, previews and restores share the rest


class TimekeepApp(QObject):
    def __init__(self, paths: AppPaths, prompts: Prompts, settings: AppSettings | None = None,
                 tray: bool = True, home: Path | None = None, protector: Protector | None = None,
                 argon2: Argon2Params | None = None) -> None:
        super().__init__()
        pool = QThreadPool(self)
        pool.setMaxThreadCount(max(WORKER_THREADS, QThreadPool.globalInstance().maxThreadCount()))
        self.workers = WorkerPool(pool, self)
        self.paths, self.prompts, self.home = paths, prompts, home
        self.argon2 = argon2  # the key derivation's cost for new repositories and passphrases: None, the tuned one
        self.store = SettingsStore(paths, settings or AppSettings(), lambda fn, value: self.workers.start(fn, value))
        self.assets = Assets()
        self.bridge = EngineBridge(self.workers, self, agent_socket=paths.agent_socket)
        self.protection = ProtectionWatch(self.workers, paths.agent_socket, protector, self)  # None: never install
        self.history_watch = HistoryWatch(self.bridge, self.workers, self)
        self.tray = Tray(self.assets, enabled=tray, parent=self)
        self.window: MainWindow | None = None
        self.guard: GuardWatch | None = None  # the guard's banner in the window, once there is one
        self.protection_status = ProtectionStatus()  # replaced by the window's own when it is built
        self.check_dialog: CheckDialog | None = None
        self.welcome: WelcomeDialog | None = None
        self.unlock_dialog: UnlockDialog | None = None
        self.new_drive: NewDriveDialog | None = None  # a drive chosen in Settings that holds no backups yet
        self.quitting = False
        self._connect()

    def _connect(self) -> None:
        self.protection.turned_on.connect(self._protection_done)
        self.protection.turn_on_failed.connect(
            lambda message: self._protection_done(Protection(False, f"Protection is off: {message}", ())))
        self.tray.backup_requested.connect(lambda: self.bridge.back_up("manual"))
        self.tray.open_requested.connect(self.show_window)
        self.tray.quit_requested.connect(self.quit)
        self.bridge.repository_opened.connect(self._repository_opened)
        self.bridge.repository_locked.connect(self.ask_to_unlock)
        self.bridge.history_loaded.connect(self._history_reloaded)
        self.bridge.repository_missing.connect(lambda repo: self.tray.set_status(
            "Backup storage unreachable" if is_remote(repo) else "Backup drive not connected"))
        self.bridge.backup_started.connect(lambda: self.tray.set_status("Backing up…"))
        self.bridge.backup_finished.connect(self._backup_finished)
        self.bridge.backup_failed.connect(self._backup_failed)
        self.bridge.backup_cancelled.connect(lambda: self.tray.set_status("Backup cancelled"))
        self.bridge.backup_skipped.connect(lambda _why: self.tray.set_status("Up to date"))
        self.bridge.writer_notes.connect(self._writer_notes)

    @property
    def settings(self) -> AppSettings:
        return self.store.settings

    def start(self) -> None:
        if self.settings.repository:
            self.open_repository(self.settings.repository)
        else:
            self.show_welcome()

    # first run
    def show_welcome(self) -> WelcomeDialog:
        self.welcome = WelcomeDialog(self.workers, self.prompts, self.assets, home=self.home, argon2=self.argon2)
        self.welcome.setup_finished.connect(lambda repo: self.open_repository(repo, protect=True))
        self.welcome.rejected.connect(self._welcome_abandoned)
        self.welcome.show()
        return self.welcome

    def _welcome_abandoned(self) -> None:
        if self.window is None:
            self.quit()

    # the main window
    def open_repository(self, repo: str, protect: bool = False) -> MainWindow:
        """Show `repo`; `protect`: a drive just set up or chosen, which the agent is installed and started for."""
        if repo != self.settings.repository:
            self.store.update(repository=repo)
        window = self.show_window()
        self.bridge.set_repository(location_of(repo))
        self.protection.watch(location_of(repo))
        if protect:
            self.protection.turn_on(location_of(repo))
        return window

    def ask_to_unlock(self, repo: str) -> UnlockDialog:
        """The keyring did not open the drive: ask for its passphrase or recovery key. Cancel leaves it locked."""
        self.tray.set_status("Backups locked")
        if self.unlock_dialog is not None and self.unlock_dialog.isVisible():
            return self.unlock_dialog  # asked already: the drive came back while the question was open
        dialog = self.unlock_dialog = UnlockDialog(self.workers, location_of(repo), self.window)
        dialog.accepted.connect(lambda: self._unlocked(dialog))
        dialog.open()
        return dialog

    def _unlocked(self, dialog: UnlockDialog) -> None:
        if dialog.repo == self.bridge.repo:
            self.bridge.reopen()
        if dialog.keyring_note:
            self._status_message(dialog.keyring_note)

    def _protection_done(self, protection: Protection) -> None:
        """Turning protection on ended: said in one sentence, where the protection state shows."""
        if self.window is not None:
            self.protection_status.show_result(protection.sentence)
            self._status_message(protection.sentence)

    def show_window(self) -> MainWindow:
        if self.window is None:
            self.window = MainWindow(self.bridge, self.prompts, self.assets)
            self.window.last_backup_hint = self.settings.last_backup_ns
            self.window.next_backup_in = self._next_backup_in
            self.window.restore_state(self.settings.window_geometry, self.settings.splitter_state)
            self.window.settings_requested.connect(self.show_settings)
            self.window.check_requested.connect(self.show_check)
            self.window.drives_list.open_requested.connect(lambda repo: self.open_repository(repo, protect=True))
            self.window.quit_requested.connect(self.quit)
            self.window.window_closed.connect(self._window_closed)
            self.tray.fallback = lambda title, text: self._status_message(f"{title}: {text}")
            self._add_protection_status(self.window)
            self.guard = attach_guard(self.window, self.bridge, self.tray, self.prompts)
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        return self.window

    def _next_backup_in(self) -> float | None:
        """Seconds to the agent's next backup of this drive: the one schedule (None when it plans none)."""
        return self.protection.next_in_s(time.time_ns())

    def _add_protection_status(self, window: MainWindow) -> None:
        status = self.protection_status = ProtectionStatus(window)
        window.statusBar().insertPermanentWidget(0, status)
        status.turn_on_requested.connect(self.protection.turn_on)
        self.protection.state_changed.connect(status.show_state)
        self.protection.state_changed.connect(window._refresh_idle)

    def _status_message(self, text: str) -> None:
        if self.window is not None:
            self.window.statusBar().showMessage(text, 15_000)

    def _window_closed(self) -> None:
        if self.quitting:
            return
        self._remember_window()
        if not self.tray.available:
            self.quit()

    def _remember_window(self) -> None:
        if self.window is not None:
            geometry, splitter = self.window.saved_state()
            self.store.update(window_geometry=geometry, splitter_state=splitter)

    # what the engine tells us
    def _repository_opened(self, history: History) -> None:
        last = history.snapshots[-1].time_ns if history.snapshots else None
        self.tray.set_status("No backup yet" if last is None else "Up to date")
        if last is not None and last != self.settings.last_backup_ns:
            self.store.update(last_backup_ns=last)
        self._check_privacy()

    def _history_reloaded(self, history: History) -> None:
        """Another writer's snapshot (the agent, the CLI) is the last backup a missing drive still tells of."""
        last = history.snapshots[-1].time_ns if history.snapshots else None
        if last is not None and last != self.settings.last_backup_ns:
            self.store.update(last_backup_ns=last)

    def _check_privacy(self) -> None:
        """Once per repository, offer to make private one that other users can read (the looking and the
        fixing run in workers)."""
        reader = self.bridge.reader
        if reader is None:
            return
        root, rid, state = reader.root, reader.repository_id, self.paths.state_dir
        self.workers.start(notice_due, root, rid, state,
                           on_done=lambda found: self._offer_privacy(root, rid, found))

    def _offer_privacy(self, root: Path, rid: str, found: list[Path]) -> None:
        if not found:
            return
        fix = self.prompts.confirm(self.window, "Backups readable by others",
                                   f"Other users of this computer can read the backups in {root}. "
                                   "Make them readable by you alone?")
        done = ("The backups are now readable by you alone" if fix
                else "`timekeep make-private` makes the backups private whenever you like")
        self.workers.start(answer_notice, root, rid, self.paths.state_dir, fix,
                           on_done=lambda _changed: self._status_message(done),
                           on_failed=lambda message: self.prompts.warn(self.window, "Backups readable by others",
                                                                       message))

    def _backup_finished(self, snapshot: SnapshotInfo) -> None:
        kept_here = snapshot.trigger == "away"  # the drive is away: the agent kept it on this computer
        self.store.update(last_backup_ns=snapshot.time_ns)
        self.tray.set_status(WHERE_KEPT if kept_here else "Up to date")
        if snapshot.errors:
            self.notify("Backup finished with problems",
                        f"{snapshot.errors} file{'s' if snapshot.errors != 1 else ''} could not be read; "
                        "the rest is safe. `timekeep errors` lists them.", error=True)
        elif snapshot.trigger in ("manual", "first", "backup-now", "away") or self.settings.notifications:
            files = "1 file" if snapshot.files_changed == 1 else f"{snapshot.files_changed:,} files"
            where = f", {WHERE_KEPT.lower()}" if kept_here else ""
            self.notify("Backup finished", f"{files} changed since the last backup{where}")

    def _backup_failed(self, message: str) -> None:
        self.tray.set_status("Last backup failed")
        self.notify("Backup failed", message, error=True)

    def _writer_notes(self, notes: tuple[str, ...]) -> None:
        """What a backup, a thinning or a change of folders found on opening the drive (an index rebuilt, a
        lost manifest written again), said once: rare, and worth hearing even with notifications off."""
        self.notify("Backup drive checked", " ".join(wording.sentence(note) for note in notes), error=True)

    def notify(self, title: str, text: str, error: bool = False) -> None:
        if self.settings.notifications or error:
            self.tray.notify(title, text, error)
        if self.window is not None:
            self._status_message(f"{title}: {text}")

    def show_check(self) -> CheckDialog | None:
        """"Check backup…": the check runs in a worker; the dialog shows its progress and its outcome."""
        if self.bridge.repo is None:
            return None
        self.check_dialog = CheckDialog(self.workers, self.bridge.repo, self.assets, self.window)
        self.check_dialog.open()
        self.check_dialog.start()
        return self.check_dialog

    # settings
    def show_settings(self) -> SettingsDialog:
        history = self.window.history if self.window is not None else None
        folders = history.folders if history is not None else ()
        encrypted = history.encrypted if history is not None else None
        keys = (KeyButtons(self.workers, self.prompts, self.home or Path.home(), self.bridge.repo, self.argon2)
                if encrypted and self.bridge.repo is not None else None)
        dialog = SettingsDialog(self.settings, folders, self.prompts, self.assets, self.window,
                                agent_serving=self.protection.state is not None and self.protection.state.serves,
                                encrypted=encrypted, key_buttons=keys, workers=self.workers)
        dialog.accepted.connect(lambda: self.apply_settings(dialog))
        dialog.thin_requested.connect(lambda rule: self.thin_history(dialog, rule))
        dialog.open()
        return dialog

    def thin_history(self, dialog: SettingsDialog, rule: Retention) -> None:
        """The dialog's "Thin history now": the rule becomes the repository's (and the app remembers it)."""
        if self.bridge.thin(rule, on_done=dialog.thinning_finished, on_failed=dialog.thinning_failed,
                            on_progress=dialog.thinning_progressed):
            self.store.update(retention=rule)
            dialog.thinning_started()
        else:
            dialog.thinning_failed("a backup is running, or the backup drive is not connected")

    def apply_settings(self, dialog: SettingsDialog) -> None:
        self.store.update(**{k: getattr(dialog.new_settings(), k) for k in (
            "interval_minutes", "clock_times", "extra_excludes", "retention", "compression_level",
            "notifications", "guard")})  # the agent reads its new schedule from settings.json within seconds
        change = dialog.folder_change()
        if change is not None:
            self.bridge.change_folders(change, on_failed=lambda m: self.prompts.warn(self.window, "Folders", m))
        if dialog.new_repository:
            self.workers.start(backups_folder, dialog.new_repository, on_done=self._drive_changed,
                               on_failed=lambda m: self.prompts.warn(self.window, "Backup drive", m))
        elif dialog.new_bucket is not None:
            self._drive_changed((dialog.new_bucket.location, dialog.new_bucket.state == "repository"))

    def _drive_changed(self, found: tuple[Location, bool]) -> None:
        """A drive (or a bucket) chosen in Settings: its backups open as they are; one without any gets the
        welcome flow's key steps first (encrypted unless the person says not to), then protection."""
        target, exists = found
        if exists:
            self.open_repository(str(target), protect=True)
            return
        steps = KeySteps(self.workers, self.prompts, self.home or Path.home(), self.argon2, self)
        self.new_drive = NewDriveDialog(steps, self.window)
        steps.ready.connect(lambda repo: self.open_repository(str(repo), protect=True))
        steps.begin(target)

    # leaving
    def quit(self) -> None:
        self.shut_down()
        QApplication.quit()

    def shut_down(self) -> None:
        """Stop a running backup cleanly (it keeps what it stored), save the window, close the engine."""
        if self.quitting:
            return
        self.quitting = True
        self._remember_window()
        for widget in (self.welcome, self.window):
            if widget is not None:
                widget.close()
        self.bridge.shut_down()
        self.workers.close(30_000)
        self.tray.hide()


def repository_argument(argv: list[str]) -> str | None:
    """`--repo PATH` (or `--repo=PATH`, or an s3:// location) among the arguments: the repository to open
    instead of the remembered one."""
    for i, arg in enumerate(argv):
        if arg == "--repo" and i + 1 < len(argv):
            return key_of(location_of(argv[i + 1]))
        if arg.startswith("--repo="):
            return key_of(location_of(arg.removeprefix("--repo=")))
    return None


def main(argv: list[str] | None = None) -> int:
    """The `timekeep-gui [--repo PATH] [--file PATH [--previous] | --folder PATH]` entry point. Opened at a
    place (by a file manager) it shows no tray icon and ends with its window; a second one is its own process."""
    args = sys.argv if argv is None else argv
    chosen = repository_argument(args[1:]) or os.environ.get("TIMEKEEP_REPO")
    chosen = key_of(location_of(chosen)) if chosen else None
    problem = named_repository_problem(chosen) if chosen else None
    if problem:  # a mistyped path: one line, and nothing remembered
        print(f"timekeep-gui: {problem}", file=sys.stderr)
        return 2
    app = QApplication(args)
    app.setApplicationName("Timekeep")
    app.setOrganizationName("timekeep")
    app.setDesktopFileName("org.timekeep.Timekeep")  # the desktop entry: its icon and name on Wayland
    paths = AppPaths.default()
    settings = load_settings(paths)  # a few hundred bytes, read once before the first window exists
    place = place_argument(args[1:])
    timekeep = TimekeepApp(paths, Prompts(), settings, tray=place is None, home=Path(os.path.expanduser("~")),
                           protector=protect)
    if chosen:  # a repository, or one on a drive that is away: remembered, so the next start opens it too
        timekeep.store.update(repository=chosen)
    app.setWindowIcon(timekeep.assets.app_icon())
    app.setQuitOnLastWindowClosed(not timekeep.tray.available)
    if "--quit-after-start" in args:  # tests of an installed copy only (gui/quit_after_start.py)
        from timekeep.gui.quit_after_start import arm
        arm(app, timekeep.quit)
    timekeep.start()
    open_place(timekeep, place)  # parented to the app: it acts once the history is in
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
