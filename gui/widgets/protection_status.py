"""The status bar's protection corner: is protection on (agent running, drive connected), and when it is
off, the one-click "Turn on protection" with its result said in place."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from timekeep.gui.protection import ProtectionState, protection_line


class ProtectionStatus(QWidget):
    turn_on_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setAccessibleName("Protection")
        self.turn_on_button = QPushButton("Turn on protection")
        self.turn_on_button.setToolTip("Install the background agent for this drive and start it: backups go on "
                                       "when this window is closed")
        self.turn_on_button.clicked.connect(self._clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 16, 0)  # a gap before "Last backup …" beside it
        layout.addWidget(self.label)
        layout.addWidget(self.turn_on_button)
        self.show_state(None)

    def show_state(self, state: ProtectionState | None) -> None:
        text, offer = protection_line(state)
        self.label.setText(text)
        self.turn_on_button.setVisible(offer)
        self.turn_on_button.setEnabled(True)

    def show_result(self, sentence: str) -> None:
        """What turning protection on did, in one sentence (the next look at the agent says the rest)."""
        self.label.setText(sentence)
        self.turn_on_button.setEnabled(True)

    def _clicked(self) -> None:
        self.turn_on_button.setEnabled(False)
        self.label.setText("Turning on protection…")
        self.turn_on_requested.emit()
