"""The index is a cache and the drive the truth, piece by piece (the damage matrix crosses them all): seals,
whole-file digests, manifest generations, snapshot ids that are never reused, a rebuild that swaps only when
whole, losses listed by snapshot and path and healed by the next backup, doubt said where a lost snapshot
hides what changed, and a repository that never ends up inside what it protects."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import backup, index_file, make_tree, new_repo, read_tree
from tests.treeops import append, built, flip, index_db, pack_file, payload, truncate
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.errors import CorruptData, IndexDamaged, IndexMissing, StorageError, UsageError
from timekeep.core.index import chain
from timekeep.core.index.schema import open_index
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import manifest_files, read_manifest

pytestmark = pytest.mark.usefixtures("both_index_modes")  # every promise holds with the index on this computer too


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(path, {"a.txt": b"alpha\n", "b.bin": payload(1, 300_000), "sub": {"c.txt": b"see\n"}})
    return path


def b(path: Path) -> bytes:
    return os.fsencode(path)


def drop_index(repo: Path) -> None:
    for side in ("", "-wal", "-shm"):
        Path(f"{index_file(repo)}{side}").unlink(missing_ok=True)


# --- seals and digests: a damaged index never hands out other bytes ------------------------------------------


def test_a_version_moved_to_a_later_snapshot_is_refused_not_restored_older(tmp_path: Path, src: Path) -> None:
    """One flipped snapshot id would make `a.txt` at snapshot 2 come back as it was at 1, a true version of
    the same file: its seal covers the snapshot, so the plan is refused instead."""
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    append(src / "a.txt", b"second\n")
    second = backup(repo)
    with index_db(repo) as conn:
        conn.execute("UPDATE version SET snapshot_id = ? WHERE snapshot_id = ? AND file_id = "
                     "(SELECT id FROM file WHERE path = ?)", (second + 40, second, b(src / "a.txt")))
    with Timekeep.open(repo) as tk:
        assert built(tk, b(src / "b.bin"), second) == payload(1, 300_000)
        with pytest.raises(CorruptData, match=r"index is damaged at .*a\.txt"):
            tk.plan(b(src / "a.txt"), second)
        with pytest.raises(CorruptData):
            tk.plan(b(src / "a.txt"), first)  # the file's list of versions no longer holds together


def test_a_version_given_to_another_file_is_refused(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with index_db(repo) as conn:
        (victim,) = conn.execute("SELECT v.id FROM version v JOIN file f ON f.id = v.file_id WHERE f.path = ?",
                                 (b(src / "b.bin"),)).fetchone()
        (other,) = conn.execute("SELECT id FROM file WHERE path = ?", (b(src / "a.txt"),)).fetchone()
        conn.execute("DELETE FROM version WHERE file_id = ?", (other,))
        conn.execute("UPDATE version SET file_id = ? WHERE id = ?", (other, victim))
    with Timekeep.open(repo) as tk:
        with pytest.raises(CorruptData, match=r"a\.txt"):
            tk.plan(b(src / "a.txt"), sid)
        with pytest.raises(IndexDamaged):
            tk.list_dir(b(src), sid)


def test_an_extent_pointed_at_another_chunk_is_refused(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with index_db(repo) as conn:
        (chunk,) = conn.execute("SELECT e.chunk_id FROM extent e JOIN version v ON v.id = e.version_id "
                                "JOIN file f ON f.id = v.file_id WHERE f.path = ?", (b(src / "a.txt"),)).fetchone()
        conn.execute("UPDATE extent SET chunk_id = ? WHERE version_id IN (SELECT v.id FROM version v JOIN file f "
                     "ON f.id = v.file_id WHERE f.path = ?) AND offset = 0", (chunk, b(src / "b.bin")))
    with Timekeep.open(repo) as tk, pytest.raises(CorruptData, match=r"b\.bin"):
        tk.plan(b(src / "b.bin"), sid)


def test_the_whole_file_digest_stops_a_wrong_version_before_it_is_kept(tmp_path: Path, src: Path) -> None:
    """Even with every row sealed anew (as if the engine itself had built a wrong plan), the digest recorded
    when the file was read stops the restore, and no file is left under its name."""
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with index_db(repo) as conn:
        conn.execute("UPDATE version SET digest = ? WHERE file_id = (SELECT id FROM file WHERE path = ?)",
                     (b"\x01" * 32, b(src / "a.txt")))
    db = open_index(index_file(repo))
    (fid,) = db.execute_sql("SELECT id FROM file WHERE path = ?", (b(src / "a.txt"),)).fetchone()
    chain.reseal_file(db, fid)
    db.close()
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src / "a.txt"), sid, dest=b(tmp_path / "out"))
    assert [e.path for e in result.errors] == [b(src / "a.txt")] and "digest" in result.errors[0].message
    assert not (tmp_path / "out" / "a.txt").exists() and os.listdir(tmp_path / "out") == []


def test_every_version_records_the_digest_of_what_was_read(tmp_path: Path, src: Path) -> None:
    import blake3

    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with Timekeep.open(repo) as tk:
        assert tk.plan(b(src / "b.bin"), sid).digest == blake3.blake3(payload(1, 300_000)).digest()


# --- manifests: written once per generation, checksummed ---------------------------------------------------


def test_thinning_writes_the_next_generation_and_never_overwrites(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    ids = [backup(repo)]
    for n in range(2):
        append(src / "a.txt", b"more %d\n" % n)
        ids.append(backup(repo))
    layout = Layout(repo)
    kept = (layout.manifests / f"{ids[2]:010d}.manifest").read_bytes()
    with Timekeep.open(repo, writer=True) as tk:
        tk.coalesce(drop=[ids[1]])
    files = manifest_files(layout)
    assert sorted(files) == [ids[0], ids[2]] and sorted(files[ids[2]]) == [1]
    header = next(read_manifest(layout.store, files[ids[2]][1]))
    assert header["absorbed"] == [ids[1]] and header["gen"] == 1
    assert kept != layout.manifest_path(ids[2], 1).read_bytes()
    drop_index(repo)
    assert rebuild_index(repo).snapshots == 2
    with Timekeep.open(repo) as tk:
        assert built(tk, b(src / "a.txt"), ids[2]) == (src / "a.txt").read_bytes()


def test_a_flipped_bit_in_a_manifest_is_found_not_decoded(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    layout = Layout(repo)
    path = layout.manifest_path(sid)
    flip(path, path.stat().st_size // 2)
    with pytest.raises(CorruptData, match="damaged"):
        list(read_manifest(layout.store, f"snapshots/{path.name}"))
    with Timekeep.open(repo) as tk:
        report = tk.check()
    assert not report.ok and any("manifest" in p for p in report.problems)


# --- writers trust only an index that tells the truth about the drive -----------------------------------------


def test_a_missing_index_is_rebuilt_by_the_next_backup_and_no_id_is_reused(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    manifest = Layout(repo).manifest_path(first).read_bytes()
    drop_index(repo)
    append(src / "a.txt", b"later\n")
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt and any("missing" in note for note in tk.notes)
        second = tk.backup().id
    assert second == first + 1 and Layout(repo).manifest_path(first).read_bytes() == manifest


def test_readers_never_make_an_index(tmp_path: Path, src: Path, both_index_modes: str) -> None:
    """On the drive, a reader never writes; kept on this computer, a missing or damaged index is the lot of
    a second computer, and a reader rebuilds it from the drive first (when no writer runs)."""
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    drop_index(repo)
    if both_index_modes == "local":
        with Timekeep.open(repo) as tk:
            assert [s.id for s in tk.snapshots()] == [sid] and any("missing" in n for n in tk.notes)
        index_file(repo).write_bytes(b"")
        with Timekeep.open(repo) as tk:
            assert [s.id for s in tk.snapshots()] == [sid] and any("empty" in n for n in tk.notes)
        return
    with pytest.raises(IndexMissing, match="rebuild-index"):
        Timekeep.open(repo)
    index_file(repo).write_bytes(b"")
    with pytest.raises(IndexDamaged, match="rebuild-index"):
        Timekeep.open(repo)
    assert index_file(repo).stat().st_size == 0


def test_an_id_of_a_manifest_the_index_forgot_is_never_given_again(tmp_path: Path, src: Path,
                                                                   both_index_modes: str) -> None:
    """A manifest on the drive beyond what the index knows makes the writer rebuild first (a reader of an
    index kept on this computer, too); an id is never handed out twice, whatever the index says."""
    repo = new_repo(tmp_path, src)
    backup(repo)
    stale = index_file(repo).read_bytes()
    append(src / "a.txt", b"two\n")
    second = backup(repo)
    drop_index(repo)
    index_file(repo).write_bytes(stale)
    with Timekeep.open(repo) as tk:
        assert any("behind the drive" in note for note in tk.notes)
        assert (second in [s.id for s in tk.snapshots()]) == (both_index_modes == "local")  # caught up first
    if both_index_modes == "local":
        drop_index(repo)
        index_file(repo).write_bytes(stale)
    append(src / "a.txt", b"three\n")
    with Timekeep.open(repo, writer=True) as tk:
        if both_index_modes == "local":  # only new snapshots since: loaded, not rebuilt
            assert not tk.rebuilt and any("caught up" in note for note in tk.notes)
        else:
            assert tk.rebuilt
        assert tk.backup().id == second + 1


def test_garbage_named_like_a_far_manifest_proves_no_snapshot(tmp_path: Path, src: Path,
                                                            both_index_modes: str) -> None:
    """A file named like manifest 99 that does not open: only 99 is reported (damaged), the ids below it are
    not snapshots lost with their manifest, and the next backup takes the next id, not 100."""
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    garbage = Layout(repo).manifest_path(99)
    garbage.write_bytes(b"not a manifest at all\n" * 20)
    append(src / "a.txt", b"two\n")
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt
        assert tk.lost_snapshots() == [99]
        second = tk.backup().id
    assert second == first + 1 and garbage.read_bytes() == b"not a manifest at all\n" * 20
    drop_index(repo)
    report = rebuild_index(repo)
    assert [item.snapshots for item in report.lost if item.path is None] == [(99,)]
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [first, second] and tk.lost_snapshots() == [99]


def test_a_killed_rebuild_leaves_the_old_index_in_place(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    before = index_file(repo).stat().st_ino
    script = ("import sys, os, signal\n"
              "import timekeep.core.index.rebuild as r\n"
              "real = r.Loader.load\n"
              "def die(self, sid):\n"
              "    real(self, sid)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "r.Loader.load = die\n"
              "from timekeep.core.api import rebuild_index\n"
              f"rebuild_index({str(repo)!r})\n")
    proc = subprocess.run([os.sys.executable, "-c", script], capture_output=True, cwd=Path(__file__).parent.parent)
    assert proc.returncode == -9
    rebuilding = index_file(repo).with_name("index.db.rebuilding")
    assert rebuilding.exists() and index_file(repo).stat().st_ino == before
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [sid] and tk.check().ok
    with Timekeep.open(repo, writer=True):
        pass
    assert not rebuilding.exists()


# --- partial damage stays partial, is listed, and heals ------------------------------------------------------


def test_a_damaged_chunk_is_listed_recorded_and_stored_again_by_the_next_backup(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with index_db(repo) as conn:
        name, offset = conn.execute(
            "SELECT p.name, c.offset FROM chunk c JOIN pack p ON p.id = c.pack_id JOIN extent e ON e.chunk_id = c.id "
            "JOIN version v ON v.id = e.version_id JOIN file f ON f.id = v.file_id WHERE f.path = ?",
            (b(src / "b.bin"),)).fetchone()
    flip(pack_file(repo, name), offset + 40)
    with Timekeep.open(repo) as tk:
        report = tk.check(read_data=True)
    assert [(item.snapshots, item.path) for item in report.lost] == [((sid,), b(src / "b.bin"))]
    assert any("noted as damaged" in note for note in report.notes)
    again = backup(repo)
    with Timekeep.open(repo) as tk:
        assert built(tk, b(src / "b.bin"), sid) == payload(1, 300_000)  # the old snapshot heals too
        assert built(tk, b(src / "b.bin"), again) == payload(1, 300_000)
        assert tk.check().lost == ()


def test_a_cut_pack_loses_only_what_was_past_the_cut(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    [pack] = list((repo / "packs").rglob("*.pack"))
    truncate(pack, pack.stat().st_size - 64)  # the footer and the end of the last frame
    drop_index(repo)
    report = rebuild_index(repo)
    assert report.snapshots == 1 and any(pack.stem in p for p in report.problems)
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src), sid, dest=b(tmp_path / "out"))
    restored = read_tree(tmp_path / "out" / "src")
    assert {e.path for e in result.errors} | {os.fsencode(src) + b"/" + p for p in restored} >= {b(src / "a.txt")}
    for rel, (_, data, _) in restored.items():  # whatever came back is exact
        if data:
            assert (src / os.fsdecode(rel)).read_bytes() == data


def test_a_lost_snapshot_makes_later_restores_say_what_may_be_older(tmp_path: Path, src: Path) -> None:
    """Index and one manifest both gone: the snapshot is recorded as lost; a file changed there and since is
    named, and a later restore that may show a file as it was before the lost snapshot exits non-zero."""
    repo = new_repo(tmp_path, src)
    backup(repo)
    append(src / "a.txt", b"changed in the snapshot that will be lost\n")
    lost = backup(repo)
    (src / "sub" / "c.txt").write_bytes(b"changed later\n")
    later = backup(repo)
    Layout(repo).manifest_path(lost).unlink()
    drop_index(repo)
    report = rebuild_index(repo)
    assert [item.snapshots for item in report.lost if item.path is None] == [(lost,)]
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [1, later] and tk.lost_snapshots() == [lost]
        assert tk.plan(b(src / "a.txt"), later).doubt is not None  # older here than it was
        assert tk.plan(b(src / "sub" / "c.txt"), later).doubt is None  # stored after the loss: exact
        result = tk.restore(b(src), later, dest=b(tmp_path / "out"))
    assert result.warnings and any(f"snapshot {lost}" in w for w in result.warnings)


# --- the repository and what it protects ----------------------------------------------------------------------


def test_a_folder_holding_the_repository_is_refused_however_it_is_spelled(tmp_path: Path) -> None:
    home = Path(os.path.realpath(tmp_path)) / "home"
    make_tree(home, {"doc.txt": b"x"})
    repo = home / "drive" / "Timekeep" / "repo"
    from timekeep.core.api import init_repository

    init_repository(repo)
    os.symlink(home, tmp_path / "alias")
    with Timekeep.open(repo, writer=True) as tk:
        for spelled in (home, tmp_path / "alias", home / "drive" / ".." / "drive"):
            with pytest.raises(UsageError, match="holds the backup repository"):
                tk.add_folder(b(spelled))
        with pytest.raises(UsageError, match="inside the backup repository"):
            tk.add_folder(b(tmp_path / "alias" / "drive" / "Timekeep" / "repo" / "packs"))


def test_a_backup_never_walks_into_its_repository_through_a_bind_mount(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    (src / "mnt").mkdir()
    mounted = subprocess.run(["mount", "--bind", str(repo.parent), str(src / "mnt")], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        with Timekeep.open(repo, writer=True) as tk:
            snap = tk.backup()
            skipped = [e for e in tk.snapshot_errors(snap.id) if e.kind == "skipped"]
            listed = {e.path for e in tk.list_dir(b(src / "mnt"), snap.id)}
    finally:
        subprocess.run(["umount", "-l", str(src / "mnt")], check=False)
    assert [e.path for e in skipped] == [b(src / "mnt" / "repo")] and listed == set()


def test_the_journal_is_never_written_into_a_copy_of_the_index(tmp_path: Path, src: Path) -> None:
    """On a full drive a reader reads a local copy of the index; journaling there would be lost with it."""
    from timekeep.core.index.journal import JournalEntry

    repo = new_repo(tmp_path, src)
    backup(repo)
    with Timekeep.open(repo) as tk:
        tk._repo.index_copy = tmp_path  # as a reader on a full drive has it
        view = tk.journal
        tk._repo.index_copy = None
        with pytest.raises(StorageError, match="full or read-only"):
            view.record([JournalEntry(b(src), b(src / "a.txt"), 1)], 1)
        with pytest.raises(StorageError):
            view.reconcile(tk.folders())
    with sqlite3.connect(index_file(repo)) as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone() == (0,)


# --- when a writer runs SQLite's integrity check -----------------------------------------------------------


def test_the_integrity_check_runs_when_the_index_is_not_as_this_computer_left_it(tmp_path: Path, src: Path) -> None:
    from timekeep.core.index import checked
    from timekeep.core.storage.layout import layout_of, load_config

    repo = new_repo(tmp_path, src)
    backup(repo)
    layout, rid = layout_of(repo, load_config(repo)), load_config(repo).repository_id
    assert not checked.due(layout, rid)  # a writer just checked it and closed it
    assert checked.due(layout, rid, now_ns=__import__("time").time_ns() + checked.DAY_NS + 1)  # a day later
    stamp = layout.index.stat()
    os.utime(layout.index, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))  # written by someone else
    assert checked.due(layout, rid)
    shutil.copyfile(layout.index, tmp_path / "copy.db")
    os.replace(tmp_path / "copy.db", layout.index)  # a copy put back: another inode
    assert checked.due(layout, rid)


def test_damage_no_stat_shows_is_met_midway_and_the_backup_rebuilds_and_goes_on(tmp_path: Path, src: Path) -> None:
    """A failing sector changes no size or time: the check is skipped, the backup meets the damaged pages,
    rebuilds the index from the drive under itself, says so, and takes its snapshot."""
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    index = index_file(repo)
    st = index.stat()
    with open(index, "r+b") as fh:  # every page after the schema's, its header garbled in place
        for page in range(1, st.st_size // 4096):
            fh.seek(page * 4096)
            fh.write(b"\x07" * 12)
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns))
    append(src / "a.txt", b"after the damage\n")
    with Timekeep.open(repo, writer=True) as tk:
        snap = tk.backup()
        assert tk.rebuilt and any("damaged" in note for note in tk.notes)
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [first, snap.id]
        assert built(tk, b(src / "a.txt"), snap.id) == (src / "a.txt").read_bytes()
        assert tk.check().ok
