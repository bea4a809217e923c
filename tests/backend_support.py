"""The media the storage contract runs on: a registry of `BackendKind`s, each able to make a fresh, empty
backend for one test and to name the same backend to a child process (for the lock's kill -9 test).

A new medium registers itself here (`register`), and every test of tests/test_backend_contract.py runs on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from timekeep.core.storage.backend import Backend
from timekeep.core.storage.local_backend import LocalBackend


@dataclass(frozen=True)
class BackendKind:
    """`make(tmp_path)` gives a fresh backend for one test (a context: servers and buckets are cleaned up).
    `in_child(backend)` is Python source that builds the same backend in another process, as `backend`, after
    `from pathlib import Path`. `holder_gone(backend)` is what must happen before a dead holder's lock may be
    broken: nothing for a flock (the kernel lets go), a lease running out for a lock object."""

    name: str
    make: Callable[[Path], AbstractContextManager[Backend]]
    in_child: Callable[[Backend], str]
    holder_gone: Callable[[Backend], None] = lambda backend: None


KINDS: dict[str, BackendKind] = {}


def register(kind: BackendKind) -> None:
    KINDS[kind.name] = kind


@contextmanager
def _local(tmp_path: Path) -> Iterator[Backend]:
    root = tmp_path / "repo"
    root.mkdir()
    backend = LocalBackend(root)
    try:
        yield backend
    finally:
        backend.close()


def _local_in_child(backend: Backend) -> str:
    assert isinstance(backend, LocalBackend)
    return ("from timekeep.core.storage.local_backend import LocalBackend\n"
            f"backend = LocalBackend(Path({str(backend.root)!r}))\n")


register(BackendKind("local", _local, _local_in_child))
