"""`timekeep`'s exit codes, in one place; README's "Exit codes" paragraph lists the same.

Like restic, a backup that took its snapshot but could not read some files exits 3, so a script can tell an
incomplete backup from a complete one without parsing the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timekeep.core.types import FileError, SnapshotInfo

DONE = 0
FAILED = 1  # a check found problems, a file could not be restored, thinning met a problem
USAGE = 2  # a usage or repository problem: nothing was done
INCOMPLETE = 3  # the snapshot was taken, but some files could not be backed up (`timekeep errors` lists them)
DRIVE = 4  # the backup drive could not be written (full, read-only, gone): nothing new stored, nothing lost
CANCELLED = 130


def backup_exit(snap: SnapshotInfo, failed: list[FileError]) -> int:
    """DONE for a complete snapshot, INCOMPLETE when files could not be backed up (skipped special files,
    which are never stored, do not count)."""
    return INCOMPLETE if snap.errors or failed else DONE
