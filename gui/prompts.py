"""Every question and message the app puts to the person goes through one `Prompts` object.

The windows receive it from the bootstrap; tests hand in a `ScriptedPrompts` that records what was said and
answers from a script, so no test patches QMessageBox or waits on a modal dialog.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QWidget


class Prompts:
    """The real thing: Qt's standard dialogs."""

    def inform(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.information(parent, title, text)

    def warn(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.warning(parent, title, text)

    def confirm(self, parent: QWidget | None, title: str, text: str) -> bool:
        answer = QMessageBox.question(parent, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def choose_folder(self, parent: QWidget | None, title: str, start: str = "") -> str | None:
        chosen = QFileDialog.getExistingDirectory(parent, title, start)
        return chosen or None

    def choose_save_file(self, parent: QWidget | None, title: str, start: str = "") -> str | None:
        """A file name to write; the caller asks before replacing an existing file."""
        chosen, _filter = QFileDialog.getSaveFileName(parent, title, start,
                                                      options=QFileDialog.Option.DontConfirmOverwrite)
        return chosen or None

    def set_up_printer(self, parent: QWidget | None, printer: QPrinter) -> bool:
        """The system's print dialog: False when the person cancels it."""
        return QPrintDialog(printer, parent).exec() == QDialog.DialogCode.Accepted


@dataclass
class ScriptedPrompts(Prompts):
    """For tests: answers come from queues, everything said is recorded in `said`."""

    folders: deque[str | None] = field(default_factory=deque)
    confirmations: deque[bool] = field(default_factory=deque)
    said: list[tuple[str, str, str]] = field(default_factory=list)
    save_files: deque[str | None] = field(default_factory=deque)
    pdf_files: deque[str | None] = field(default_factory=deque)  # "printing" writes a PDF here

    def inform(self, parent: QWidget | None, title: str, text: str) -> None:
        self.said.append(("inform", title, text))

    def warn(self, parent: QWidget | None, title: str, text: str) -> None:
        self.said.append(("warn", title, text))

    def confirm(self, parent: QWidget | None, title: str, text: str) -> bool:
        self.said.append(("confirm", title, text))
        return self.confirmations.popleft() if self.confirmations else False

    def choose_folder(self, parent: QWidget | None, title: str, start: str = "") -> str | None:
        self.said.append(("choose_folder", title, start))
        return self.folders.popleft() if self.folders else None

    def choose_save_file(self, parent: QWidget | None, title: str, start: str = "") -> str | None:
        self.said.append(("choose_save_file", title, start))
        return self.save_files.popleft() if self.save_files else None

    def set_up_printer(self, parent: QWidget | None, printer: QPrinter) -> bool:
        target = self.pdf_files.popleft() if self.pdf_files else None
        self.said.append(("set_up_printer", "Print", target or ""))
        if target is None:
            return False
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(target)
        return True
