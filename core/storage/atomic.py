"""The one way to put a whole file on the drive: write a temporary, fsync, rename, fsync the directory."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file, never a torn one."""
    target = Path(path)
    tmp = temp_name(target)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    publish(tmp, target)


def publish(tmp: Path, target: Path) -> None:
    """Rename an already-fsynced temporary into place and make the rename itself durable."""
    os.replace(tmp, target)
    fsync_dir(target.parent)
