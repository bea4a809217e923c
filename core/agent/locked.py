"""An encrypted destination as the agent meets it: unlocked without asking anyone, or locked until someone
gives its passphrase, with its journal kept meanwhile.

The agent never prompts: it unlocks from $TIMEKEEP_PASSPHRASE or the system keyring, and otherwise the
destination stays locked until a person gives the passphrase (`timekeep unlock`, the window). An encrypted
repository keeps its index on this computer, in plain SQLite beside the person's other caches, so while it
is locked its folders and its journal are read there without the key, and what changes meanwhile is stored
at the first storage time after unlocking.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from timekeep.core import unlocking
from timekeep.core.agent.where import Where
from timekeep.core.api import is_encrypted
from timekeep.core.capture.excludes import Excludes
from timekeep.core.crypto import keys
from timekeep.core.crypto.unlock import ENV_VAR
from timekeep.core.errors import IndexMissing, KeyNeeded, KeySlotDamaged, PassphraseUnavailable, UsageError, WrongKey
from timekeep.core.index import journal, queries, schema
from timekeep.core.index.journal import JournalStats
from timekeep.core.index.schema import open_index
from timekeep.core.journaling import JournalView
from timekeep.core.storage import layout as repo_layout
from timekeep.core.types import SnapshotInfo

HOW_TO_UNLOCK = "open Timekeep or run `timekeep unlock` to give the passphrase"
SlotsSeen = tuple[tuple[str, int, int], ...]


def unattended(path: Where, environ: Mapping[str, str] | None = None) -> str | None:
    """Unlock `path` for this process from the environment or the keyring, never a terminal. None once it is
    open (or needs no key); otherwise why it stays locked, in words for the status."""
    try:
        unlocking.unlock(path, unlocking.passphrase_source(environ=environ, interactive=False))
    except PassphraseUnavailable:
        return HOW_TO_UNLOCK
    except WrongKey:  # only a given secret is final: a stale keyring entry ends as PassphraseUnavailable
        return f"the passphrase in ${ENV_VAR} does not open it; {HOW_TO_UNLOCK}"
    except KeySlotDamaged as err:
        return f"{err} {HOW_TO_UNLOCK}"
    return None


def with_secret(path: Where, secret: str) -> None:
    """Unlock `path` with the passphrase or recovery key a person gave, kept in this process's memory only;
    WrongKey (exit 2) when it opens no key slot."""
    if not is_encrypted(path):
        raise UsageError(f"{path} is not encrypted: it needs no passphrase")
    unlocking.unlock_with(path, secret)


def slots_seen(path: Path) -> SlotsSeen:
    """What the key slots look like now: a changed passphrase or an added recovery key changes it."""
    try:
        found = list(os.scandir(keys.keys_dir(path)))
    except OSError:
        return ()
    return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in found if e.is_file()))


def _local_index(path: Path) -> Path:
    config = repo_layout.load_config(path.absolute())
    if config.index != "local":
        raise KeyNeeded(f"{path} is encrypted and not unlocked: give its passphrase")
    return repo_layout.Layout(path, repo_layout.local_index_home(config.repository_id)).index


def index_of(repository_id: str) -> Path:
    """This computer's index of the repository `repository_id` keeps locally (encrypted, or in a bucket)."""
    return repo_layout.local_index_home(repository_id) / "index.db"


@contextmanager
def local_journal(path: Path) -> Iterator[JournalView]:
    """The journal in this computer's index of a locked repository (IndexMissing when it holds none)."""
    with journal_at(_local_index(path)) as view:
        yield view


@contextmanager
def journal_at(index: Path) -> Iterator[JournalView]:
    """The journal in the index file `index`, opened without the drive or the key (IndexMissing without one)."""
    db = open_index(index)
    try:
        yield JournalView(db, on_copy=False)
    finally:
        db.close()


def local_folders(path: Path) -> dict[bytes, Excludes]:
    """The protected folders as this computer's index last saw them (the drive's list is sealed); none
    when this computer holds no index of it yet."""
    return folders_at(_local_index(path))


def folders_at(index: Path) -> dict[bytes, Excludes]:
    """The protected folders the index file `index` lists (none when there is no such file)."""
    try:
        db = open_index(index)
    except IndexMissing:
        return {}
    try:
        rows = db.execute_sql("SELECT path, excludes FROM folder WHERE active = 1").fetchall()
    finally:
        db.close()
    return {bytes(root): Excludes(list(json.loads(excludes))) for root, excludes in rows}


def local_counts(path: Path) -> tuple[list[SnapshotInfo], JournalStats]:
    """The snapshots and journal size this computer's index holds (none without an index)."""
    return counts_at(_local_index(path))


def counts_at(index: Path) -> tuple[list[SnapshotInfo], JournalStats]:
    """The snapshots and journal size the index file `index` holds (none when there is no such file)."""
    try:
        db = open_index(index)
    except IndexMissing:
        return [], JournalStats(0, 0, None)
    try:
        return queries.snapshots(db), journal.stats(db)
    finally:
        db.close()


def index_id_at(index: Path) -> str:
    """The name the index file `index` got when it was made ("" when there is none)."""
    try:
        db = open_index(index)
    except IndexMissing:
        return ""
    try:
        return schema.index_id(db)
    finally:
        db.close()
