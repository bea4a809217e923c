"""The form for backups kept in a bucket (S3-compatible storage: a NAS, a family server, a cloud): where,
which server, where the credentials come from, and "Connect", which asks the server in a worker.

Connecting says what is there ("repository": backups to open; "empty": a new place for them) or, in place
under the form, the one line of what went wrong (no credentials, no such bucket, access denied, the server
cannot be reached). An endpoint that answered is remembered in settings.json, so the engine, the agent and
the command line reach the bucket without being told again.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import is_remote, probe_location, remember_endpoint
from timekeep.gui import palette, wording
from timekeep.gui.location import describe_bucket, host_of, location_of
from timekeep.gui.workers import WorkerPool

ENDPOINT_HINT = "Leave empty for Amazon S3. For a NAS or another provider: its address, e.g. https://nas.local:9000"
CREDENTIALS_NOTE = ("Timekeep signs in with your usual AWS configuration: the keys in ~/.aws/credentials (the "
                    "profile named by AWS_PROFILE, or the default one), or AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY in the environment. Timekeep never stores them.")


@dataclass(frozen=True)
class Connected:
    """A bucket that answered: the location, its endpoint (None: boto3's own, or AWS), and what is there."""

    location: str
    endpoint: str | None
    state: str  # "repository" or "empty"

    @property
    def description(self) -> str:
        return describe_bucket(self.location, self.endpoint)

    @property
    def host(self) -> str:
        return host_of(self.endpoint)


def connect(location: str, endpoint: str | None) -> Connected:
    """Ask the server what is at `location` (in a worker); the endpoint is remembered once it answered."""
    state = probe_location(location, endpoint)
    remember_endpoint(location, endpoint)
    return Connected(location, endpoint, state)


def form_refusal(location: str) -> str | None:
    """What is wrong with the typed location before any server is asked, or None."""
    if not location:
        return "Type the location of the backups, as s3://bucket/folder."
    if not is_remote(location):
        return f"{location} is not an S3 location: write it as s3://bucket/folder."
    return None


class S3Form(QWidget):
    connected = Signal(object)  # Connected
    edited = Signal()  # the fields changed: a connection made before no longer holds

    def __init__(self, workers: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self._request = 0
        self.location_edit = QLineEdit()
        self.location_edit.setPlaceholderText("s3://bucket/folder")
        self.location_edit.setAccessibleName("S3 location")
        self.endpoint_edit = QLineEdit()
        self.endpoint_edit.setPlaceholderText("https://nas.local:9000")
        self.endpoint_edit.setAccessibleName("Endpoint URL")
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self.connect_now)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setAccessibleName("Connecting")
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for edit in (self.location_edit, self.endpoint_edit):
            edit.textEdited.connect(self._edited)
            edit.returnPressed.connect(self.connect_now)
        self._lay_out()

    def _lay_out(self) -> None:
        endpoint = QWidget()  # the hint right under its field: a wrapped label as a form row of its own floats
        column = QVBoxLayout(endpoint)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.endpoint_edit)
        column.addWidget(_small(ENDPOINT_HINT))
        form = QFormLayout()
        form.addRow("Location:", self.location_edit)
        form.addRow("Endpoint URL:", endpoint)
        row = QHBoxLayout()
        row.addWidget(self.connect_button)
        row.addWidget(self.busy)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(_small(CREDENTIALS_NOTE))
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def fill(self, location: str, endpoint: str = "") -> None:
        """Put a location and endpoint in the fields, as if typed (a connection made before no longer holds)."""
        self.location_edit.setText(location)
        self.endpoint_edit.setText(endpoint)
        self._edited()

    def connect_now(self) -> None:
        """Ask the server (in a worker) what is at the typed location; the answer comes as `connected`."""
        location = str(location_of(self.location_edit.text().strip()))
        endpoint = self.endpoint_edit.text().strip() or None
        refusal = form_refusal(location)
        if refusal:
            self._say(refusal, error=True)
            return
        self._request += 1
        request = self._request
        self.connect_button.setEnabled(False)
        self.busy.show()
        self._say(f"Connecting to {location}…", error=False)
        self.workers.start(connect, location, endpoint, on_done=lambda found: self._answered(request, found),
                           on_failed=lambda message: self._refused(request, message))

    def _answered(self, request: int, found: Connected) -> None:
        if request != self._request:
            return  # the fields changed meanwhile
        self._settled()
        self._say(f"Connected to {found.host}: Timekeep backups are there." if found.state == "repository"
                  else f"Connected to {found.host}: nothing is stored there yet, so new backups can be kept there.",
                  error=False)
        self.connected.emit(found)

    def _refused(self, request: int, message: str) -> None:
        if request == self._request:
            self._settled()
            self._say(wording.sentence(message), error=True)

    def _settled(self) -> None:
        self.connect_button.setEnabled(True)
        self.busy.hide()

    def _edited(self) -> None:
        self._request += 1  # an answer to the old fields is dropped
        self._settled()
        self.status.clear()
        self.edited.emit()

    def _say(self, text: str, error: bool) -> None:
        self.status.setStyleSheet(palette.message_style(self.palette(), error=error))
        self.status.setText(text)


def _small(text: str) -> QLabel:
    label = QLabel(f"<small>{text}</small>")
    label.setWordWrap(True)
    return label
