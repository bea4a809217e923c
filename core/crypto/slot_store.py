"""Where a repository's key slots live: files under `keys/` in a drive's repository folder, objects under
`keys/` in a bucket. Each slot is published under a name nothing has yet and never rewritten; the drive's
files are written as they always were (private from their first byte, renamed into place, fsynced)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from timekeep.core.crypto import slots
from timekeep.core.crypto.slots import Slot
from timekeep.core.errors import KeySlotDamaged, ObjectMissing
from timekeep.core.storage import atomic
from timekeep.core.storage.backend import Backend
from timekeep.core.storage.location import backend_of

KEYS_FOLDER = "keys"


def keys_dir(root: Path) -> Path:
    """The slots' folder of a drive's repository (in a bucket: the name its messages give the keys/ prefix)."""
    return root / KEYS_FOLDER


def slot_paths(root: Path) -> list[Path]:
    """Every slot's path, sorted; a missing or unreadable folder holds none."""
    store = backend_of(root)
    if store is not None:
        names = sorted(found.name for found in store.list(f"{KEYS_FOLDER}/"))
        return [root / name for name in names if _is_slot_name(name.rpartition("/")[2])]
    folder = keys_dir(root)
    try:
        return sorted(p for p in folder.iterdir() if _is_slot_name(p.name))
    except OSError:
        return []


def _is_slot_name(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")


def read_slot(root: Path, path: Path, repository_id: str) -> Slot:
    """The slot at `path` (one of `slot_paths`), checked; KeySlotDamaged names it otherwise."""
    store = backend_of(root)
    if store is None:
        return slots.read(path, repository_id)
    try:
        raw = store.read(_name(path), 0, slots.MAX_SLOT_BYTES + 1)
    except ObjectMissing:
        raise KeySlotDamaged(f"Key slot {path} cannot be read: it is gone.") from None
    return slots.parse(raw, path, repository_id)


def slot_bytes(root: Path, slot_id: str) -> bytes | None:
    """The stored bytes of slot `slot_id`, or None when there is no such slot."""
    store = backend_of(root)
    if store is None:
        source = keys_dir(root) / f"{slot_id}.json"
        return source.read_bytes() if source.is_file() else None
    try:
        return store.read(f"{KEYS_FOLDER}/{slot_id}.json")
    except ObjectMissing:
        return None


def write_new(root: Path, slot_id: str, data: bytes) -> None:
    """Publish a slot under its id; never replaces one (FileExistsError on a drive, ObjectExists in a bucket)."""
    store = backend_of(root)
    if store is not None:
        store.write(f"{KEYS_FOLDER}/{slot_id}.json", data)
        return
    folder = keys_dir(root)
    atomic.make_private_dir(folder, exist_ok=True)
    _remove_temporaries(folder)
    target = folder / f"{slot_id}.json"
    tmp = atomic.temp_name(target)
    fd = atomic.create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        atomic.publish_new(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove(root: Path, slot_id: str, missing_ok: bool = False) -> None:
    store: Backend | None = backend_of(root)
    if store is not None:
        store.delete(f"{KEYS_FOLDER}/{slot_id}.json")
        return
    try:
        os.unlink(keys_dir(root) / f"{slot_id}.json")
    except FileNotFoundError:
        if not missing_ok:
            raise
        return
    atomic.fsync_dir(keys_dir(root))


def make_folder(root: Path) -> None:
    """A drive's keys/ folder, private; a bucket needs none."""
    if backend_of(root) is None:
        atomic.make_private_dir(keys_dir(root), exist_ok=True)


def _remove_temporaries(folder: Path) -> None:
    for path in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()


def _name(path: Path) -> str:
    """The object name of a slot path under a remote root ("keys/<id>.json")."""
    return f"{KEYS_FOLDER}/{path.name}"

