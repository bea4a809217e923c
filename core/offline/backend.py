"""The medium of a repository whose bucket is out of reach: its config as this computer remembers it, the key
slots the agent copied beside the away stores, and a one-line OutOfReach for everything else.

Built in place of the bucket's own backend, it lets the engine open the repository's local index as it
would with the bucket there, while guaranteeing that nothing reads stale objects or writes anything: a
version stored only in the bucket fails as such, and no writer can take a lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from timekeep.core.errors import ObjectMissing, OutOfReach
from timekeep.core.storage.backend import Lock, StoredObject
from timekeep.core.storage.layout import CONFIG_NAME

KEYS = "keys/"


class OfflineBackend:
    """Serves config.json and keys/ from this computer; refuses the rest."""

    def __init__(self, where: str, config: bytes, slots: Path | None) -> None:
        self._where, self._config, self._slots = where, config, slots

    @property
    def where(self) -> str:
        return self._where

    @property
    def local_folder(self) -> Path | None:
        return None

    def _refuse(self, what: str = "this version is stored only there") -> OutOfReach:
        return OutOfReach(f"the bucket {self._where} is out of reach; {what}")

    def _local(self, name: str) -> bytes | None:
        if name == CONFIG_NAME:
            return self._config
        if name.startswith(KEYS) and self._slots is not None and "/" not in name[len(KEYS):]:
            try:
                return (self._slots / name[len(KEYS):]).read_bytes()
            except OSError:
                raise ObjectMissing(f"{self._where}/{name} is not kept on this computer") from None
        return None

    def names(self, prefix: str = "") -> Iterator[str]:
        return (found.name for found in self.list(prefix))

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        if prefix != KEYS:
            raise self._refuse("what it holds cannot be listed now")
        if self._slots is None:
            return iter(())
        try:
            found = sorted(self._slots.glob("*.json"))
        except OSError:
            found = []
        return iter([StoredObject(KEYS + p.name, p.stat().st_size) for p in found])

    def stat(self, name: str) -> StoredObject | None:
        try:
            data = self._local(name)
        except ObjectMissing:
            return None
        if data is None:
            raise self._refuse()
        return StoredObject(name, len(data))

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self._local(name)
        if data is None:
            raise self._refuse()
        return data[offset:] if length is None else data[offset:offset + length]

    def write(self, name: str, data: bytes, *, replace: bool = False) -> None:
        raise self._refuse("nothing is stored in it or changed until it is back")

    def write_file(self, name: str, source: Path, *, replace: bool = False) -> None:
        raise self._refuse("nothing is stored in it or changed until it is back")

    def delete(self, name: str) -> None:
        raise self._refuse("nothing is stored in it or changed until it is back")

    def writer_lock(self) -> Lock:
        raise self._refuse("nothing is stored in it or changed until it is back")

    def writer_running(self) -> bool:
        return False

    def close(self) -> None:
        return None
