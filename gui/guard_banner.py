"""The guard's banner: when the agent suspects mass damage (`timekeep.core.guard`), a banner across the window
says so and offers the one action, "Restore FOLDER as it was at T…" (into a new folder beside it, or a place
the person chooses), and "It was me — all clear", which ends the incident; the tray notifies once.

Nothing happens without the person: the restore writes only into a new place, and the all-clear is asked for
again before it is sent. Restoring and clearing run on workers; the GUI thread only draws.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.agent.client import AgentClient, AgentError
from timekeep.core.agent.messages import Before, GuardIncident, GuardStatus, iso_ns
from timekeep.core.api import Timekeep, restore_place
from timekeep.core.types import RestoreResult
from timekeep.gui import wording
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.file_actions import restore_sentence, restore_went_wrong
from timekeep.gui.key_jobs import held_secret
from timekeep.gui.location import key_of
from timekeep.gui.prompts import Prompts
from timekeep.gui.tray import Tray

TITLE = "Timekeep suspects mass damage"


def incident_text(incident: GuardIncident) -> str:
    folders = ", ".join(wording.display_path(os.fsencode(f)) for f in incident.folders) or "your folders"
    started = iso_ns(incident.started)
    since = f" since {wording.when_precise(started)}" if started is not None else ""
    return (f"<b>Many files in {folders} changed in a way that looks like damage{since}</b> "
            f"({'; '.join(incident.reasons)}). Thinning and automatic backups are paused, so what was there "
            "before is kept. If it was you, say so; otherwise restore the folder as it was.")


class GuardBanner(QFrame):
    restore_requested = Signal(bytes, object, object)  # folder, Before, a place chosen (None: beside it)
    clear_requested = Signal()

    def __init__(self, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompts = prompts
        self.incident: GuardIncident | None = None
        self.before: Before | None = None  # this repository's snapshot before the incident
        self.setObjectName("guard_banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#guard_banner { background: #fff3cd; color: #4a3b00; border-radius: 4px; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.buttons = QHBoxLayout()
        self.elsewhere_button = QPushButton("Restore elsewhere…")
        self.elsewhere_button.clicked.connect(self._restore_elsewhere)
        self.clear_button = QPushButton("It was me — all clear")
        self.clear_button.clicked.connect(self._all_clear)
        row = QHBoxLayout()
        row.addLayout(self.buttons)
        row.addStretch(1)
        row.addWidget(self.elsewhere_button)
        row.addWidget(self.clear_button)
        box = QVBoxLayout(self)
        box.addWidget(self.label)
        box.addLayout(row)
        self.restore_buttons: list[QPushButton] = []
        self.hide()

    def show_status(self, status: GuardStatus | None, repo: str | None) -> bool:
        """Show the agent's guard for `repo` (the agent's name for it); True when an incident is new here."""
        incident = None if status is None else status.incident
        new = incident is not None and incident != self.incident and (
            self.incident is None or incident.started != self.incident.started)
        self.incident = incident
        self.before = None if incident is None else next((b for b in incident.before if b.destination == repo), None)
        self.setVisible(incident is not None)
        if incident is not None:
            self.label.setText(incident_text(incident))
            self._make_restore_buttons(incident)
        return new

    def _make_restore_buttons(self, incident: GuardIncident) -> None:
        for button in self.restore_buttons:
            self.buttons.removeWidget(button)
            button.deleteLater()
        usable = self.before is not None and self.before.snapshot is not None
        when = self._when()
        self.restore_buttons = []
        for folder in incident.folders[:3]:
            name = wording.display_name(os.fsencode(folder))
            button = QPushButton(f"Restore {name} as it was at {when}…" if usable else f"Restore {name}…")
            button.setEnabled(usable)
            if not usable:
                button.setToolTip("This backup holds no snapshot from before the incident.")
            button.clicked.connect(lambda _=False, f=folder: self._restore(os.fsencode(f)))
            self.buttons.addWidget(button)
            self.restore_buttons.append(button)
        self.elsewhere_button.setEnabled(usable and bool(incident.folders))

    def _when(self) -> str:
        ns = None if self.before is None else iso_ns(self.before.time)
        return "the time before it" if ns is None else wording.when_precise(ns)

    def _restore(self, folder: bytes) -> None:
        name = wording.display_name(folder)
        if self.before is not None and self.prompts.confirm(
                self, "Restore", f"Restore {name} as it was at {self._when()} into a new folder beside it, "
                f"“{name} as of …”? Nothing that is there now is changed."):
            self.restore_requested.emit(folder, self.before, None)

    def _restore_elsewhere(self) -> None:
        if self.incident is None or self.before is None or not self.incident.folders:
            return
        folder = os.fsencode(self.incident.folders[0])
        chosen = self.prompts.choose_folder(self, "Restore into which folder?", os.path.dirname(folder).decode())
        if chosen:
            self.restore_requested.emit(folder, self.before, os.fsencode(chosen))

    def _all_clear(self) -> None:
        if self.prompts.confirm(self, "All clear", "Were these changes yours? Thinning and automatic backups "
                                "resume, and history from before them may be thinned as usual."):
            self.clear_requested.emit()


def restore_before(tk: Timekeep, folder: bytes, snapshot_id: int, when: str, place: bytes | None,
                   secret: str | None) -> tuple[bytes, RestoreResult]:
    """On a worker: restore `folder` as the snapshot holds it into `place` (default: a new folder beside it); a big
    one by a `timekeep restore` of its own, over the cores (`secret`: the passphrase the window holds, if any)."""
    where = place if place is not None else restore_place(folder, when)
    os.makedirs(where, exist_ok=True)
    return where, tk.restore(folder, snapshot_id, dest=where, apart=True, secret=secret)


def clear_via_agent(socket: Path) -> GuardStatus:
    """On a worker: the person's all-clear, sent to the agent."""
    client = AgentClient.connect(socket, timeout=15)
    if client is None:
        raise AgentError("the agent is not running")
    with client:
        return client.guard_clear()


class GuardWatch(QObject):
    """Follows the agent's guard for the window: the banner, the tray's notification, and the two actions."""

    restored = Signal(str)  # the sentence, once a restore ended

    def __init__(self, bridge: EngineBridge, tray: Tray, prompts: Prompts, banner: GuardBanner) -> None:
        super().__init__(banner)
        self.bridge, self.tray, self.prompts, self.banner = bridge, tray, prompts, banner
        bridge.agent.guard_changed.connect(self.show)
        banner.restore_requested.connect(self.restore)
        banner.clear_requested.connect(self.clear)

    def show(self, status: GuardStatus) -> None:
        repo = None if self.bridge.repo is None else key_of(self.bridge.repo)
        if self.banner.show_status(status, repo) and status.incident is not None:
            self.tray.notify(TITLE, f"Files in {', '.join(status.incident.folders)} changed in a way that looks "
                             "like damage. Open Timekeep to restore them as they were.", error=True)

    def restore(self, folder: bytes, before: Before, place: bytes | None) -> None:
        when_ns = iso_ns(before.time) or 0
        stamp = wording.when_precise(when_ns)

        def done(outcome: tuple[bytes, RestoreResult]) -> None:
            where, result = outcome
            sentence = restore_sentence(folder, when_ns, result, where)
            self.restored.emit(sentence)
            say = self.prompts.warn if restore_went_wrong(result) else self.prompts.inform
            say(self.banner, "Restore", sentence)

        def failed(message: str) -> None:
            name = wording.display_name(folder)
            self.prompts.warn(self.banner, "Restore", f"{name} could not be restored: {message}")

        assert before.snapshot is not None
        secret = None if self.bridge.repo is None else held_secret(self.bridge.repo)
        self.bridge.read(restore_before, folder, before.snapshot, stamp, place, secret, on_done=done,
                         on_failed=failed, lane="jobs")

    def clear(self) -> None:
        socket = self.bridge.agent.socket
        if socket is None:
            return
        self.bridge.workers.start(clear_via_agent, socket, on_done=lambda status: self.show(status),
                                  on_failed=lambda message: self.prompts.warn(self.banner, "All clear", message))


def attach(window: QMainWindow, bridge: EngineBridge, tray: Tray, prompts: Prompts) -> GuardWatch:
    """Put the banner at the top of the window's body and follow the agent's guard into it."""
    banner = GuardBanner(prompts, window)
    body = window.centralWidget()
    layout = None if body is None else body.layout()
    assert isinstance(layout, QBoxLayout), "the window's body is a box of widgets"
    layout.insertWidget(0, banner)
    return GuardWatch(bridge, tray, prompts, banner)
