"""Compare with current: a file as it was at T beside the file on disk now, as a side-by-side text diff; or
any two moments of it (`Side`): two versions, one of them under the name it had before a rename, or nothing
on the side where it did not exist.

The diff (difflib) is computed in a worker; the dialog shows two aligned monospace panes that scroll
together, changed lines tinted and marked in the gutter text too (never colour alone).
"""

from __future__ import annotations

import difflib
import io
import os
from dataclasses import dataclass
from itertools import zip_longest
from typing import Literal

from PySide6.QtGui import QFontDatabase, QPalette, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from timekeep.core.api import Timekeep
from timekeep.gui import palette, wording
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.preview_data import as_text

MAX_BYTES = 4 * 1024 * 1024
Tag = Literal["equal", "replace", "delete", "insert"]
MARKS = {"equal": "  ", "replace": "~ ", "delete": "- ", "insert": "+ "}


@dataclass(frozen=True)
class DiffRow:
    old: str | None
    new: str | None
    tag: Tag


@dataclass(frozen=True)
class Comparison:
    rows: tuple[DiffRow, ...] = ()
    message: str = ""  # set when there is nothing to show side by side (not text, missing)
    same: str = "No differences"  # what the summary says when no line differs (`no_differences`)

    @property
    def summary(self) -> str:
        counts = {t: sum(1 for r in self.rows if r.tag == t) for t in ("replace", "insert", "delete")}
        if not any(counts.values()):
            return self.same
        lines = counts["replace"] + counts["insert"] + counts["delete"]
        verb = "line differs" if lines == 1 else "lines differ"
        return (f"{lines} {verb}: {counts['replace']} changed, {counts['insert']} added, {counts['delete']} removed "
                "(marked ~, + and -)")


def side_by_side(old: list[str], new: list[str]) -> list[DiffRow]:
    """Aligned rows: equal lines paired, replaced lines paired in order, additions and removals alone."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(DiffRow(a, b, "equal") for a, b in zip(old[i1:i2], new[j1:j2], strict=True))
        elif tag == "replace":
            for a, b in zip_longest(old[i1:i2], new[j1:j2]):
                rows.append(DiffRow(a, b, "replace" if a is not None and b is not None else
                                    ("delete" if b is None else "insert")))
        elif tag == "delete":
            rows.extend(DiffRow(a, None, "delete") for a in old[i1:i2])
        else:
            rows.extend(DiffRow(None, b, "insert") for b in new[j1:j2])
    return rows


@dataclass(frozen=True)
class Side:
    """One side of a comparison: `path` as stored at a snapshot (id, time), as it is on this computer now
    (no snapshot), or nothing (`absent`: it did not exist then)."""

    path: bytes
    snapshot_id: int | None = None
    time_ns: int | None = None
    absent: bool = False

    def title(self) -> str:
        if self.snapshot_id is None or self.time_ns is None:
            return "Nothing then" if self.absent else "Now, on this computer"
        return f"{'Nothing' if self.absent else 'As it was'} on {wording.when(self.time_ns)}"


def no_differences(old: Side, new: Side) -> str:
    """The summary when no line differs, naming the two moments compared: the file now and as stored, or two
    stored versions (whose attributes may differ: only the lines are compared)."""
    if old.absent or new.absent:
        return "No lines differ: the file was empty"
    if old.snapshot_id is None or old.time_ns is None:
        return "No differences: the file is the same now as it is in the backup"
    then = wording.when(old.time_ns)
    if new.snapshot_id is None or new.time_ns is None:
        return f"No differences: the file is the same now as it was on {then}"
    return f"No differences: the file was the same on {then} and on {wording.when(new.time_ns)}"


class Unreadable(Exception):
    """A side that cannot be set beside the other line by line: the sentence says why."""


def compare_with_current(tk: Timekeep, path: bytes, snapshot_id: int) -> Comparison:
    """Runs in a worker: the stored version's text and the current file's text, diffed."""
    return compare_sides(tk, Side(path, snapshot_id), Side(path))


def compare_sides(tk: Timekeep, old: Side, new: Side) -> Comparison:
    """Runs in a worker: both sides' text, diffed; a missing side is empty."""
    try:
        before, after = _lines(tk, old, "stored"), _lines(tk, new, "current")
    except Unreadable as why:
        return Comparison(message=str(why))
    return Comparison(rows=tuple(side_by_side(before, after)), same=no_differences(old, new))


def _lines(tk: Timekeep, side: Side, which: str) -> list[str]:
    if side.absent:
        return []
    if side.snapshot_id is not None:
        plan = tk.plan(side.path, side.snapshot_id)
        if plan.kind != "file" or plan.size > MAX_BYTES:
            raise Unreadable("Only text files up to 4 MB can be compared")
        buffer = io.BytesIO()
        tk.write_version(plan, buffer)
        data = buffer.getvalue()
    else:
        if not os.path.isfile(side.path):
            raise Unreadable(f"{wording.display_name(side.path)} is not on this computer any more")
        if os.path.getsize(side.path) > MAX_BYTES:
            raise Unreadable(f"The {which} file is over 4 MB: too big to compare here")
        with open(side.path, "rb") as fh:
            data = fh.read()
    text = as_text(data, True)
    if text is None:
        raise Unreadable("This is not a text file, so it cannot be compared line by line")
    return text.splitlines()


def _pane(name: str) -> QPlainTextEdit:
    pane = QPlainTextEdit()
    pane.setReadOnly(True)
    pane.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    pane.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    pane.setAccessibleName(name)
    return pane


class CompareDialog(QDialog):
    """The version at `snapshot_id` beside the file now; or, given `sides`, any two moments of a file."""

    def __init__(self, bridge: EngineBridge, path: bytes, snapshot_id: int, snapshot_ns: int,
                 parent: QWidget | None = None, sides: tuple[Side, Side] | None = None) -> None:
        super().__init__(parent)
        old, new = sides or (Side(path, snapshot_id, snapshot_ns), Side(path))
        later = "now" if new.snapshot_id is None else wording.when(new.time_ns or 0)
        self.setWindowTitle(f"Compare {wording.display_name(path)} with {later}")
        self.resize(1000, 640)
        self.comparison: Comparison | None = None
        self.summary = QLabel("Comparing…")
        self.old_pane, self.new_pane = _pane("As it was"), _pane("Now")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QGridLayout(self)
        layout.addWidget(self.summary, 0, 0, 1, 2)
        self.titles = (QLabel(f"<b>{old.title()}</b>"), QLabel(f"<b>{new.title()}</b>"))
        if old.path != new.path:
            self.titles[0].setText(f"<b>{old.title()}</b>, as {wording.display_name(old.path)}")
        layout.addWidget(self.titles[0], 1, 0)
        layout.addWidget(self.titles[1], 1, 1)
        layout.addWidget(self.old_pane, 2, 0)
        layout.addWidget(self.new_pane, 2, 1)
        layout.addWidget(buttons, 3, 0, 1, 2)
        self._link_scrolling()
        bridge.read(compare_sides, old, new, on_done=self.show_comparison, on_failed=self.summary.setText,
                    lane="jobs")

    def _link_scrolling(self) -> None:
        for a, b in ((self.old_pane, self.new_pane), (self.new_pane, self.old_pane)):
            a.verticalScrollBar().valueChanged.connect(b.verticalScrollBar().setValue)
            a.horizontalScrollBar().valueChanged.connect(b.horizontalScrollBar().setValue)

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        if comparison.message:
            self.summary.setText(comparison.message)
            return
        self.summary.setText(comparison.summary)
        _fill(self.old_pane, [(r.old, r.tag) for r in comparison.rows])
        _fill(self.new_pane, [(r.new, r.tag) for r in comparison.rows])


def _fill(pane: QPlainTextEdit, lines: list[tuple[str | None, Tag]]) -> None:
    pane.setPlainText("\n".join("" if text is None else MARKS[tag] + text for text, tag in lines))
    selections = []
    block = pane.document().firstBlock()
    for _text, tag in lines:
        if tag != "equal":
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(palette.diff_tint(tag, pane.palette()))
            selection.format.setForeground(pane.palette().color(QPalette.ColorRole.Text))
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            selection.cursor = QTextCursor(block)
            selections.append(selection)
        block = block.next()
    pane.setExtraSelections(selections)
