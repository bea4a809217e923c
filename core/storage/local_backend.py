"""A repository in a folder on a drive: the `Backend` every repository had before object storage.

It keeps the drive's old guarantees and speed. A whole object is written to a private temporary beside its
final name, fsynced and renamed into place (`atomic.py`), the folder fsynced after; an object that holds data
is published with `publish_new`, which never replaces one already there. Ranged reads are `pread`s on
descriptors kept open, as restores read many pieces of one pack. The writer lock is a flock() on the folder
(`lock.py`), and the drive's failures come out as DriveFull, DriveGone or StorageError (`failures.py`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from timekeep.core.errors import AccessDenied, ObjectExists, ObjectMissing, StorageError
from timekeep.core.storage.atomic import (
    atomic_write,
    create_private,
    fsync_dir,
    make_private_dir,
    publish,
    publish_new,
    temp_name,
)
from timekeep.core.storage.backend import StoredObject
from timekeep.core.storage.failures import drive_error, gone
from timekeep.core.storage.lock import WriterLock, writer_running

OPEN_DESCRIPTORS = 64  # packs kept open for ranged reads; beyond it they are all closed and opened again
LOCK_NAME = "lock"


class LocalBackend:
    """The folder `root` on a drive. Temporaries (names starting with a dot) are its own business: listings
    never show them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()
        self._identity = _identity(self.root)  # a drive unplugged under its mount point shows another folder

    @property
    def where(self) -> str:
        return str(self.root)

    @property
    def local_folder(self) -> Path | None:
        """The folder itself: files that must be real files (a SQLite index) may live in it."""
        return self.root

    def path(self, name: str) -> Path:
        """The file holding object `name`; ValueError for a name that would leave the folder."""
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not an object name: {name!r}")
        return self.root.joinpath(*parts)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        folder, _, _ = prefix.rpartition("/")
        start = self.path(folder) if folder else self.root
        try:
            yield from (found for found in self._walk(start, f"{folder}/" if folder else "")
                        if found.name.startswith(prefix))
        except OSError as err:
            raise self._failure(err, prefix or "the repository") from err

    def names(self, prefix: str = "") -> Iterator[str]:
        folder, _, _ = prefix.rpartition("/")
        start = self.path(folder) if folder else self.root
        try:
            yield from (found.name for found in self._walk(start, f"{folder}/" if folder else "", sized=False)
                        if found.name.startswith(prefix))
        except OSError as err:
            raise self._failure(err, prefix or "the repository") from err

    def _walk(self, folder: str | Path, relative: str, sized: bool = True) -> Iterator[StoredObject]:
        """The objects at and below `folder`; without `sized`, each with size -1 and no `stat` (the folder's
        own listing says which are files)."""
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(entry.path, f"{relative}{entry.name}/", sized)  # a str: a Path cost more
            elif entry.is_file(follow_symlinks=False):
                try:
                    size = entry.stat(follow_symlinks=False).st_size if sized else -1
                except FileNotFoundError:  # deleted since the folder was read (a thinning giving space back)
                    continue
                yield StoredObject(relative + entry.name, size)

    def stat(self, name: str) -> StoredObject | None:
        try:
            found = os.stat(self.path(name), follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise self._failure(err, name) from err
        return StoredObject(name, found.st_size) if stat.S_ISREG(found.st_mode) else None

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """A whole object is read through a descriptor of its own (it may be replaced between two reads); a
        range through one kept open (a range is read from what never changes: a pack, a manifest)."""
        try:
            if offset == 0 and length is None:
                with open(self.path(name), "rb") as fh:
                    return fh.read()
            fd = self._descriptor(name)
            if length is None:
                length = max(0, os.fstat(fd).st_size - offset)
            return os.pread(fd, length, offset)
        except OSError as err:
            raise self._failure(err, name) from err

    def read_into(self, name: str, offset: int, parts: Sequence[bytearray]) -> int:
        """A range of an object read into `parts` one after another (no buffer made for it: a restore reuses
        its own); the bytes read, fewer only where the object ends first."""
        try:
            return os.preadv(self._descriptor(name), parts, offset)
        except OSError as err:
            raise self._failure(err, name) from err

    def _descriptor(self, name: str) -> int:
        with self._lock:
            fd = self._fds.get(name)
            if fd is None:
                if len(self._fds) >= OPEN_DESCRIPTORS:
                    self._close_all()
                fd = self._fds[name] = os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC)
            return fd

    def write(self, name: str, data: bytes, *, replace: bool = False) -> None:
        target = self.path(name)
        try:
            self._make_folder(target.parent)
            atomic_write(target, data, replace=replace)
        except FileExistsError:
            raise ObjectExists(f"{name} already exists in {self.root}; it was not replaced") from None
        except OSError as err:
            raise self._failure(err, name) from err
        self._forget(name)

    def write_file(self, name: str, source: Path, *, replace: bool = False) -> None:
        """Publishes `source` by rename where it is on the same drive (the pack and manifest writers keep their
        temporaries in the repository folder for that), else copies it through a temporary beside the target.
        Either way `source` is gone on success, and left for the caller on failure."""
        target = self.path(name)
        try:
            self._make_folder(target.parent)
            _fsync_file(source)
            try:
                (publish if replace else publish_new)(source, target)
            except OSError as err:
                if err.errno != errno.EXDEV:
                    raise
                self._copy_in(source, target, replace)
                source.unlink()
        except FileExistsError:
            raise ObjectExists(f"{name} already exists in {self.root}; it was not replaced") from None
        except OSError as err:
            raise self._failure(err, name) from err
        self._forget(name)

    def _copy_in(self, source: Path, target: Path, replace: bool) -> None:
        tmp = temp_name(target)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        try:
            with open(source, "rb") as src, open(create_private(tmp), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            (publish if replace else publish_new)(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _make_folder(self, folder: Path) -> None:
        """The object's folder, made if missing and made durable; its parent is synced whether or not it was
        new, so writing an object takes the same steps whatever its name (the crash tests count steps)."""
        if folder == self.root:
            return
        try:
            make_private_dir(folder, exist_ok=True)
        except FileNotFoundError:
            self._make_folder(folder.parent)
            make_private_dir(folder, exist_ok=True)
        fsync_dir(folder.parent)

    def delete(self, name: str) -> None:
        """Remove the file and make its removal durable (the folder synced, whether or not it was there)."""
        target = self.path(name)
        self._forget(name)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
            with contextlib.suppress(FileNotFoundError):
                fsync_dir(target.parent)
        except OSError as err:
            raise self._failure(err, name) from err

    def writer_lock(self) -> WriterLock:
        return WriterLock(self.root / LOCK_NAME)

    def writer_running(self) -> bool:
        return writer_running(self.root / LOCK_NAME)

    def close(self) -> None:
        with self._lock:
            self._close_all()

    def __del__(self) -> None:  # a layout made for one look (a footer read while opening) leaves nothing open
        self._close_all()

    def _forget(self, name: str) -> None:
        with self._lock:
            fd = self._fds.pop(name, None)
        if fd is not None:
            _close(fd)

    def _close_all(self) -> None:
        fds = list(self._fds.values())
        self._fds.clear()
        for fd in fds:
            _close(fd)

    def _failure(self, err: OSError, name: str) -> StorageError:
        """The drive's failure (full, gone, read-only), an object that is not there, or the refusal in words."""
        if isinstance(err, (FileNotFoundError, NotADirectoryError)):
            now = _identity(self.root)
            if now is not None and self._identity in (None, now):
                self._identity = now  # a backend made before its folder: the first folder seen is the drive's
                return ObjectMissing(f"{name} is missing from {self.root}")
            return gone(f"{self.root} is no longer there")
        found = drive_error(err, self.root)
        if found is not None:
            return found
        if isinstance(err, PermissionError):
            return AccessDenied(f"cannot use {name} in {self.root}: permission denied")
        return StorageError(f"cannot use {name} in {self.root}: {err.strerror or err}")


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(folder)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        _close(fd)


def _close(fd: int) -> None:
    """Close once; a vanished drive's close fails but releases the descriptor all the same."""
    with contextlib.suppress(OSError):
        os.close(fd)
