"""Small files are read one batch at a time (the small-file lane), while a big file's reader goes on beside them:
two readers at small files only hand the GIL to and fro. What the backup stores is the same either way."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.capture import backup as backup_module
from timekeep.core.capture.backup import SMALL_BYTES, Backup, FolderSpec
from timekeep.core.capture.read import read_ahead
from timekeep.core.capture.scan import ScanItem
from timekeep.core.folders import folders


class Overlaps:
    """How many small files, and big ones, were being read at once at most, and whether a big file's read ever
    ran beside a small one's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.small = self.big = self.most_small = 0
        self.big_beside_small = False
        self.small_began = threading.Event()
        self.first_big = True

    def reading(self, item: ScanItem, read: Callable[[], object]) -> object:
        assert item.observed is not None
        small = item.observed.size <= SMALL_BYTES
        with self.lock:
            first_big = self.first_big and not small
            self.first_big &= not first_big
        if small:
            self.small_began.set()
        elif first_big:  # the first big file's read holds on until small files are being read beside it
            self.small_began.wait(timeout=30)
        with self.lock:
            if small:
                self.small += 1
                self.most_small = max(self.most_small, self.small)
            else:
                self.big += 1
            self.big_beside_small |= self.small > 0 and self.big > 0
        try:
            return read()
        finally:
            with self.lock:
                if small:
                    self.small -= 1
                else:
                    self.big -= 1


def _tree(root: Path) -> None:
    rnd = random.Random(5)
    make_tree(root, {
        **{f"d{d}": {f"n{i:03}.txt": b"note %d %d\n" % (d, i) * (1 + i % 40) for i in range(300)} for d in range(8)},
        "zbig": {f"b{i}.bin": rnd.randbytes(3 << 20) for i in range(6)},  # (met first: the scan pops the last name)
    })


def test_small_files_are_read_one_batch_at_a_time_beside_big_ones(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = Path(os.path.realpath(tmp_path)) / "source"
    _tree(source)
    repo = new_repo(tmp_path, source)
    seen = Overlaps()
    read = backup_module.read_with_retry
    monkeypatch.setattr(backup_module, "read_with_retry",
                        lambda item, ctx: seen.reading(item, lambda: read(item, ctx)))
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
        info = Backup(inner.db, inner.layout, inner.config, specs, workers=2).run()
    assert info.files_read == 8 * 300 + 6
    assert seen.most_small == 1  # never two small files at once: the lane
    assert seen.big_beside_small  # while a big file's reader went on
    restored = tmp_path / "restored"
    with Timekeep.open(repo) as tk:
        assert not tk.restore(os.fsencode(source), info.id, dest=os.fsencode(restored)).errors
    assert read_tree(restored / "source") == read_tree(source)  # byte for byte


def test_reading_ahead_passes_over_what_it_cannot_read(tmp_path: Path) -> None:
    """Reading ahead is only a hint: a file gone, a FIFO, a folder or a file it may not open cost it nothing (the
    read itself then reports what it finds), and a file it reads ahead reads back whole."""
    (tmp_path / "note.txt").write_bytes(b"kept\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    locked = tmp_path / "locked.txt"
    locked.write_bytes(b"no")
    locked.chmod(0)
    paths = [os.fsencode(tmp_path / name) for name in ("gone.txt", "pipe", "folder", "locked.txt", "note.txt")]
    done = subprocess.run(  # as a user the locked file refuses (root opens anything)
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
         "import sys; from timekeep.core.capture.read import read_ahead; read_ahead(p.encode() for p in sys.argv[1:])",
         *map(os.fsdecode, paths)],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == ""
    read_ahead(paths)
    assert (tmp_path / "note.txt").read_bytes() == b"kept\n"
