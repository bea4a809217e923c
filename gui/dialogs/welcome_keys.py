"""The welcome flow's steps about the drive's key, between choosing the drive and choosing the folders.

A new drive gets a passphrase (or, if the person insists, no encryption) and then shows its recovery key;
a drive with encrypted backups the keyring does not open asks for its passphrase or recovery key. The key
derivation runs in a worker; the dialog stays responsive and says what is happening.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from timekeep.core.api import Argon2Params
from timekeep.gui.dialogs.passphrase_page import NewPassphrasePage, OpenPassphrasePage
from timekeep.gui.dialogs.recovery_page import RecoveryKeyPage
from timekeep.gui.key_jobs import Made, Refused, Unlocked, drive_state, make_repository, unlock_typed
from timekeep.gui.location import Location
from timekeep.gui.prompts import Prompts
from timekeep.gui.workers import WorkerPool


class KeySteps(QObject):
    page_wanted = Signal(object)  # the page (QWidget) to show next
    ready = Signal(object)  # Location: the repository, made or unlocked, to open
    said = Signal(str)  # a sentence for the dialog's message line: a refusal, or what is going on
    failed = Signal(str)

    def __init__(self, workers: WorkerPool, prompts: Prompts, home: Path, argon2: Argon2Params | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers, self.argon2 = workers, argon2
        self.repo: Location | None = None
        self.new_page = NewPassphrasePage()
        self.recovery_page = RecoveryKeyPage(workers, prompts, home)
        self.open_page = OpenPassphrasePage()

    def pages(self) -> tuple[QWidget, ...]:
        return self.new_page, self.recovery_page, self.open_page

    def begin(self, repo: Location) -> None:
        """Look (in a worker) whether `repo` is new, locked or ready, and go on from there."""
        self.repo = repo
        self.workers.start(drive_state, repo, on_done=self._state_known, on_failed=self.failed.emit)

    def _state_known(self, state: str) -> None:
        assert self.repo is not None
        if state == "new":
            self.page_wanted.emit(self.new_page)
        elif state == "locked":
            self.open_page.ask_for(self.repo)
            self.page_wanted.emit(self.open_page)
        else:
            self.ready.emit(self.repo)

    def next(self, page: QWidget | None) -> None:
        """The person pressed Next on one of these pages."""
        if page is self.new_page:
            self._make()
        elif page is self.recovery_page and self.recovery_page.kept:
            assert self.repo is not None
            self.ready.emit(self.repo)
        elif page is self.open_page:
            self._unlock()

    def _make(self) -> None:
        refusal = self.new_page.refusal()
        if refusal:
            self.failed.emit(refusal)
            return
        encrypt = self.new_page.encrypt
        passphrase = self.new_page.passphrase() if encrypt else None
        self.said.emit("Making the encrypted backup folder…" if encrypt else "Making the backup folder…")
        assert self.repo is not None
        self.workers.start(make_repository, self.repo, passphrase, self.new_page.keep, self.argon2,
                           on_done=self._made, on_failed=self.failed.emit)

    def _made(self, made: Made) -> None:
        self.said.emit("")
        if made.recovery_key is None:
            self.ready.emit(made.path)
            return
        self.recovery_page.show_key(made.recovery_key)
        self.recovery_page.status.setText(made.keyring_note)
        self.page_wanted.emit(self.recovery_page)

    def _unlock(self) -> None:
        (secret,) = self.open_page.secret.texts()
        if not secret:
            self.failed.emit("Type the passphrase or the recovery key first.")
            return
        self.said.emit("Unlocking…")
        assert self.repo is not None
        self.workers.start(unlock_typed, self.repo, secret, self.open_page.secret.keep_box.isChecked(),
                           on_done=self._unlocked, on_failed=self.failed.emit)

    def _unlocked(self, answer: Unlocked | Refused) -> None:
        if isinstance(answer, Refused):
            self.open_page.secret.clear()
            self.failed.emit(answer.message)
            return
        self.said.emit(answer.keyring_note)
        assert self.repo is not None
        self.ready.emit(self.repo)
