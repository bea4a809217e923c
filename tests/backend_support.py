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


@contextmanager
def _s3(tmp_path: Path) -> Iterator[Backend]:
    """A bucket on a private `rclone serve s3` (a real S3 server, its objects on disk), for one test."""
    from tests.s3_support import Rclone, S3Server
    from timekeep.core.storage.s3_backend import S3Backend
    from timekeep.core.storage.s3_requests import S3Tuning

    (tmp_path / "served").mkdir()
    server = Rclone(tmp_path / "served")
    server.start()
    try:
        helper = S3Server("rclone", server.endpoint)
        backend = S3Backend(f"s3://{helper.new_bucket()}/repo", server.endpoint, session=helper.session,
                            tuning=S3Tuning(backoff=0.0))
        yield backend
        backend.close()
    finally:
        server.kill()


def _s3_in_child(backend: Backend) -> str:
    from tests.s3_support import ACCESS_KEY, SECRET_KEY
    from timekeep.core.storage.s3_backend import S3Backend

    assert isinstance(backend, S3Backend)
    return ("import boto3\nfrom timekeep.core.storage.s3_backend import S3Backend\n"
            f"session = boto3.session.Session(aws_access_key_id={ACCESS_KEY!r}, "
            f"aws_secret_access_key={SECRET_KEY!r}, region_name='us-east-1')\n"
            f"backend = S3Backend({backend.where!r}, {backend.endpoint!r}, session=session)\n")


# a holder killed on this computer leaves a lease naming an ended process of it: broken at once, as a flock
register(BackendKind("s3", _s3, _s3_in_child))
