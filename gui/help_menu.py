"""The Help menu: the guide (the README, shown inside the app so it reads offline, in a checkout and in an
installed copy alike), the keyboard keys, and About (version, what Timekeep is, its licence).

The guide and the version are read in a worker; the dialogs open when they arrive.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMainWindow, QTextBrowser, QVBoxLayout, QWidget

from timekeep.gui.workers import WorkerPool

SUMMARY = ("Timekeep keeps every version of your files on a backup drive and lets you go back in time to see "
           "and restore any of them.")
LICENCE = "MIT licence"
KEYS = (("Back up now", "Ctrl+B"), ("Settings", "Ctrl+,"), ("Quit", "Ctrl+Q"), ("This guide", "F1"),
        ("In the timeline: the snapshot before / after", "← / →"),
        ("In the timeline: ten snapshots back / on", "Page Up / Page Down"),
        ("In the timeline: where the selected file changed", "Ctrl+← / Ctrl+→"),
        ("In the timeline: the first snapshot / Now", "Home / End"),
        ("In the timeline: what changed between two moments", "Shift+click, or Shift+← / Shift+→"),
        ("In the folder view: the restore menu", "Menu key or Shift+F10"),
        ("Deleted files of the folder shown or selected", "Ctrl+Shift+D"))


def guide_candidates() -> list[Path]:
    """Where the README is: a bundle, the checkout, then the installed documentation."""
    places = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        places.append(Path(bundle) / "README.md")
    places.append(Path(__file__).resolve().parent.parent / "README.md")
    places += [Path(sys.prefix) / "share" / "doc" / "timekeep" / "README.md",
               Path("/usr/share/doc/timekeep/README.md")]
    return places


@dataclass(frozen=True)
class Guide:
    markdown: str
    folder: str  # where its pictures are found ("" when it was not found)


def read_guide() -> Guide:
    for path in guide_candidates():
        try:
            return Guide(path.read_text(encoding="utf-8"), str(path.parent))
        except OSError:
            continue
    return Guide("# Timekeep\n\nThe guide was not installed with this copy of Timekeep. " + SUMMARY, "")


def version() -> str:
    try:
        return metadata.version("timekeep")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def about_html(number: str) -> str:
    return (f"<h2>Timekeep {number}</h2><p>{SUMMARY}</p><p>{LICENCE}. Your backups are yours: the format on the "
            "drive is documented, and nothing leaves this computer.</p>")


def keys_html() -> str:
    rows = "".join(f"<tr><td>{what}</td><td>&nbsp;&nbsp;<b>{key}</b></td></tr>" for what, key in KEYS)
    return f"<h3>Keyboard</h3><table>{rows}</table>"


class TextDialog(QDialog):
    """A read-only page (rich text or Markdown) with a Close button; links open in the browser."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)


class HelpMenu:
    """Adds the Help menu to `window`; the dialog shown last stays in `dialog` (tests read it)."""

    def __init__(self, window: QMainWindow, workers: WorkerPool) -> None:
        self.window, self.workers = window, workers
        self.dialog: TextDialog | None = None
        self.guide_action = QAction("Timekeep guide", window)
        self.guide_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.guide_action.triggered.connect(lambda: self.workers.start(read_guide, on_done=self._show_guide))
        self.keys_action = QAction("Keyboard shortcuts", window)
        self.keys_action.triggered.connect(lambda: self._show("Keyboard shortcuts", keys_html(), 520, 360))
        self.about_action = QAction("About Timekeep", window)
        self.about_action.triggered.connect(
            lambda: self.workers.start(version, on_done=lambda n: self._show("About Timekeep", about_html(n))))
        menu = window.menuBar().addMenu("&Help")
        menu.addActions([self.guide_action, self.keys_action])
        menu.addSeparator()
        menu.addAction(self.about_action)

    def _show_guide(self, guide: Guide) -> None:
        dialog = self._open("Timekeep guide", 760, 640)
        if guide.folder:
            dialog.browser.setSearchPaths([guide.folder])
        dialog.browser.setMarkdown(guide.markdown)

    def _show(self, title: str, html: str, width: int = 460, height: int = 260) -> None:
        self._open(title, width, height).browser.setHtml(html)

    def _open(self, title: str, width: int, height: int) -> TextDialog:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = TextDialog(title, self.window)
        self.dialog.resize(width, height)
        self.dialog.show()
        return self.dialog
