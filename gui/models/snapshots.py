"""The list of snapshots, oldest first: the timeline's data and its tooltips.

A tooltip says what the snapshot changed. Counting that is a query per snapshot, so it is asked for only when
a tooltip is wanted (`summary_wanted`, answered from a worker through `set_summary`) and kept until the
history is reloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from timekeep.core.types import SnapshotInfo, SnapshotSummary
from timekeep.gui import wording

SNAPSHOT_ROLE = Qt.ItemDataRole.UserRole + 1
TRIGGERS = {"manual": "Backed up by hand", "backup-now": "Backed up by hand", "schedule": "Scheduled backup",
            "interval": "Scheduled backup", "clock": "Scheduled backup", "first": "First backup",
            "quit": "Backed up on quitting", "shutdown": "Backed up on shutting down",
            "drive": "Backed up when the drive was connected",
            "drive-connected": "Backed up when the drive was connected",
            "journal-bound": "Backed up because many files had changed"}
AnyIndex = QModelIndex | QPersistentModelIndex


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def describe(snapshot: SnapshotInfo, summary: SnapshotSummary | None = None, roots: Sequence[bytes] = ()) -> str:
    """A snapshot's tooltip: when, why, and what changed (files, bytes, the busiest folders) once the
    summary has been read; until then, the snapshot's own counts."""
    lines = [wording.when_precise(snapshot.time_ns), TRIGGERS.get(snapshot.trigger, snapshot.trigger.capitalize())]
    if summary is None:
        changed = snapshot.files_changed
        lines.append("Nothing changed" if changed == 0 else
                     f"{_plural(changed, 'file')} changed, {wording.size(snapshot.bytes_new)} new")
    else:
        lines.extend(_summary_lines(summary, roots))
    if snapshot.errors:
        lines.append(f"{_plural(snapshot.errors, 'file')} could not be read")
    return "\n".join(lines)


def _summary_lines(summary: SnapshotSummary, roots: Sequence[bytes]) -> list[str]:
    if not summary.files_changed and not summary.files_deleted:
        return ["No file changed"]
    counts = [f"{_plural(summary.files_changed, 'file')} changed"] if summary.files_changed else []
    if summary.files_deleted:
        counts.append(f"{summary.files_deleted:,} deleted")
    lines = [", ".join(counts) + f" · {wording.size(summary.bytes_new)} new"]
    if summary.top_folders:
        folders = ", ".join(f"{wording.within(path, roots)} ({n:,})" for path, n in summary.top_folders)
        lines.append(f"Most changes in: {folders}")
    return lines


class SnapshotsModel(QAbstractListModel):
    summary_wanted = Signal(int)  # a snapshot id: read its summary in a worker and call set_summary
    summary_arrived = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.snapshots: tuple[SnapshotInfo, ...] = ()
        self.roots: tuple[bytes, ...] = ()  # the protected folders: top folders are named from them
        self.summaries: dict[int, SnapshotSummary] = {}
        self._asked: set[int] = set()
        self._positions: dict[int, int] = {}  # snapshot id -> position: asked on every move of the timeline

    def set_snapshots(self, snapshots: Sequence[SnapshotInfo], roots: Sequence[bytes] = ()) -> None:
        """New history: summaries are read again (thinning may have folded other snapshots into one)."""
        self.beginResetModel()
        self.snapshots, self.roots = tuple(snapshots), tuple(roots)
        self._positions = {snap.id: i for i, snap in enumerate(self.snapshots)}
        self.summaries, self._asked = {}, set()
        self.endResetModel()

    def want_summary(self, snapshot_id: int) -> SnapshotSummary | None:
        """The summary if known; otherwise it is asked for (once) and None returned."""
        found = self.summaries.get(snapshot_id)
        if found is None and snapshot_id not in self._asked:
            self._asked.add(snapshot_id)
            self.summary_wanted.emit(snapshot_id)
        return found

    def set_summary(self, summary: SnapshotSummary) -> None:
        at = self.position_of(summary.snapshot_id)
        if at is None:
            return  # the history changed meanwhile
        self.summaries[summary.snapshot_id] = summary
        self.dataChanged.emit(self.index(at), self.index(at), [Qt.ItemDataRole.ToolTipRole])
        self.summary_arrived.emit(summary.snapshot_id)

    def summary_failed(self, snapshot_id: int) -> None:
        self._asked.discard(snapshot_id)  # the next tooltip asks again

    def position_of(self, snapshot_id: int) -> int | None:
        return self._positions.get(snapshot_id)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.snapshots)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.snapshots):
            return None
        snap = self.snapshots[index.row()]
        if role == SNAPSHOT_ROLE:
            return snap
        if role == Qt.ItemDataRole.DisplayRole:
            return wording.when(snap.time_ns)
        if role == Qt.ItemDataRole.ToolTipRole:
            return describe(snap, self.summaries.get(snap.id), self.roots)
        return None
