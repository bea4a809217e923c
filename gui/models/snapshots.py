"""The list of snapshots, oldest first: the timeline's data and its tooltips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from core.types import SnapshotInfo
from gui import wording

SNAPSHOT_ROLE = Qt.ItemDataRole.UserRole + 1
TRIGGERS = {"manual": "Backed up by hand", "schedule": "Scheduled backup", "first": "First backup",
            "quit": "Backed up on quitting", "drive": "Backed up when the drive was connected"}
AnyIndex = QModelIndex | QPersistentModelIndex


def describe(snapshot: SnapshotInfo) -> str:
    """A snapshot's tooltip: when, why, and what changed."""
    lines = [wording.when_precise(snapshot.time_ns), TRIGGERS.get(snapshot.trigger, snapshot.trigger.capitalize())]
    changed = snapshot.files_changed
    lines.append("Nothing changed" if changed == 0 else
                 f"{changed:,} file{'s' if changed != 1 else ''} changed, {wording.size(snapshot.bytes_new)} stored")
    if snapshot.errors:
        lines.append(f"{snapshot.errors} file{'s' if snapshot.errors != 1 else ''} could not be read")
    return "\n".join(lines)


class SnapshotsModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.snapshots: tuple[SnapshotInfo, ...] = ()

    def set_snapshots(self, snapshots: Sequence[SnapshotInfo]) -> None:
        self.beginResetModel()
        self.snapshots = tuple(snapshots)
        self.endResetModel()

    def position_of(self, snapshot_id: int) -> int | None:
        for i, snap in enumerate(self.snapshots):
            if snap.id == snapshot_id:
                return i
        return None

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
            return describe(snap)
        return None
