"""The one door the CLI, the agent and the GUI use to a repository: open it, back up, browse, get things
back, thin, check, rebuild. Each method is one call into the module of timekeep.core that does the work (folders,
storing, thinning, browsing, restoring, check), on the open Repository (timekeep.core.repository), which nothing
outside the engine sees.

Everything returned is a frozen record from `timekeep.core.types`; paths are bytes (absolute, as protected).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from timekeep.core import browsing, folders, restoring, unlocking
from timekeep.core.away.store import for_reading as away_store
from timekeep.core.away.store import of_destination as away_store_of
from timekeep.core.away.store import summary_of as away_summary
from timekeep.core.away.store import unlock_for_reading as unlock_away_store
from timekeep.core.errors import UsageError
from timekeep.core.index.losses import describe as describe_lost
from timekeep.core.index.schema import index_id, open_index
from timekeep.core.offline import record as reached
from timekeep.core.offline.opening import offline_repository, out_of_reach
from timekeep.core.repository import Repository
from timekeep.core.repository import rebuild_index as _rebuild_index
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.atomic import atomic_write
from timekeep.core.storage.failures import drive_errors
from timekeep.core.storage.layout import CONFIG_NAME, Layout
from timekeep.core.storage.location import is_remote as _is_remote
from timekeep.core.storage.location import locate as _locate
from timekeep.core.storage.privacy import answer_notice, make_private, notice, notice_due, remember_notice
from timekeep.core.storage.s3_url import check_endpoint
from timekeep.core.types import (
    Entry,
    FileError,
    FolderInfo,
    Gone,
    Located,
    Plan,
    Progress,
    Retention,
    SnapshotInfo,
    VersionInfo,
)

if TYPE_CHECKING:  # what a command loads only when it uses it (a restore never does: tests/test_architecture.py)
    from timekeep.core.agent.messages import GuardIncident
    from timekeep.core.crypto.kdf import Argon2Params
    from timekeep.core.index.rebuild import RebuildReport
    from timekeep.core.journaling import JournalView
    from timekeep.core.key_door import (
        add_recovery_key,
        change_passphrase,
        export_keys,
        forget_passphrase,
        import_keys,
        keep_new_passphrase,
        key_slots,
        remember_passphrase,
        remove_key_slot,
    )
    from timekeep.core.restore.ranges import VersionRanges
    from timekeep.core.types import CheckReport, CoalesceReport, Diff, Found, FoundPage, RestoreResult, SnapshotSummary

ProgressCallback = Callable[[Progress], None]
_ON_FIRST_USE = {  # handed out by the door, loaded when first asked for: a backup needs none of them
    "Argon2Params": "timekeep.core.crypto.kdf",
    "RebuildReport": "timekeep.core.index.rebuild",
    **dict.fromkeys(("add_recovery_key", "change_passphrase", "export_keys", "forget_passphrase", "import_keys",
                     "keep_new_passphrase", "key_slots", "remember_passphrase", "remove_key_slot"),
                    "timekeep.core.key_door"),
}


def __getattr__(name: str) -> object:
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)


__all__ = [  # the door: Timekeep, and what the app and the CLI need around a repository
    "Argon2Params", "RebuildReport", "Timekeep", "add_recovery_key", "answer_notice", "atomic_write", "away_store",
    "away_store_of", "away_summary", "change_passphrase", "check_passphrase", "describe_lost", "encrypt_repository",
    "export_keys", "forget_passphrase", "given_passphrase", "import_keys", "init_refusal", "init_repository",
    "is_encrypted", "is_remote", "is_repository", "keep_new_passphrase", "key_slots", "locate", "make_private",
    "missing_drive", "new_passphrase", "notice", "notice_due", "open_offline", "out_of_reach", "passphrase_given",
    "probe_location", "rebuild_index", "remember_endpoint", "remember_notice", "remember_passphrase", "remove_key_slot",
    "repository_id", "unlock", "unlock_away_store", "unlock_quietly", "unlock_with",
]


def init_repository(path: str | Path, index: str = "drive", encryption: str = "none", passphrase: str | None = None,
                    argon2: Argon2Params | None = None, endpoint: str | None = None) -> str | None:
    """Create an empty repository at `path` (created if missing; must be empty if it exists), a folder or an S3
    location (s3://bucket/prefix on the server at `endpoint`, see `locate`; the bucket must exist, the prefix
    be empty; an endpoint given is remembered in settings.json). `index="local"` keeps its index in this
    computer's cache folder rather than on the drive (rebuilt there from the drive by any computer that lacks
    it; always so in a bucket). `encryption="repokey"` encrypts it under `passphrase` (its index is then
    always local) and returns the recovery key, to be shown once; `argon2` overrides the tuned cost."""
    root = locate(path, endpoint)
    recovery: list[str] = []
    make_keys = None
    if encryption not in repo_layout.ENCRYPTION_MODES:
        raise UsageError(f"encryption is {' or '.join(repo_layout.ENCRYPTION_MODES)}, not {encryption!r}")
    if encryption != "none":
        if passphrase is None:
            raise UsageError("an encrypted repository needs a passphrase")
        make_keys = unlocking.key_maker(root, passphrase, argon2, recovery)
    with drive_errors(root):
        config = repo_layout.create(root, index=index, make_keys=make_keys)
        layout = repo_layout.layout_of(root, config)
        repo_layout.make_index_home(layout)
        open_index(layout.index, create=True).close()
    remember_endpoint(path, endpoint)
    return recovery[0] if recovery else None


def locate(location: str | Path, endpoint: str | None = None) -> Path:
    """The root of the repository at `location`, to hand to every other function here: a folder made
    absolute, or for `s3://bucket/prefix` a root carrying its connection to the server at `endpoint` (else the
    endpoint settings.json remembers for that location, else boto3's configuration: AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL, a profile's endpoint_url; else AWS). Credentials come from boto3's chain (environment,
    profiles, config files): NoCredentials when it finds none; UsageError for a malformed location."""
    return _locate(location, endpoint)


def is_remote(location: str | Path) -> bool:
    """Whether `location` is in object storage (s3://bucket/prefix) rather than a folder of this computer."""
    return _is_remote(location)


def probe_location(location: str | Path, endpoint: str | None = None) -> str:
    """What is at `location`: "repository" (a Timekeep repository) or "empty" (nothing there: `init` may make
    one). Otherwise one line: UsageError for a malformed location or one that holds something else,
    NoCredentials, NoSuchBucket, AccessDenied, DriveGone (the server cannot be reached). Asks the server:
    call it from a worker thread."""
    root = locate(location, endpoint)
    with drive_errors(root):
        store = Layout(root).store
        if store.stat(CONFIG_NAME) is not None:
            return "repository"
        if store.local_folder is None:
            anything = any(True for _ in store.list())
        else:
            anything = root.exists() and (not root.is_dir() or any(root.iterdir()))
    if anything:
        raise UsageError(f"{root} holds something that is not a Timekeep repository; choose an empty "
                         "or new place for one")
    return "empty"


def remember_endpoint(location: str | Path, endpoint: str | None) -> None:
    """An endpoint that just worked for an S3 location is the one the agent, the window and later commands use."""
    if endpoint and is_remote(location):
        from timekeep.core import settings

        settings.remember_endpoint(settings.default_file(), str(location), check_endpoint(endpoint))


def encrypt_repository(path: str | Path, passphrase: str, progress: ProgressCallback | None = None,
                       argon2: Argon2Params | None = None) -> str:
    """Turn the unencrypted repository at `path` into an encrypted one in place, crash-safely (takes the writer
    lock; `progress` follows the copy, bytes done of total). The recovery key, to be shown once."""
    from timekeep.core.encrypting import encrypt

    return encrypt(path, passphrase, progress, argon2)



def new_passphrase(passphrase_file: Path | None = None, from_environment: bool = True) -> str:
    """A new repository's passphrase: $TIMEKEEP_PASSPHRASE (unless not `from_environment`: it holds the current
    one when the passphrase changes), `passphrase_file`, or typed twice on the terminal."""
    return unlocking.new_passphrase(passphrase_file, None if from_environment else {})


def passphrase_given(passphrase_file: Path | None = None) -> bool:
    """Whether a passphrase comes without asking ($TIMEKEEP_PASSPHRASE or `passphrase_file`), not from a prompt."""
    return unlocking.passphrase_source(passphrase_file, interactive=False).given() is not None


def unlock(path: str | Path, passphrase_file: Path | None = None, interactive: bool = True) -> bool:
    """Unlock an encrypted repository for this process, before it is opened: from $TIMEKEEP_PASSPHRASE,
    `passphrase_file`, the keyring, or (when `interactive`) the terminal. False when it is not encrypted;
    WrongPassphrase (exit 2) when the passphrase opens no key slot."""
    return unlocking.unlock(path, unlocking.passphrase_source(passphrase_file, interactive=interactive))


def given_passphrase(passphrase_file: Path | None = None) -> str:
    """A passphrase (or recovery key) to hand to the agent: $TIMEKEEP_PASSPHRASE, `passphrase_file`, or typed
    once on the terminal; the agent checks it."""
    return unlocking.given_secret(passphrase_file)


def unlock_quietly(path: str | Path) -> bool:
    """Unlock without asking anyone: from $TIMEKEEP_PASSPHRASE or the keyring. False when neither has it."""
    return unlocking.unlock_quietly(path)


def unlock_with(path: str | Path, secret: str) -> bool:
    """Unlock with a typed passphrase or recovery key (WrongPassphrase or WrongRecoveryKey when it is wrong);
    True when it was a passphrase, which may be kept in the keyring."""
    return unlocking.unlock_with(path, secret)


def check_passphrase(passphrase: str) -> None:
    """Refuse, in words (UsageError), a passphrase that protects nothing or looks like a recovery key."""
    from timekeep.core.crypto import keys

    keys.check_passphrase(passphrase)


def rebuild_index(path: str | Path, progress: ProgressCallback | None = None) -> RebuildReport:
    """Recreate `index.db` from packs and manifests, beside the old one, which is replaced only once the new one
    is whole. The report says what was found lost and what was written again from the old index."""
    root = locate(path)
    with drive_errors(root):
        return _rebuild_index(root, progress)


class Timekeep:
    """An open repository. Use as a context manager; `writer=True` takes the repository's writer lock."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    @classmethod
    def open(cls, path: str | Path, *, writer: bool = False, progress: ProgressCallback | None = None,
             endpoint: str | None = None) -> Timekeep:
        """Open for reading, or for writing (`writer`): a writer first makes sure the index tells the truth about
        the drive, rebuilding it (reporting `progress`) when it is missing, damaged or behind. `path` is a
        folder or an S3 location (see `locate` for `endpoint`, remembered once an open with it succeeded)."""
        opened = cls(Repository.open(locate(path, endpoint), writer, progress))
        remember_endpoint(path, endpoint)
        reached.remember(opened._repo.root, opened._repo.config)  # browsed from here if it goes out of reach
        return opened

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> Timekeep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # what it is
    @property
    def root(self) -> Path:
        return self._repo.root

    @property
    def repository_id(self) -> str:
        return self._repo.config.repository_id

    @property
    def notes(self) -> tuple[str, ...]:
        """What opening (or a rebuild since) found and did: an index rebuilt, a lost manifest written again."""
        return tuple(self._repo.notes)

    @property
    def rebuilt(self) -> bool:
        """The index was made anew from the drive: a journal of changed paths it held is gone."""
        return self._repo.rebuilt

    @property
    def on_copy(self) -> bool:
        """The drive could not open its index (full or read-only): a local copy taken at open is read."""
        return self._repo.index_copy is not None

    @property
    def journal(self) -> JournalView:
        """The journal of changed paths the agent keeps in this repository's index."""
        from timekeep.core.journaling import JournalView

        return JournalView(self._repo.db, on_copy=self.on_copy, writing=self._repo.journal_writing)

    def index_id(self) -> str:
        """Changes when the index is rebuilt: whatever was journaled in the old one must be found again."""
        return index_id(self._repo.db)

    def release_thread(self) -> None:
        """Close this thread's connection to the index (a worker thread that will not read again)."""
        self._repo.db.close()

    # what it protects, and how
    def folders(self) -> list[FolderInfo]:
        return folders.folders(self._repo)

    def excluded(self, paths: list[bytes]) -> frozenset[bytes]:
        """Which of `paths` backups leave out (by their folder's exclusion patterns)."""
        return folders.excluded(self._repo, paths)

    def add_folder(self, path: bytes, excludes: tuple[str, ...] = (), default_excludes: bool = True) -> FolderInfo:
        return folders.add_folder(self._repo, path, excludes, default_excludes)

    def set_excludes(self, path: bytes, excludes: tuple[str, ...], default_excludes: bool = True) -> FolderInfo:
        return folders.set_excludes(self._repo, path, excludes, default_excludes)

    def remove_folder(self, path: bytes) -> None:
        folders.remove_folder(self._repo, path)

    def set_compression_level(self, level: int) -> None:
        folders.set_compression_level(self._repo, level)

    def retention(self) -> Retention:
        return self._repo.config.retention

    def set_retention(self, rule: Retention) -> None:
        folders.set_retention(self._repo, rule)

    # storing and thinning
    def backup(self, trigger: str = "manual", progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None,
               dirty: Mapping[bytes, Collection[bytes]] | None = None, make_room: bool = True,
               skip_unchanged: bool = False, exact: bool = False, reread_racy: bool = False) -> SnapshotInfo:
        """Take a snapshot (see timekeep.core.storing.backup); `dirty` limits the scan to what a watcher journaled
        (`exact`: to those paths alone, no folder walked; `reread_racy`: and the latest snapshot's racy files);
        `skip_unchanged` raises NothingChanged rather than add a snapshot that records nothing new."""
        from timekeep.core import storing

        return storing.backup(self._repo, trigger, progress, cancel, dirty, make_room, skip_unchanged, exact,
                              reread_racy)

    def store_copy(self, source: Timekeep, snapshot_id: int, trigger: str = "away",
                   cancel: threading.Event | None = None, progress: ProgressCallback | None = None) -> SnapshotInfo:
        """Store snapshot `snapshot_id` of the repository `source` as a snapshot of this one, at its original
        time, every byte verified as it is copied (see timekeep.core.capture.transfer); done once per source
        snapshot: a second call returns the snapshot the first made."""
        from timekeep.core.capture.transfer import transfer

        return transfer(source._repo, snapshot_id, self._repo, trigger, cancel, progress)

    def thinning_plan(self, now_ns: int | None = None, drop: Collection[int] | None = None
                      ) -> tuple[list[int], list[int]]:
        from timekeep.core import thinning

        return thinning.plan(self._repo, now_ns, drop)

    def coalesce(self, progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                 now_ns: int | None = None, drop: Collection[int] | None = None) -> CoalesceReport:
        from timekeep.core import thinning

        return thinning.coalesce(self._repo, progress, cancel, now_ns, drop)

    # browsing
    def snapshots(self) -> list[SnapshotInfo]:
        from timekeep.core.index import queries

        return queries.snapshots(self._repo.db)

    def lost_snapshots(self) -> list[int]:
        """Snapshots known only to have been (their manifest was lost while the index was gone too)."""
        return browsing.lost_snapshots(self._repo)

    def snapshot_errors(self, snapshot_id: int) -> list[FileError]:
        return browsing.snapshot_errors(self._repo, snapshot_id)

    def resolve_time(self, spec: str) -> SnapshotInfo:
        """The snapshot in force at `spec` (ISO time, snapshot id, 'latest', '2 hours ago')."""
        return browsing.resolve_time(self._repo, spec)

    def list_dir(self, path: bytes | None, snapshot_id: int) -> list[Entry]:
        """Children of `path` as they stood at the snapshot; `None` lists the protected folders."""
        return browsing.list_dir(self._repo, path, snapshot_id)

    def changed_folders(self, snapshot_id: int) -> frozenset[bytes]:
        """The folders with a file stored or deleted beneath them at the snapshot (a folder's own mark)."""
        return browsing.changed_folders(self._repo, snapshot_id)

    def snapshot_summary(self, snapshot_id: int) -> SnapshotSummary:
        """What the snapshot changed: files stored and deleted, new bytes, the busiest folders (a tooltip)."""
        return browsing.snapshot_summary(self._repo, snapshot_id)

    def deleted_at(self, path: bytes | None, snapshot_id: int) -> list[Entry]:
        return browsing.deleted_at(self._repo, path, snapshot_id)

    def gone_from(self, path: bytes) -> list[Gone]:
        """Children of the folder deleted since some snapshot (as last stored), newest deletion first."""
        return browsing.gone_from(self._repo, path)

    def gone_beneath(self, path: bytes) -> list[Gone]:
        """Everything below the folder, at any depth, deleted and never back since (as last stored), newest
        deletion first: "Show deleted files" for a folder."""
        return browsing.gone_beneath(self._repo, path)

    def versions(self, path: bytes) -> list[VersionInfo]:
        return browsing.versions(self._repo, path)

    def locate(self, path: bytes, snapshot_id: int) -> Located:
        """The snapshot to read `path` from at `snapshot_id`: the one before its deletion if it was deleted."""
        return browsing.locate(self._repo, path, snapshot_id)

    # finding anything in history, and what changed between two moments
    def find(self, pattern: str, deleted: bool = False, inside: bytes | None = None,
             between: tuple[int, int] | None = None) -> list[Found]:
        """Every path whose name matches `pattern` (a glob, or a word anywhere in the name; case-insensitive)
        in all of history: when it existed, last changed and was deleted (see timekeep.core.finding)."""
        from timekeep.core import finding

        return finding.find(self._repo, pattern, deleted, inside, between)

    def find_first(self, pattern: str, limit: int, deleted: bool = False, inside: bytes | None = None,
                   between: tuple[int, int] | None = None) -> FoundPage:
        """The first `limit` paths `find` would answer, and how many more there are: a pattern matching half
        the history answers as fast as a narrow one (see timekeep.core.finding)."""
        from timekeep.core import finding

        return finding.find_first(self._repo, pattern, limit, deleted, inside, between)

    def diff(self, before: int, after: int | None, path: bytes | None = None) -> Diff:
        """What was added, changed, deleted and renamed from snapshot `before` to snapshot `after` (None: the
        live folders now), at or under `path` (see timekeep.core.differing)."""
        from timekeep.core import differing

        return differing.diff(self._repo, before, after, path)

    # getting things back
    def plan(self, path: bytes, snapshot_id: int) -> Plan:
        return restoring.plan(self._repo, path, snapshot_id)

    def read_chunk(self, digest: bytes) -> bytes:
        return restoring.read_chunk(self._repo, digest)

    def write_version(self, plan: Plan, out: BinaryIO) -> None:
        restoring.write_version(self._repo, plan, out)

    def version_ranges(self, plan: Plan) -> VersionRanges:
        """The version readable by range (a mounted file): only the frames a read needs are fetched, each chunk
        checked, the whole file checked when it is read to its end (timekeep.core.restore.ranges)."""
        from timekeep.core.restore.ranges import VersionRanges

        return VersionRanges(self._repo.source, plan)

    def restore(self, path: bytes, snapshot_id: int, dest: bytes | None = None, overwrite: bool = False,
                progress: ProgressCallback | None = None, apart: bool = False,
                secret: str | None = None) -> RestoreResult:
        """`path` as it was at the snapshot, to `dest` or in place. `apart`: from a process that runs threads
        (the window), a big folder is restored by a `timekeep restore` process, which can share it over the
        cores (`secret`: the passphrase it unlocks an encrypted repository with, if the caller holds one)."""
        return restoring.restore(self._repo, path, snapshot_id, dest, overwrite, progress, apart, secret)

    # checking
    def check(self, read_data: bool = False, progress: ProgressCallback | None = None) -> CheckReport:
        from timekeep.core import check

        return check.check(self._repo, read_data, progress)


# --- for the app and the CLI, around a repository (none of these opens its index) -------------------------

def is_repository(path: str | Path) -> bool:
    """Whether the folder holds a repository (its config file): what a drive that is there shows."""
    return Layout(locate(path)).store.stat(CONFIG_NAME) is not None


def is_encrypted(path: str | Path) -> bool:
    """Whether the repository's config says it is encrypted; NotARepository (one line) if it is none."""
    return repo_layout.load_config(locate(path)).encrypted


def repository_id(path: str | Path) -> str:
    """The repository's id, from its config; NotARepository (one line) if it is none."""
    return repo_layout.load_config(locate(path)).repository_id


def missing_drive(path: str | Path) -> str | None:
    """Why a repository path cannot be reached because its drive is away (a sentence), or None."""
    if is_remote(path):
        return None
    from timekeep.core.agent.paths import AgentPaths
    from timekeep.core.drives import missing_drive as absent

    return absent(str(path), AgentPaths.from_platform().known_drives)


def open_offline(path: str | Path, passphrase_file: Path | None = None, interactive: bool = False
                 ) -> Timekeep | None:
    """The bucket at `path` read-only from this computer's index while it is out of reach (core/offline)."""
    repo = offline_repository(path, unlocking.passphrase_source(passphrase_file, interactive=interactive))
    return None if repo is None else Timekeep(repo)


# --- the guard against mass damage, for the app and the CLI ----------------------------------------------------

def left_incident() -> GuardIncident | None:
    """The incident the agent holds open as its state folder keeps it (what a stopped agent left), or None."""
    from timekeep.core.agent.paths import AgentPaths
    from timekeep.core.guard import incident

    return incident.load(AgentPaths.from_platform().guard_file)


def forget_incident() -> bool:
    """The all-clear while no agent runs: the incident it left is removed; whether there was one."""
    from timekeep.core.agent.paths import AgentPaths
    from timekeep.core.guard import incident

    path = AgentPaths.from_platform().guard_file
    had = incident.load(path) is not None
    incident.remove(path)
    return had


def restore_place(folder: bytes, when: str) -> bytes:
    """A new folder beside `folder` to restore it into as it was at `when` (it does not exist yet)."""
    from timekeep.core.guard.places import new_place

    return new_place(folder, when)


def init_refusal(path: str | Path) -> str | None:
    """Why `init` should not make a repository at `path` (an empty mount point: its drive is away), or None."""
    from timekeep.core.drives import init_refusal as refusal

    if is_remote(path):
        return None
    return refusal(str(path))


def timekeep_command() -> list[str]:
    """How this installation runs its own `timekeep` command (the window mounts history through it)."""
    from timekeep.core.own_command import timekeep_argv

    return timekeep_argv()


def secret_for_command(secret: str | None) -> AbstractContextManager[tuple[list[str], tuple[int, ...]]]:
    """The arguments and descriptors that hand `secret` to a `timekeep` command through a pipe (own_command.py)."""
    from timekeep.core.own_command import secret_through_pipe

    return secret_through_pipe(secret)


# --- history as a read-only folder (timekeep.core.mount; `records` is where running mounts are written down) ----

def mount_unavailable(device: Path | None = None) -> str | None:
    """Why this computer cannot mount history (no /dev/fuse, libfuse 3 or fusermount3), in a sentence; or None."""
    from timekeep.core.mount.available import fuse_missing

    return fuse_missing(device)


def mountpoint_checked(path: Path) -> Path:
    """The mount point, absolute; UsageError (one line) unless it is an empty folder that is no mount point."""
    from timekeep.core.mount.run import check_mountpoint

    return check_mountpoint(path)


def serve_mount(tk: Timekeep, mountpoint: Path, records: Path, ready: Callable[[], None] | None = None) -> None:
    """Mount `tk`'s history at `mountpoint` and serve it until it is unmounted (SIGINT, SIGTERM, fusermount3 -u);
    `ready` is called once the kernel has it."""
    from timekeep.core.mount.run import serve

    serve(tk, mountpoint, records, ready)


def unmount(mountpoint: Path, records: Path) -> None:
    """Unmount history mounted at `mountpoint` (a dead mount too); one line when nothing of ours is there."""
    from timekeep.core.mount.run import unmount as let_go

    let_go(mountpoint, records)


def folder_in_mount(snapshots: Collection[SnapshotInfo], snapshot_id: int | None, path: bytes | None) -> str:
    """Where `path` as it was at the snapshot (None: the newest) lies inside a mount: by-time/<time>/…"""
    from timekeep.core.mount.names import folder_in_mount as where

    return where(snapshots, snapshot_id, path)


def mount_log(records: Path, mountpoint: Path) -> Path:
    """Where a background mount at `mountpoint` writes what it has to say."""
    from timekeep.core.mount.run import log_path

    return log_path(records, mountpoint)
