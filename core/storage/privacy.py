"""Whether other users of the computer can read a repository, and making it private to its owner.

A repository is private when nobody else can reach what it holds. A folder without group or other
permission bits cannot be entered by anyone but its owner (and root), so nothing beneath it is looked at:
checking a private repository costs one lstat, and checking an exposed one stops after a few findings.
Making one private removes every group and other bit (chmod go-rwx) from the root down, never following
a symbolic link. What a person was told about is remembered per repository id in the user's state
folder, so the notice comes once.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from timekeep.core.errors import TimekeepError
from timekeep.core.storage.atomic import create_private
from timekeep.core.storage.location import RemoteRoot

OTHERS = 0o077  # group and other permission bits
LIMIT = 8
NOTICES = "private-notices"


class CannotMakePrivate(TimekeepError):
    """chmod was refused: a file of another owner, or a drive without Unix permissions (FAT, exFAT)."""


def exposed(root: Path, limit: int = LIMIT) -> list[Path]:
    """Up to `limit` files and folders of the repository that other users can read or list: those with a
    group or other permission bit, in folders other users can enter (the root itself included)."""
    found: list[Path] = []
    folders = [root]
    while folders and len(found) < limit:
        folder = folders.pop()
        if not os.lstat(folder).st_mode & OTHERS:
            continue  # nobody else gets in: what lies beneath is out of their reach
        found.append(folder)
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue  # a writer's temporary, gone since the folder was listed
                if stat.S_ISDIR(mode):
                    folders.append(Path(entry.path))
                elif not stat.S_ISLNK(mode) and mode & OTHERS:
                    found.append(Path(entry.path))
                    if len(found) >= limit:
                        break
    return found


def make_private(root: Path) -> int:
    """Remove group and other permissions from the repository's every file and folder (links are left
    alone and not followed); the number of entries changed. CannotMakePrivate names one that refused."""
    changed = 0
    for folder, _dirs, files in os.walk(root, onerror=_refused):
        changed += _restrict(folder)  # links to folders are listed among the folders but never entered
        for name in files:
            changed += _restrict(os.path.join(folder, name))
    return changed


def _refused(err: OSError) -> None:
    raise CannotMakePrivate(f"cannot make {err.filename} private: {err.strerror}") from err


def _restrict(path: str) -> int:
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or not mode & OTHERS:
            return 0
        _chmod_here(path, stat.S_IMODE(mode) & ~OTHERS)
    except FileNotFoundError:
        return 0  # a writer's temporary, gone since the folder was listed
    except OSError as err:
        raise CannotMakePrivate(
            f"cannot make {path} private: {err.strerror}; a file of another user needs that user (or root), "
            "and a drive without Unix permissions (FAT, exFAT) is made private by how it is mounted") from err
    return 1


def _chmod_here(path: str, mode: int) -> None:
    """chmod `path` itself, never what a link put there since it was looked at points to."""
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except NotImplementedError:  # a C library that cannot refuse to follow links; `path` was no link
        os.chmod(path, mode)


def notice_due(root: Path, repository_id: str, state: Path) -> list[Path]:
    """What to tell the person about the repository now: some of what others can read, unless they were
    told about this repository before (then nothing, without looking)."""
    if isinstance(root, RemoteRoot) or _marker(state, repository_id).exists():
        return []  # a bucket's objects have no file modes: its policy is the server's to keep
    return exposed(root)


def answer_notice(root: Path, repository_id: str, state: Path, fix: bool) -> int:
    """The person was told, and answered: with `fix`, make the repository private (the number of entries
    changed). Remembered either way, even when the fix is refused, so the notice does not come back."""
    try:
        return make_private(root) if fix else 0
    finally:
        with contextlib.suppress(OSError):  # an unwritable state folder only means being told again
            remember_notice(repository_id, state)


def remember_notice(repository_id: str, state: Path) -> None:
    """The person was told: never again for this repository."""
    marker = _marker(state, repository_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(create_private(marker))


def notice(root: Path, found: list[Path]) -> str:
    """One line naming the problem and the fix."""
    files = [p for p in found if p != root and not p.is_dir()]
    example = os.path.relpath(files[0] if files else found[-1], root)
    return (f"other users of this computer can read the repository {root} (its {example}, for one); "
            "`timekeep make-private` makes it readable by you alone")


def _marker(state: Path, repository_id: str) -> Path:
    return state / NOTICES / os.path.basename(repository_id)
