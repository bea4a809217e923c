"""The errors the engine raises on purpose; each carries a one-line message fit to show a person."""

from __future__ import annotations


class TimekeepError(Exception):
    """Base of every deliberate engine error. The CLI prints `str(err)` and exits with `exit_code`."""

    exit_code = 1


class RepositoryError(TimekeepError):
    """The repository cannot be opened as asked (missing, too new, locked)."""

    exit_code = 2


class NotARepository(RepositoryError):
    pass


class FormatTooNew(RepositoryError):
    pass


class RepositoryLocked(RepositoryError):
    pass


class KeyNeeded(RepositoryError):
    """The repository is encrypted and this process has not unlocked it: nothing on its drive can be read."""


class IndexMissing(RepositoryError):
    """There is no index.db: a writer rebuilds it from the drive; a reader says how to."""


class IndexDamaged(RepositoryError):
    """index.db does not open as SQLite or fails its integrity check: a writer rebuilds it from the drive."""


class DriveWentBack(RepositoryError):
    """The drive holds less than this computer's own index saw of it (an older generation of a manifest, or the
    newest snapshots gone with their packs): it was put back from an older copy. Nothing is written on top."""


class UsageError(TimekeepError):
    """The request itself does not make sense (unknown path, bad time, folder not protected)."""

    exit_code = 2


class ThinningPaused(UsageError):
    """Thinning was asked for while the guard holds a suspected incident open (`timekeep.core.guard`)."""

    @staticmethod
    def reason(started: str) -> str:
        return (f"suspected mass damage since {started or 'an unknown time'}; "
                "`timekeep guard clear` (or \"It was me\" in the window) resumes it")

    @classmethod
    def since(cls, started: str) -> ThinningPaused:
        return cls(f"thinning is paused: {cls.reason(started)}")


class TimeBeforeFirstSnapshot(UsageError):
    pass


class NotInSnapshot(UsageError):
    pass


class UnsafePath(TimekeepError):
    """A stored path would write outside the restore target (`..`, absolute, through a symlink)."""


class CorruptData(TimekeepError):
    """Stored data does not match its digest or framing; restore stops rather than write wrong bytes."""


class BackupCancelled(TimekeepError):
    pass


class NothingChanged(TimekeepError):
    """A backup asked to skip an unchanged state found the folders as the latest snapshot holds them, so it
    took no snapshot: not a failure (exit code 0). `latest_id` and `latest_ns` name that snapshot."""

    exit_code = 0

    def __init__(self, latest_id: int, latest_ns: int) -> None:
        from datetime import datetime  # here, not at the top: the agent's slim client loads this module

        when = datetime.fromtimestamp(latest_ns / 1e9).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        super().__init__(f"Nothing changed since snapshot {latest_id} ({when}): no new snapshot.")
        self.latest_id, self.latest_ns = latest_id, latest_ns


class StorageError(TimekeepError):
    """Writing to the backup drive failed (full, unplugged, read-only): the snapshot stops, nothing is lost."""

    exit_code = 4  # 3 is an incomplete backup (files unreadable), as restic has it; see core/cli/exits.py


class DriveFull(StorageError):
    """The backup drive has no room left (ENOSPC, a quota, SQLite's "database or disk is full")."""


class DriveGone(StorageError):
    """The backup drive was disconnected or failed under the writer (I/O errors, the device or mount gone)."""


class OutOfReach(DriveGone):
    """A bucket cannot be reached and what was asked needs it (a version stored only there, any change): its
    history is still browsed from this computer's index, never written."""


class ObjectMissing(StorageError):
    """An object the repository needs is not on its medium (a pack, a manifest, config.json)."""


class ObjectExists(StorageError):
    """A write would have replaced an object that holds data; the medium refused it."""


class AccessDenied(StorageError):
    """The medium refused the request: a folder's permissions, or a bucket's policy for these credentials."""

    exit_code = 2


class NoCredentials(StorageError):
    """Object storage needs credentials and none were found (environment, profile or config file)."""

    exit_code = 2


class NoSuchBucket(StorageError):
    """The bucket named does not exist at that endpoint."""

    exit_code = 2


class WrongKey(TimekeepError):
    """The passphrase or recovery key given opens no key slot of the repository. Exit code 2, as a bad
    request: nothing is wrong with the repository, and nothing was decrypted."""

    exit_code = 2


class WrongPassphrase(WrongKey):
    pass


class WrongRecoveryKey(WrongKey):
    pass


class RecoveryKeyTypo(UsageError):
    """A recovery key as typed fails its checksum or its length: caught before any key derivation runs."""


class KeySlotDamaged(TimekeepError):
    """A key slot file is truncated, edited, swapped or hostile; the message names the file."""

    exit_code = 2


class NoKeySlot(RepositoryError):
    """The repository has no readable key slot at all: without one it cannot be unlocked."""


class PassphraseUnavailable(UsageError):
    """No passphrase could be had: no environment variable, no file, no keyring entry and no terminal."""


class KeyringUnavailable(TimekeepError):
    """The system keyring could not keep the passphrase (none running, locked, or it refused)."""


class SealBroken(CorruptData):
    """A sealed object does not open: damaged, cut short, swapped with or replayed as another object, sealed
    with another key, or written by a scheme this Timekeep does not know. The message names the object."""
