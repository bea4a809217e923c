"""Where backups could go: the mounted, writable volumes (removable ones first) and the suggested folders.

Both run in a worker: asking the system about volumes and reading the home folder touch the disk.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStorageInfo

from timekeep.core.api import is_repository

SYSTEM_ROOTS = ("/proc", "/sys", "/dev", "/run", "/boot", "/snap", "/var", "/etc", "/usr", "/tmp")
REMOVABLE_ROOTS = ("/media/", "/run/media/", "/mnt/", "/Volumes/")
SUGGESTED = ("Documents", "Desktop", "Pictures", "Projects", "Music", "Videos")
DEFAULT_ON = ("Documents", "Desktop", "Pictures")


@dataclass(frozen=True)
class Volume:
    root: str
    name: str
    free: int
    total: int
    removable: bool
    is_system: bool  # the disk the home folder is on: a backup there does not survive that disk


def _skipped(root: str) -> bool:
    if any(root.startswith(r) for r in REMOVABLE_ROOTS):
        return False
    return any(root == r or root.startswith(r + "/") for r in SYSTEM_ROOTS)


def list_volumes(home: Path | None = None) -> list[Volume]:
    """Writable mounted volumes: removable first, then by free space."""
    home_device = os.stat(home or Path.home()).st_dev
    found = []
    for info in QStorageInfo.mountedVolumes():
        root = info.rootPath()
        if not info.isValid() or not info.isReady() or info.isReadOnly() or _skipped(root):
            continue
        removable = any(root.startswith(r) for r in REMOVABLE_ROOTS)
        try:
            is_system = os.stat(root).st_dev == home_device
        except OSError:
            continue
        name = info.displayName() or os.path.basename(root) or root
        found.append(Volume(root, name, info.bytesAvailable(), info.bytesTotal(), removable, is_system))
    return sorted(found, key=lambda v: (not v.removable, v.is_system, -v.free, v.root))


def repository_path(drive: str | Path, host: str | None = None) -> Path:
    """`<drive>/Timekeep/<hostname>`: one repository per computer, so a drive can serve several."""
    return Path(drive) / "Timekeep" / (host or socket.gethostname() or "computer")


def backups_folder(chosen: str | Path) -> tuple[Path, bool]:
    """Where backups go for a chosen drive or folder, and whether a repository is already there: a chosen
    folder that is itself a repository (made with `timekeep init`, say) is used as it is, never nested."""
    path = Path(chosen)
    if is_repository(path):
        return path, True
    target = repository_path(path)
    return target, is_repository(target)


@dataclass(frozen=True)
class Suggestion:
    path: str
    checked: bool


def suggested_folders(home: Path) -> list[Suggestion]:
    """The home folder's visible sub-folders, the usual document folders first and ticked."""
    try:
        names = sorted(e.name for e in os.scandir(home) if e.is_dir(follow_symlinks=False)
                       and not e.name.startswith("."))
    except OSError:
        return []
    first = [n for n in SUGGESTED if n in names]
    rest = [n for n in names if n not in first]
    return [Suggestion(str(home / n), n in DEFAULT_ON) for n in first + rest]
