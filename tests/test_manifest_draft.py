"""A backup drafts its manifest's records as each commit lands, so finishing it reads nothing back: the manifest
it writes holds exactly the records (and, unencrypted, exactly the bytes) the index gives when read at the end,
over many commits, errors, deltas and deletions."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.capture import backup as backup_module
from timekeep.core.capture.backup import Backup, FolderSpec
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.folders import folders
from timekeep.core.index.writer import NewVersion, SnapshotWriter, manifest_records
from timekeep.core.repository import Repository
from timekeep.core.storage import xattrs
from timekeep.core.storage.manifest import Draft, current_manifest, read_manifest, write_manifest
from timekeep.core.types import SnapshotInfo


def _tree(root: Path) -> None:
    rnd = random.Random(21)
    text = b"".join(b"line %d of a note\n" % i for i in range(20_000))
    make_tree(root, {
        "notes": {f"n{i:02}.txt": text[i * 50 : i * 50 + 500 + 13 * i] for i in range(40)},
        "big.bin": rnd.randbytes(1 << 20) + text,
        "empty": b"",
        "link": "-> notes/n01.txt",
    })
    os.mkfifo(root / "pipe")  # recorded as an error: the manifest's error records come after its versions


def _backup(repo: Path) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """The snapshot's id, the manifest's records on the drive and the records read from the index now."""
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
        sid = Backup(inner.db, inner.layout, inner.config, specs, workers=2).run().id
        name = current_manifest(inner.layout, sid)
        assert name is not None
        on_drive = list(read_manifest(inner.layout.store, name, inner.layout.sealing))
        return sid, on_drive, list(manifest_records(inner.db, sid))


def test_drafted_manifest_holds_what_the_index_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    plain_and_encrypted: str) -> None:
    monkeypatch.setattr(backup_module, "COMMIT_ROWS", 7)  # many commits, so many drafts
    source = tmp_path / "source"
    _tree(source)
    repo = new_repo(tmp_path, source)
    _, first, first_index = _backup(repo)
    assert first[1:] == first_index
    assert sum(r["type"] == "version" for r in first) > 40 and first[-1]["type"] == "error"
    for i in range(0, 40, 3):
        (source / "notes" / f"n{i:02}.txt").write_bytes(b"edited %d\n" % i)
    (source / "notes" / "n01.txt").unlink()
    with open(source / "big.bin", "r+b") as f:
        f.seek(300_000)
        f.write(b"x" * 5000)
    _, second, second_index = _backup(repo)
    assert second[1:] == second_index
    states = {r["state"] for r in second if r["type"] == "version"}
    assert {"modified", "deleted"} <= states
    assert any(r["type"] == "version" and not r["full"] for r in second)  # a delta's extents, drafted


def test_drafted_manifest_has_the_bytes_of_one_written_at_the_end(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _tree(source)
    repo = new_repo(tmp_path / "repo", source)
    other = new_repo(tmp_path / "other", source)  # a second drive, to write the same manifest at the end to
    sid, records, _ = _backup(repo)
    with Timekeep.open(repo, writer=True) as tk, Timekeep.open(other, writer=True) as elsewhere:
        name = current_manifest(tk._repo.layout, sid)
        assert name is not None
        drafted = tk._repo.layout.store.read(name, 0, None)
        header = {k: v for k, v in records[0].items() if k not in ("type", "format", "gen")}
        store = elsewhere._repo.layout.store
        serial = store.read(write_manifest(elsewhere._repo.layout, sid, header, manifest_records(tk._repo.db, sid)),
                            0, None)
    assert drafted == serial and len(drafted) > 1000


def test_an_encrypted_repository_drafts_beside_its_index_not_on_the_drive(tmp_path: Path) -> None:
    repo = tmp_path / "drive" / "Timekeep" / "repo"
    init_repository(repo, encryption="repokey", passphrase="a good passphrase", argon2=TEST_PARAMS)
    with Timekeep.open(repo, writer=True) as tk:
        draft = Draft(tk._repo.layout)
        try:
            where = Path(os.readlink(f"/proc/self/fd/{draft.file.fileno()}"))
        finally:
            draft.close()
        assert where.parent == tk._repo.layout.index_dir and not where.is_relative_to(tmp_path / "drive")


def test_a_commit_drafts_each_record_as_the_index_reads_it_back(tmp_path: Path) -> None:
    """A commit drafts its versions' records from the values it inserts (no read back): every field a record
    has, each way it can be (an origin found or not, extents given out of order, a skip, owners, attributes, a
    link, a deletion, a folder), equal to the records the index gives for the same rows, over two commits."""
    source = Path(os.path.realpath(tmp_path)) / "source"
    make_tree(source, {"a.txt": b"one " * 3000, "b.txt": b"two " * 5000})
    repo_path = new_repo(tmp_path, source)
    first = backup(repo_path)
    root = os.fsencode(source)
    with Repository.open(repo_path, writer=True) as repo:
        d1, d2 = (bytes(r[0]) for r in repo.db.execute_sql("SELECT digest FROM chunk LIMIT 2"))
        writer = SnapshotWriter(repo.db, repo.layout, {f.path: f.id for f in folders(repo)}, drafts=True)
        sid = writer.begin("test")
        attrs = xattrs.encode(((b"user.note", b"kept"),))
        writer.commit([], [
            NewVersion(root + b"/new", "created", "dir", mode=0o40755, mtime_ns=5),
            NewVersion(root + b"/new/c.bin", "created", "file", size=4106, mode=0o100600, mtime_ns=-7, inode=9,
                       ctime_ns=11, full=False, depth=1, chain_rows=2, content_id=b"\x01" * 32, racy=True,
                       extents=[(4096, 10, d2, 3), (0, 4096, d1)], digest=b"\x02" * 32, uid=1000, gid=100,
                       xattrs=attrs),
            NewVersion(root + b"/new/moved.txt", "created", "file", size=0, origin=root + b"/a.txt"),
        ])
        writer.commit([], [
            NewVersion(root + b"/new/far.txt", "created", "file", origin=root + b"/never-indexed.txt"),
            NewVersion(root + b"/new/link", "created", "link", link_target=b"../a.txt"),
            NewVersion(root + b"/b.txt", "deleted", "file"),
        ])
        writer.finish(SnapshotInfo(id=sid, time_ns=1, trigger="test"), [])
        (last,) = repo.db.execute_sql("SELECT max(id) FROM version WHERE snapshot_id = ?", (sid,)).fetchone()
        assert writer._drafted == last  # every record was drafted: finishing read none back
        name = current_manifest(repo.layout, sid)
        assert name is not None
        on_drive = list(read_manifest(repo.layout.store, name, repo.layout.sealing))
        from_index = list(manifest_records(repo.db, sid))
    assert on_drive[1:] == from_index and len(from_index) == 6
    by_path = {r["path"]: r for r in from_index}
    c = by_path[os.fsdecode(root + b"/new/c.bin")]
    assert c["extents"][0][0] == 0 and c["extents"][1] == [4096, 10, d2.hex(), 3] and c["uid"] == 1000
    assert by_path[os.fsdecode(root + b"/new/moved.txt")]["origin"] == os.fsdecode(root + b"/a.txt")
    assert "origin" not in by_path[os.fsdecode(root + b"/new/far.txt")]
    assert by_path[os.fsdecode(root + b"/b.txt")]["prev"] == first
