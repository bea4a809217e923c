"""Helpers for the restore fidelity and safety suites: extended attributes and ACLs as the kernel keeps
them, trees read back through directory descriptors (deeper than PATH_MAX), index rows rewritten with
their seals made good again (a hostile index), and running Python as an unprivileged user."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.treeops import index_db
from timekeep.core.index import seal
from timekeep.core.index.chain import LINK_COLUMNS
from timekeep.core.types import RestoreResult

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
KEPT = (b"user.", b"trusted.", b"security.", b"system.posix_acl_access", b"system.posix_acl_default")
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
NO_ID = 0xFFFFFFFF

needs_root_and_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                                            reason="needs root and setpriv")


def b(path: Path | str) -> bytes:
    return os.fsencode(path)


def acl(user: int, group: int, other: int, named_user: tuple[int, int] | None = None) -> bytes:
    """A POSIX ACL as the kernel stores it in system.posix_acl_*: version 2, then (tag, perm, id) entries."""
    entries = [(ACL_USER_OBJ, user, NO_ID)]
    if named_user is not None:
        entries.append((ACL_USER, named_user[1], named_user[0]))
    entries.append((ACL_GROUP_OBJ, group, NO_ID))
    if named_user is not None:
        entries.append((ACL_MASK, group | named_user[1], NO_ID))
    entries.append((ACL_OTHER, other, NO_ID))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in entries)


def xattrs_of(path: Path | bytes) -> dict[bytes, bytes]:
    """The extended attributes Timekeep keeps, never following a link."""
    found = {}
    for name in os.listxattr(path, follow_symlinks=False):
        raw = os.fsencode(name)
        if raw.startswith(KEPT):
            found[raw] = os.getxattr(path, name, follow_symlinks=False)
    return found


def fd_tree(root_fd: int) -> dict[bytes, tuple[str, bytes, int]]:
    """Relative path -> (kind, content or link target, mode) beneath an open folder, read through
    descriptors alone, so however deep it goes (deeper than PATH_MAX) it can be compared."""
    found: dict[bytes, tuple[str, bytes, int]] = {}
    todo: list[tuple[int, bytes]] = [(os.dup(root_fd), b"")]
    while todo:
        fd, rel = todo.pop()
        try:
            for name in (os.fsencode(n) for n in os.listdir(fd)):
                found[rel + name] = _entry(fd, name, todo, rel + name + b"/")
        finally:
            os.close(fd)
    return found


def _entry(fd: int, name: bytes, todo: list[tuple[int, bytes]], below: bytes) -> tuple[str, bytes, int]:
    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        return "symlink", os.readlink(name, dir_fd=fd), 0
    if stat.S_ISDIR(st.st_mode):
        todo.append((os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd), below))
        return "dir", b"", stat.S_IMODE(st.st_mode)
    file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    with open(file_fd, "rb") as fh:
        return "file", fh.read(), stat.S_IMODE(st.st_mode)


def reseal(repo: Path, path: bytes, **changes: object) -> None:
    """Rewrite the newest version row of `path` with `changes` and seal it again as the engine would: a
    hostile index (a seal is a checksum, not a signature) or one damaged in a way no seal can see."""
    with index_db(repo) as conn:
        (fid,) = conn.execute("SELECT id FROM file WHERE path = ?", (path,)).fetchone()
        columns = LINK_COLUMNS.split(", ")
        row = dict(zip(columns, conn.execute(
            f"SELECT {LINK_COLUMNS} FROM version WHERE file_id = ? ORDER BY id DESC LIMIT 1", (fid,)).fetchone(),
            strict=True))
        row.update(changes)
        sealed = seal.version_seal(path, row["snapshot_id"], row["prev"], row["state"], row["kind"], row["size"],
                                   row["mode"], row["mtime_ns"], row["uid"], row["gid"], bool(row["full"]),
                                   row["digest"], row["link_target"], row["xattrs"], row["xhash"] or b"")
        sets = ", ".join(f"{column} = ?" for column in changes)
        conn.execute(f"UPDATE version SET {sets}, seal = ? WHERE id = ?", (*changes.values(), sealed, row["id"]))


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """The folder to protect, by its real path (restores compare real paths)."""
    path = Path(os.path.realpath(tmp_path)) / "src"
    path.mkdir()
    return path


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's own tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="timekeep-restore-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.chown(name, uid, uid, follow_symlinks=False)


def run_as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`python -c code args...` as the unprivileged user nobody, with this checkout importable."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c", code,
               *args]
    return subprocess.run(command, env=env, cwd="/", capture_output=True, timeout=120, check=False)


def in_shares(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every folder restore from here on in two processes (core/restore/shares.py); returns the record of the
    forks made, by pid. The suite's worker process keeps idle threads of earlier tests (which hold no lock a
    share needs), so the one-thread rule is taken as met (tests/test_restore_shares.py tests it alone)."""
    from timekeep.core.restore import shares

    monkeypatch.setattr(shares, "SHARES", 2)
    monkeypatch.setattr(shares, "MIN_FILES", 1)
    monkeypatch.setattr(shares, "alone", lambda: True)
    forks: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return forks


def restored_apart(monkeypatch: pytest.MonkeyPatch) -> list[RestoreResult | None]:
    """Every folder counts as big (core/restore/apart.py hands it to a command from a process running threads);
    returns what each `timekeep restore` run apart gave back, in order. The command finds no passphrase but the one
    piped to it (no keyring, no environment)."""
    from timekeep.core.restore import apart, shares

    monkeypatch.setattr(shares, "SHARES", 2)
    monkeypatch.setattr(shares, "MIN_FILES", 1)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("TIMEKEEP_PASSPHRASE", raising=False)
    given: list[RestoreResult | None] = []
    real = apart.restore

    def recorded(*args: Any, **kwargs: Any) -> RestoreResult | None:
        given.append(real(*args, **kwargs))
        return given[-1]

    monkeypatch.setattr(apart, "restore", recorded)
    return given
