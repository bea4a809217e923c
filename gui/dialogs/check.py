""""Check backup…": does the index agree with the drive, and has the drive lost anything? The engine's check
without re-reading every chunk (that is `timekeep check --read-data`, which takes as long as a restore of
everything), run in a worker with its progress, ending in "No problems found" or the list of what is wrong,
what was lost by snapshot and path first.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import describe_lost
from timekeep.core.types import CheckReport, Progress
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.engine_jobs import check_backup
from timekeep.gui.location import Location
from timekeep.gui.workers import WorkerPool

LISTED = 50  # past this a list is for `timekeep check --json`, not for reading in a dialog


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def check_text(report: CheckReport) -> str:
    """The outcome for a person: the verdict, then what was lost, what is wrong, and what is worth knowing."""
    counted = f"{_count(report.snapshots, 'snapshot')} checked"
    if report.ok:
        lines = [f"No problems found: the index agrees with the drive and nothing is lost ({counted})."]
    else:
        lines = [f"Problems found ({counted}): they are listed below."]
    if report.lost:
        lines += ["", "Lost (what a restore cannot give back):",
                  *(f"• {line}" for line in wording.some([describe_lost(item) for item in report.lost], LISTED))]
    if report.problems:
        lines += ["", "Problems:", *(f"• {wording.sentence(p)}" for p in wording.some(report.problems, LISTED))]
    if report.notes:
        lines += ["", "Worth knowing:", *(f"• {wording.sentence(n)}" for n in report.notes)]
    return "\n".join(lines)


class CheckDialog(QDialog):
    def __init__(self, workers: WorkerPool, repo: Location, assets: Assets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers, self.repo = workers, repo
        self.report: CheckReport | None = None
        self.setWindowTitle("Check backup")
        self.status = QLabel("Checking that the index agrees with the drive…")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Check progress")
        self.bar.setRange(0, 0)  # busy until the first report says how many snapshots there are
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Check result")
        self.details.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.assets = assets
        self.icon = QLabel()
        self.icon.setPixmap(assets.icon("check").pixmap(32, 32))
        heading = QHBoxLayout()
        heading.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        heading.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(heading)
        layout.addWidget(self.bar)
        layout.addWidget(self.details, 1)
        layout.addStretch(0)
        layout.addWidget(buttons)
        self.resize(640, 160)

    def start(self) -> None:
        self.workers.start_reporting(check_backup, self.repo, on_progress=self._progressed, on_done=self._done,
                                     on_failed=self._failed)

    def _progressed(self, progress: Progress) -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(wording.progress_fraction(progress) * 1000))
        self.status.setText(f"Checking: {wording.progress_line(progress)}")

    def _done(self, report: CheckReport) -> None:
        self.report = report
        self.bar.hide()
        if not report.ok:
            self.icon.setPixmap(self.assets.icon("index-damaged").pixmap(32, 32))
        text = check_text(report)
        first, _, rest = text.partition("\n")
        self.status.setText(first)
        if rest.strip():
            self.details.setPlainText(rest.strip())
            self.details.show()
            self.resize(self.width(), 420)

    def _failed(self, message: str) -> None:
        self.bar.hide()
        self.status.setText(f"The backup could not be checked: {message}")

    def shown_text(self) -> str:
        """Everything the dialog says (tests, screen readers)."""
        extra = "" if self.details.isHidden() else self.details.toPlainText()
        return "\n".join(part for part in (self.status.text(), extra) if part)
