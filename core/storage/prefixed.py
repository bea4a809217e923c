"""A backend seen through a name prefix: the objects under `prefix` of another backend, named as if they were
a repository of their own. `timekeep encrypt` stages a bucket's encrypted copy this way (under `encrypting/`),
so the code that writes packs, manifests, key slots and folders.json writes the copy unchanged, and every
write still goes through the one backend whose writer lease it checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from timekeep.core.storage.backend import Backend, Lock, StoredObject


class Prefixed:
    """`inner`'s objects under `prefix` (which ends in "/"). It has no lock of its own: the caller holds the
    inner backend's writer lock."""

    def __init__(self, inner: Backend, prefix: str) -> None:
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise ValueError(f"not a folder prefix: {prefix!r}")
        self.inner, self.prefix = inner, prefix

    @property
    def where(self) -> str:
        return f"{self.inner.where.rstrip('/')}/{self.prefix.rstrip('/')}"

    @property
    def local_folder(self) -> Path | None:
        folder = self.inner.local_folder
        return None if folder is None else folder / self.prefix.rstrip("/")

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        for found in self.inner.list(self.prefix + prefix):
            yield StoredObject(found.name.removeprefix(self.prefix), found.size)

    def names(self, prefix: str = "") -> Iterator[str]:
        return (name.removeprefix(self.prefix) for name in self.inner.names(self.prefix + prefix))

    def stat(self, name: str) -> StoredObject | None:
        found = self.inner.stat(self.prefix + name)
        return None if found is None else StoredObject(name, found.size)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.read(self.prefix + name, offset, length)

    def write(self, name: str, data: bytes, *, replace: bool = False) -> None:
        self.inner.write(self.prefix + name, data, replace=replace)

    def write_file(self, name: str, source: Path, *, replace: bool = False) -> None:
        self.inner.write_file(self.prefix + name, source, replace=replace)

    def delete(self, name: str) -> None:
        self.inner.delete(self.prefix + name)

    def writer_lock(self) -> Lock:
        raise TypeError(f"{self.where} is part of a repository: its writer lock is the repository's")

    def writer_running(self) -> bool:
        return self.inner.writer_running()

    def close(self) -> None:
        """The inner backend is the caller's to close."""
