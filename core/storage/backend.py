"""Everything a repository keeps on its medium, behind one small interface: a folder on a drive and an
S3-compatible bucket are two implementations of it, and nothing above it knows which one it has.

Objects are named by slash-separated keys relative to the repository's root ("config.json",
"packs/ab/ab12….pack", "snapshots/0000000007.manifest"); a name that is empty, starts with "/" or has an
empty, "." or ".." part is refused with ValueError (a caller's bug, never the medium's failure). The medium
promises only what S3 promises:

- a written object becomes visible whole or not at all, and is durable once `write` returns;
- `write` never replaces an existing object unless told to (`replace=True`), so what holds data is
  never overwritten by accident; where the medium cannot refuse atomically (S3 without conditional
  writes) the implementation says so in its docstring and the repository's writer lock covers it;
- `list` may lag a write on an eventually consistent medium; callers that must see a write `stat` it.

Errors are StorageError subclasses (core/errors.py) that say in one line what failed: `ObjectMissing`
for a name that is not there, `ObjectExists` for a refused replacement, and for the medium itself
`DriveFull`, `DriveGone` (a drive unplugged, a server unreachable), `AccessDenied`, `NoCredentials`,
`NoSuchBucket`. Transient failures are retried inside the implementation, with backoff, before they
surface.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredObject:
    """One object as a listing or `stat` sees it."""

    name: str
    size: int


class Lock(Protocol):
    """The one-writer lock of a repository: a flock() on a drive's folder, a lock object with a lease in a
    bucket. A lock whose holder is gone (its process dead, its lease run out) is broken by the next taker."""

    def acquire(self) -> None:
        """Take the lock, or RepositoryLocked naming the live holder (host, process, since when)."""
        ...

    def release(self) -> None:
        ...


class Backend(Protocol):
    """The medium a repository lives on (see the module docstring for its promises)."""

    @property
    def where(self) -> str:
        """Where the repository is, as a person would name it in a message: a folder, or s3://bucket/prefix."""
        ...

    @property
    def local_folder(self) -> Path | None:
        """A folder of this computer's file system holding the objects themselves (a drive's repository
        folder), where files that must be real files may live beside them (a SQLite index kept on the drive)
        and temporaries are published by rename; None for a medium that is not a local folder (S3), whose
        repository keeps its index and temporaries on this computer."""
        ...

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose name starts with `prefix` (a folder prefix ends in "/"), in no set order."""
        ...

    def names(self, prefix: str = "") -> Iterator[str]:
        """The names `list` gives, without their sizes: a drive then need not `stat` each object (a writer's
        open lists every manifest, one per snapshot, by name only)."""
        ...

    def stat(self, name: str) -> StoredObject | None:
        """The object called `name`, or None if there is none."""
        ...

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """The object's bytes from `offset`, `length` of them (to its end when None); fewer only where the
        object ends first. ObjectMissing if there is no such object."""
        ...

    def write(self, name: str, data: bytes, *, replace: bool = False) -> None:
        """Store `data` as `name`, visible whole or not at all, durable on return. ObjectExists if `name`
        exists and `replace` is False."""
        ...

    def write_file(self, name: str, source: Path, *, replace: bool = False) -> None:
        """As `write`, with the bytes of the local file `source` (large objects: packs, manifests), streamed
        (S3: one PUT, or a multipart upload for a large one). `source` is complete when this is called; it is
        gone on success (renamed into place on a drive, uploaded then removed elsewhere) and left for the caller
        to remove on failure."""
        ...

    def delete(self, name: str) -> None:
        """Remove `name`; an object already gone is not an error."""
        ...

    def writer_lock(self) -> Lock:
        """The repository's writer lock (not yet taken)."""
        ...

    def writer_running(self) -> bool:
        """Whether a writer holds the lock now (a reader that must not race one asks)."""
        ...

    def close(self) -> None:
        """Let go of what reading kept open (a drive's descriptors, a bucket's connections); the backend can be
        used again after, and opens them anew."""
        ...
