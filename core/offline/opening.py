"""Opening a repository in a bucket from this computer's index while the bucket is out of reach.

The index is read as it was when this computer last reached the bucket: it holds only snapshots that were
complete there (a snapshot is complete only once its manifest is in the bucket), so nothing shown was never
stored; it may lack what other computers stored since, which the note opening it says. Reads of contents
meet OfflineBackend and fail as "stored only there"; no writer can be made (the bucket is the truth).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from timekeep.core import unlocking
from timekeep.core.away.store import slots_home
from timekeep.core.crypto.unlock import PassphraseSource
from timekeep.core.errors import DriveGone, IndexMissing, KeyNeeded, TimekeepError
from timekeep.core.index.schema import open_index
from timekeep.core.offline.backend import OfflineBackend
from timekeep.core.offline.record import RECORD, recall
from timekeep.core.repository import Repository
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.layout import CONFIG_NAME
from timekeep.core.storage.location import RemoteRoot, backend_of, is_remote, locate


def offline_root(location: str) -> Path | None:
    """A root for the repository last reached at `location`, on an OfflineBackend; None if none is known."""
    found = recall(location)
    if found is None:
        return None
    slots = slots_home(found.config.repository_id) / "keys"
    backend = OfflineBackend(location, found.config.to_json(), slots if slots.is_dir() else None)
    return RemoteRoot(backend)


def offline_repository(path: str | Path, source: PassphraseSource | None) -> Repository | None:
    """The repository in the bucket at `path` read from this computer's index, or None when it is no bucket,
    or this computer never reached it or holds no index of it. An encrypted one is unlocked first (from
    `source`, through the key slots copied beside the away stores); KeyNeeded/WrongKey in one line when that
    fails. Reading a version stored only in the bucket raises OutOfReach."""
    if not is_remote(path):
        return None
    location = str(path)
    root = offline_root(location)
    if root is None:
        return None
    config = repo_layout.load_config(root)
    copied = (slots_home(config.repository_id) / "keys").is_dir()
    if config.encrypted and not unlocking.holds_key(config) and not copied:
        raise KeyNeeded(f"the bucket {location} is out of reach, and this computer keeps no copy of its key slots "
                        "to open its index with; browse it once it is back")
    if config.encrypted and source is not None:
        unlocking.unlock(root, source)
    layout = repo_layout.layout_of(root, config)
    try:
        db = open_index(layout.index)
    except IndexMissing:
        return None
    return Repository(root, db, None, [_note(location, layout.index.parent / RECORD)])


def _note(location: str, record: Path) -> str:
    try:
        when = datetime.fromtimestamp(record.stat().st_mtime, UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    except OSError:
        when = "an unknown time"
    return (f"the bucket {location} is out of reach; showing this computer's index of it (last reached "
            f"{when}), read-only: versions stored only in the bucket cannot be read until it is back")


def out_of_reach(path: str | Path) -> DriveGone | None:
    """Why the bucket at `path` cannot be reached, after one quick request, when this computer can browse it
    from its own index meanwhile (`offline_repository`); None otherwise. Asks the server: not on the GUI thread."""
    return quick_look(locate(path)) if is_remote(path) else None


def quick_look(root: Path) -> DriveGone | None:
    """Why the bucket at `root` cannot be reached, after one quick request (one attempt, short timeouts), when
    this computer could browse it offline; None otherwise (reached, a folder, or never reached from here: the
    ordinary open then says what is wrong, after its retries). A reader offline need not wait through them."""
    if not isinstance(root, RemoteRoot):
        return None
    from timekeep.core.storage.s3_backend import S3Backend  # here: boto3 would add 0.1 s to every drive command
    from timekeep.core.storage.s3_requests import S3Tuning  # and botocore's exceptions, a few ms more

    backend = backend_of(root)
    if not isinstance(backend, S3Backend) or recall(backend.where) is None:
        return None
    look = S3Tuning(max_requests=1, attempts=1, connect_timeout=5.0, read_timeout=20.0)
    try:
        S3Backend(backend.where, backend.endpoint, tuning=look).read(CONFIG_NAME)
    except DriveGone as gone:
        return gone
    except TimekeepError:
        return None
    return None
