"""The mount's tests share: a skip that says why where FUSE is missing, `timekeep mount` run as a person runs it
(a real process, backgrounded once mounted) and always unmounted after, a small history to mount, and the pack
bytes of one file's frame to flip."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import backup, child_env, index_file, make_tree, new_repo
from tests.treeops import pack_file
from timekeep.core.api import Timekeep
from timekeep.core.mount.available import fuse_missing
from timekeep.core.mount.names import snapshot_names
from timekeep.core.mount.run import mounted_type

ROOT = Path(__file__).resolve().parent.parent
MISSING = fuse_missing()
needs_fuse = pytest.mark.skipif(MISSING is not None, reason=f"needs FUSE: {MISSING}")
BIG = 3_000_000  # several frames: reads cross them


def timekeep(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`timekeep ARGS` in a process of its own, as a person types it."""
    return subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", *args], env=child_env(), cwd=ROOT,
                          text=True, capture_output=True, timeout=timeout, check=False)


@contextmanager
def mounted(repo: Path | str, mountpoint: Path, *extra: str) -> Iterator[Path]:
    """History mounted at `mountpoint` for the block, unmounted after whatever happened in it."""
    mountpoint.mkdir(exist_ok=True)
    done = timekeep("mount", str(mountpoint), "--repo", str(repo), *extra)
    assert done.returncode == 0, done.stderr
    try:
        yield mountpoint
    finally:
        if mounted_type(mountpoint) is not None:
            left = timekeep("unmount", str(mountpoint))
            assert left.returncode == 0, left.stderr


def history(tmp_path: Path) -> tuple[Path, Path]:
    """A protected folder through three snapshots: files changed, added, deleted, a link, modes, a big file."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"first\n", "link": "-> a.txt", "keep": {"deep.txt": b"deep" * 100},
                    "gone.txt": b"soon deleted", "big.bin": os.urandom(BIG), "caf\xe9 n\xe4me.txt": b"unicode"})
    (src / "keep" / "deep.txt").chmod(0o600)
    with open(os.fsencode(src) + b"/not utf-8 \xff\xfe.bin", "wb") as odd:  # a name no encoding decodes
        odd.write(b"odd")
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "a.txt").write_bytes(b"first\nsecond\n")
    (src / "gone.txt").unlink()
    (src / "keep" / "new.txt").write_bytes(b"new")
    backup(repo)
    with open(src / "big.bin", "r+b") as fh:
        fh.seek(BIG // 2)
        fh.write(b"changed in the middle")
    backup(repo)
    return repo, src


def names(repo: Path) -> dict[str, int]:
    """The mount's folder name of each snapshot, as the mount's process names them."""
    with Timekeep.open(repo) as tk:
        return {name: snap.id for name, snap in snapshot_names(tk.snapshots()).items()}


def flip_frame_of(repo: Path, path: bytes, snapshot_id: int) -> str:
    """Flip one byte in the middle of the first frame holding `path`'s bytes at the snapshot; the pack's name."""
    with Timekeep.open(repo) as tk:
        digest = tk.plan(path, snapshot_id).pieces[0].digest
    with sqlite3.connect(index_file(repo)) as db:
        name, offset, length = db.execute("SELECT p.name, c.offset, c.length FROM chunk c JOIN pack p "
                                          "ON p.id = c.pack_id WHERE c.digest = ?", (digest,)).fetchone()
    where = pack_file(repo, name)
    where.chmod(0o600)
    with open(where, "r+b") as fh:
        fh.seek(offset + length // 2)
        byte = fh.read(1)
        fh.seek(offset + length // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    return str(name)
