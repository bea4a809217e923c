"""Big files read in capture processes are recorded exactly as files read in a thread: the same versions, the
same chunk ids, frames every chunk of which checks against its id, in plain and encrypted repositories. A
backup killed with -9 leaves no capture process behind."""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import child_env, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.capture.backup import Backup, FolderSpec
from timekeep.core.capture.read import Changing
from timekeep.core.folders import folders
from timekeep.core.storage.manifest import current_manifest, read_manifest

# what differs between two copies of one tree, or two runs, by nature
VARYING = {"time", "time_ns", "duration_s", "bytes_new", "bytes_read", "files_read", "files_changed",
           "files_scanned", "inode", "ctime_ns", "mtime_ns", "blake3", "id", "file_id", "folders", "path",
           "racy"}  # racy: whether a file was written near its backup's start, which the machine's load decides


def _mixed_tree(root: Path) -> None:
    rnd = random.Random(22)
    text = b"".join(b"line %d of a note that repeats itself somewhat\n" % i for i in range(60_000))
    noise = rnd.randbytes(4 << 20)
    make_tree(root, {
        "notes": {f"n{i:02}.txt": text[i * 97 : i * 97 + 500 + 37 * i] for i in range(40)},
        "tiny": b"x",
        "empty": b"",
        "medium.bin": noise[1000:600_000] + text[:300_000],
        "same": {"a.bin": noise[:400_000], "b.bin": noise[:400_000]},  # dedup across files read at once
        "big.img": b"\0" * (1 << 20) + noise + text + noise[:1 << 20] + text,  # above the default threshold
        "link": "-> notes/n01.txt",
    })
    os.link(root / "big.img", root / "big-again.img")  # a hard link: read twice, stored once
    with open(root / "sparse.img", "wb") as fh:  # holes around islands of data
        for at in (0, 3 << 20, 9 << 20):
            fh.seek(at)
            fh.write(noise[at >> 8 : (at >> 8) + 300_000])
        fh.truncate(12 << 20)


def _backup(repo: Path, procs: int, min_bytes: int | None = None) -> int:
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
        job = Backup(inner.db, inner.layout, inner.config, specs, procs=procs)
        job.store.writer.target_size = 256 * 1024  # many packs sealed while frames arrive from processes
        if job.procs is not None and min_bytes is not None:
            job.procs.min_bytes = min_bytes  # the medium files too, not only the big ones
        return job.run().id


def _records(repo: Path, sid: int, root: Path) -> dict[bytes, dict[str, Any]]:
    """The snapshot's versions under `root`, by path below it, without what differs between two copies."""
    with Timekeep.open(repo) as tk:
        inner = tk._repo
        name = current_manifest(inner.layout, sid)
        assert name is not None
        prefix = os.fsencode(root) + b"/"
        found = {}
        for record in read_manifest(inner.layout.store, name, inner.layout.sealing):
            path = os.fsencode(record.get("path", ""))
            if path.startswith(prefix):
                found[path[len(prefix) :]] = {k: v for k, v in record.items() if k not in VARYING}
        return found


@pytest.mark.parametrize("first_procs", [2, 0])
def test_capture_processes_record_what_threads_do(tmp_path: Path, plain_and_encrypted: str, first_procs: int) -> None:
    """One repository (one key), the same tree in two folders: one read with capture processes, one without.
    Whichever goes first stores the chunks; the other finds every chunk id the same, so stores nothing."""
    one, two = tmp_path / "one", tmp_path / "two"
    _mixed_tree(one)
    shutil.copytree(one, two, symlinks=True)
    os.unlink(two / "big-again.img")
    os.link(two / "big.img", two / "big-again.img")
    repo = new_repo(tmp_path, one)
    first = _backup(repo, first_procs, min_bytes=64 * 1024)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(two))
    second = _backup(repo, 2 - first_procs, min_bytes=64 * 1024)

    a, b = _records(repo, first, one), _records(repo, second, two)
    assert len(a) > 45 and a == b
    assert a[b"big.img"]["extents"] and a[b"sparse.img"]["extents"]
    with Timekeep.open(repo) as tk:
        report = tk.check(read_data=True)  # every stored chunk decoded and checked against its id
        assert report.ok, report.problems
        assert report.chunks_read == report.chunks > 100
        restored = tmp_path / "restored"
        tk.restore(os.fsencode(one), first, os.fsencode(restored))
    assert read_tree(restored / "one") == read_tree(one)


_KILLED = """
import sys
import threading
from pathlib import Path
from timekeep.core.api import Timekeep
from timekeep.core.capture.backup import Backup, FolderSpec
from timekeep.core.capture.read import Changing
from timekeep.core.folders import folders

first = threading.Lock()

def held(digests):  # a capture process asks which chunks to store: hold the backup there, processes running
    # two processes' threads can ask at once: one line, printed once, or their pids run together on it
    if first.acquire(blocking=False):
        print(" ".join(map(str, job.procs.pids())), flush=True)
    sys.stdin.read()

with Timekeep.open(Path(sys.argv[1]), writer=True) as tk:
    inner = tk._repo
    specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
    job = Backup(inner.db, inner.layout, inner.config, specs, procs=2)
    job.store.claim = held
    job.run()
"""


def test_a_killed_backup_leaves_no_capture_process(tmp_path: Path) -> None:
    source = tmp_path / "source"
    rnd = random.Random(3)
    make_tree(source, {f"big{i}.bin": rnd.randbytes(9 << 20) for i in range(3)})
    repo = new_repo(tmp_path, source)
    child = subprocess.Popen([sys.executable, "-c", _KILLED, str(repo)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=child_env())
    assert child.stdout is not None
    line = child.stdout.readline()
    pids = [int(p) for p in line.split()]
    assert pids, "the backup ended before a capture process was seen"
    watches = [os.pidfd_open(pid) for pid in pids]  # readable once the process has ended
    try:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        waiting = set(watches)
        while waiting:  # each wait ends as soon as one more process has ended
            ready, _, _ = select.select(list(waiting), [], [], 30)
            assert ready, "a capture process outlived its backup"
            waiting -= set(ready)
    finally:
        for fd in watches:
            os.close(fd)


def test_a_file_that_fails_in_a_capture_process_fails_alone(tmp_path: Path) -> None:
    """A file that is no regular file when opened, or is gone, is that file's error; the same process then
    reads the next file."""
    source = tmp_path / "source"
    make_tree(source, {"big.bin": random.Random(5).randbytes(9 << 20)})
    os.mkfifo(tmp_path / "fifo")
    repo = new_repo(tmp_path, source)
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
        job = Backup(inner.db, inner.layout, inner.config, specs, procs=1)
        assert job.procs is not None
        try:
            with pytest.raises(Changing):
                job.procs.read(os.fsencode(tmp_path / "fifo"), job.ctx)
            (pid,) = job.procs.pids()
            with pytest.raises(FileNotFoundError):
                job.procs.read(os.fsencode(tmp_path / "gone"), job.ctx)
            got = job.procs.read(os.fsencode(source / "big.bin"), job.ctx)
            assert got is not None and got.before.st_size == 9 << 20 and len(got.chunks) > 30
            assert job.procs.pids() == [pid]
        finally:
            job.procs.close()
            job.store.close()
            job.store.writer.abort()
            job.writer.close()
