"""Backups round-trip through byte-exact restores: baseline, changed locations, dedup, metadata, history."""

from __future__ import annotations

import io
import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.errors import NotInSnapshot, TimeBeforeFirstSnapshot, UsageError


def cat(repo: Path, path: Path, sid: int) -> bytes:
    with Timekeep.open(repo) as tk:
        out = io.BytesIO()
        tk.write_version(tk.plan(os.fsencode(path), sid), out)
        return out.getvalue()


def snapshot(repo: Path, sid: int):  # type: ignore[no-untyped-def]
    with Timekeep.open(repo) as tk:
        return next(s for s in tk.snapshots() if s.id == sid)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    rnd = random.Random(3)
    make_tree(tmp_path / "src", {
        "notes.txt": b"line of text\n" * 2000,
        "photo.raw": rnd.randbytes(1_200_000),
        "empty": b"",
        "docs": {"a.md": b"# A\n", "deep": {"b.md": b"# B\n" * 100}},
        "link": "-> notes.txt",
        "dangling": "-> /nowhere/at/all",
    })
    return tmp_path / "src"


@pytest.mark.usefixtures("plain_and_encrypted")
def test_every_version_restores_byte_exact(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    history = []
    for step in range(6):
        history.append((backup(repo), read_tree(src)))
        with open(src / "photo.raw", "r+b") as fh:
            fh.seek(100_000 * step)
            fh.write(os.urandom(5000))
        (src / "notes.txt").write_bytes((src / "notes.txt").read_bytes()[: 1000 * step] + b"inserted" * step)
        (src / "docs" / f"new{step}.md").write_bytes(b"n" * step)
    for sid, tree in history:
        dest = tmp_path / f"restore{sid}"
        with Timekeep.open(repo) as tk:
            result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
        assert not result.errors
        assert read_tree(dest / "src") == tree


def test_second_backup_reads_nothing_when_nothing_changed(tmp_path: Path, src: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 100_000_000)  # files older than this are trusted by their stat
    time.sleep(0.15)  # real time: the files' ctimes (the kernel's clock) must fall outside the racy window
    repo = new_repo(tmp_path, src)
    first = snapshot(repo, backup(repo))
    assert first.files_read == 5 and first.bytes_new > 0
    second = snapshot(repo, backup(repo))
    assert (second.files_read, second.files_changed, second.bytes_new) == (0, 0, 0)
    assert second.files_scanned == first.files_scanned


@pytest.mark.usefixtures("plain_and_encrypted")
def test_small_edit_stores_only_its_changed_location(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(8 << 20)
    make_tree(tmp_path / "src", {"big.bin": data})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    edited = data[:4_000_000] + b"E" * 100 + data[4_000_100:]
    (tmp_path / "src" / "big.bin").write_bytes(edited)
    overwrite = snapshot(repo, backup(repo))
    assert overwrite.bytes_new < 600_000
    inserted = edited[:6_000_000] + b"I" * 100 + edited[6_000_000:]
    (tmp_path / "src" / "big.bin").write_bytes(inserted)
    insert = snapshot(repo, backup(repo))
    assert insert.bytes_new < 600_000
    assert cat(repo, tmp_path / "src" / "big.bin", overwrite.id) == edited
    assert cat(repo, tmp_path / "src" / "big.bin", insert.id) == inserted
    assert cat(repo, tmp_path / "src" / "big.bin", 1) == data


@pytest.mark.usefixtures("plain_and_encrypted")
def test_duplicates_and_renames_dedup(tmp_path: Path) -> None:
    blob = random.Random(9).randbytes(2_000_000)
    make_tree(tmp_path / "src", {"one.bin": blob, "two.bin": blob})
    repo = new_repo(tmp_path, tmp_path / "src")
    first = snapshot(repo, backup(repo))
    assert first.bytes_new < 2_100_000
    os.rename(tmp_path / "src" / "one.bin", tmp_path / "src" / "renamed.bin")
    renamed = snapshot(repo, backup(repo))
    assert renamed.bytes_new == 0 and renamed.files_changed == 2  # the deletion and the creation
    with Timekeep.open(repo) as tk:
        states = [v.state for v in tk.versions(os.fsencode(tmp_path / "src" / "one.bin"))]
        names = [os.path.basename(e.path) for e in tk.list_dir(os.fsencode(tmp_path / "src"), renamed.id)]
    assert states == ["created", "deleted"]
    assert names == [b"renamed.bin", b"two.bin"]
    assert cat(repo, tmp_path / "src" / "renamed.bin", renamed.id) == blob


def test_mode_and_mtime_changes_are_versions(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    os.chmod(src / "notes.txt", 0o600)
    os.utime(src / "empty", ns=(1_000_000_000, 1_000_000_000))
    sid = backup(repo)
    with Timekeep.open(repo) as tk:
        notes = tk.versions(os.fsencode(src / "notes.txt"))
        empty = tk.versions(os.fsencode(src / "empty"))
        changed = {os.path.basename(e.path) for e in tk.list_dir(os.fsencode(src), sid) if e.changed}
    assert [v.state for v in notes] == ["created", "metadata"] and notes[-1].mode & 0o777 == 0o600
    assert empty[-1].state == "metadata" and empty[-1].mtime_ns == 1_000_000_000
    assert changed == {b"notes.txt", b"empty"}
    assert snapshot(repo, sid).bytes_new == 0


def test_links_are_recorded_not_followed(tmp_path: Path, src: Path) -> None:
    os.symlink("/", src / "root-link")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with Timekeep.open(repo) as tk:
        entries = {os.path.basename(e.path): e for e in tk.list_dir(os.fsencode(src), sid)}
    assert entries[b"root-link"].kind == "symlink" and entries[b"root-link"].link_target == b"/"
    assert entries[b"dangling"].link_target == b"/nowhere/at/all"
    assert snapshot(repo, sid).files_scanned == 8


def test_deleted_folder_leaves_history_and_listing(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    for path in sorted((src / "docs").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (src / "docs").rmdir()
    second = backup(repo)
    with Timekeep.open(repo) as tk:
        assert b"docs" not in {os.path.basename(e.path) for e in tk.list_dir(os.fsencode(src), second)}
        assert [os.path.basename(e.path) for e in tk.list_dir(os.fsencode(src / "docs"), first)] == [b"a.md", b"deep"]
        with pytest.raises(NotInSnapshot):
            tk.list_dir(os.fsencode(src / "docs" / "deep"), second)
    assert cat(repo, src / "docs" / "deep" / "b.md", first) == b"# B\n" * 100


def test_long_edit_chains_stay_exact(tmp_path: Path) -> None:
    rnd = random.Random(11)
    data = bytearray(rnd.randbytes(600_000))
    make_tree(tmp_path / "src", {"f": bytes(data)})
    repo = new_repo(tmp_path, tmp_path / "src")
    kept = []
    for _ in range(40):  # past the chain bound, so a full version is stored on the way
        at = rnd.randrange(len(data))
        data[at : at + 10] = rnd.randbytes(10)
        (tmp_path / "src" / "f").write_bytes(bytes(data))
        kept.append((backup(repo), bytes(data)))
    for sid, content in kept:
        assert cat(repo, tmp_path / "src" / "f", sid) == content


def test_in_place_restore_never_overwrites_a_differing_file(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    (src / "notes.txt").write_bytes(b"edited since\n")
    (src / "docs" / "later.md").write_bytes(b"made after the snapshot")
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid)
        when = snapshot(repo, sid).time_ns
    assert (src / "notes.txt").read_bytes() == b"edited since\n"
    [(original, beside)] = result.kept_beside
    assert original == os.fsencode(src / "notes.txt")
    stamp = datetime.fromtimestamp(when / 1e9).strftime("%Y-%m-%d %H%M")
    assert beside == os.fsencode(src / f"notes (restored {stamp}).txt")
    assert Path(os.fsdecode(beside)).read_bytes() == b"line of text\n" * 2000
    assert (src / "docs" / "later.md").exists()
    assert result.unchanged >= 4


def test_overwrite_replaces_the_differing_file(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    (src / "notes.txt").write_bytes(b"edited since\n")
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src / "notes.txt"), sid, overwrite=True)
    assert result.written == (os.fsencode(src / "notes.txt"),)
    assert (src / "notes.txt").read_bytes() == b"line of text\n" * 2000


def test_restore_to_recreates_the_last_component(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    before = read_tree(src)
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src), sid, dest=os.fsencode(tmp_path / "x"))
        tk.restore(os.fsencode(src / "docs" / "deep" / "b.md"), sid, dest=os.fsencode(tmp_path / "y"))
    assert read_tree(tmp_path / "x" / "src") == before
    assert (tmp_path / "y" / "b.md").read_bytes() == b"# B\n" * 100
    stored = os.lstat(src / "notes.txt")
    restored = os.lstat(tmp_path / "x" / "src" / "notes.txt")
    assert (restored.st_mode, restored.st_mtime_ns) == (stored.st_mode, stored.st_mtime_ns)


def test_times_resolve_to_snapshots(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    first, second = backup(repo), backup(repo)
    with Timekeep.open(repo) as tk:
        assert tk.resolve_time("latest").id == second
        assert tk.resolve_time(str(first)).id == first
        assert tk.resolve_time("2999-01-01").id == second
        last = tk.snapshots()[-1]
        assert tk.resolve_time(datetime.fromtimestamp(last.time_ns / 1e9, UTC).isoformat()).id == second
        with pytest.raises(TimeBeforeFirstSnapshot, match="before the first snapshot"):
            tk.resolve_time("2001-01-01")
        with pytest.raises(TimeBeforeFirstSnapshot):
            tk.resolve_time("1 hour ago")
        with pytest.raises(UsageError):
            tk.resolve_time("99")


def test_excludes_skip_caches_and_patterns(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"keep.txt": b"k", ".cache": {"big": b"c"}, "x.tmp": b"t",
                                 "build": {"out.o": b"o"}, "sub": {"build": {"keep.c": b"c"}}})
    repo = tmp_path / "repo"
    from timekeep.core.api import init_repository
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(tmp_path / "src"), excludes=("build/*",))
        sid = tk.backup().id
        result = tk.restore(os.fsencode(tmp_path / "src"), sid, dest=os.fsencode(tmp_path / "out"))
    assert not result.errors
    assert set(read_tree(tmp_path / "out" / "src")) == {b"keep.txt", b"build", b"sub", b"sub/build",
                                                       b"sub/build/keep.c"}


def test_folder_rules(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        with pytest.raises(UsageError, match="already protected"):
            tk.add_folder(os.fsencode(src))
        with pytest.raises(UsageError, match="overlaps"):
            tk.add_folder(os.fsencode(src / "docs"))
        with pytest.raises(UsageError, match="repository"):
            tk.add_folder(os.fsencode(tmp_path / "drive"))
        sid = tk.backup().id
        tk.remove_folder(os.fsencode(src))
        assert tk.folders() == []
        with pytest.raises(UsageError, match="no folder"):
            tk.backup()
    assert cat(repo, src / "notes.txt", sid) == b"line of text\n" * 2000


def test_check_and_rebuild_index(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    trees = []
    for n in range(3):
        (src / f"file{n}").write_bytes(os.urandom(10_000 * (n + 1)))
        trees.append((backup(repo), read_tree(src)))
    with Timekeep.open(repo) as tk:
        report = tk.check(read_data=True)
        before = tk.snapshots()
    assert report.ok and report.snapshots == 3 and report.chunks_read == report.chunks > 0
    (repo / "index.db").unlink()
    for extra in ("index.db-wal", "index.db-shm"):
        (repo / extra).unlink(missing_ok=True)
    from timekeep.core.api import rebuild_index
    rebuild_index(repo)
    with Timekeep.open(repo) as tk:
        assert tk.snapshots() == before
        assert [f.path for f in tk.folders()] == [os.fsencode(src)]
        for sid, tree in trees:
            tk.restore(os.fsencode(src), sid, dest=os.fsencode(tmp_path / f"r{sid}"))
            assert read_tree(tmp_path / f"r{sid}" / "src") == tree
        assert tk.check(read_data=True).ok


@pytest.mark.usefixtures("plain_and_encrypted")
def test_file_larger_than_several_read_blocks_round_trips(tmp_path: Path) -> None:
    """Chunk views share a reused read buffer; every chunk must be stored before the buffer moves on."""
    rnd = random.Random(21)
    data = b"".join(rnd.randbytes(3 << 20) + b"\0" * (2 << 20) + b"text " * 300_000 for _ in range(4))
    make_tree(tmp_path / "src", {"image.bin": data})
    repo = new_repo(tmp_path, tmp_path / "src")
    sid = backup(repo)
    assert len(data) > 3 * (8 << 20)
    assert cat(repo, tmp_path / "src" / "image.bin", sid) == data
    with Timekeep.open(repo) as tk:
        assert tk.check(read_data=True).ok


def test_a_file_changed_in_the_same_timestamp_tick_is_read_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """On a coarse clock an edit right after a backup can leave size, mtime and ctime as they were; a file
    touched that close to a storage time is read again next time (racy-clean, as in git)."""
    import timekeep.core.capture.observe as observe
    import timekeep.core.capture.read as read

    coarse = lambda obs, prev: (obs.size, obs.mtime_ns, obs.inode) == (prev.size, prev.mtime_ns, prev.inode)  # noqa: E731
    monkeypatch.setattr(observe, "same_stat", coarse)  # emulate a filesystem whose ctime hides the edit
    monkeypatch.setattr(read, "RACY_NS", 5_000_000_000)  # and whose clock ticks slowly
    make_tree(tmp_path / "src", {"doc.txt": b"version one"})
    path = tmp_path / "src" / "doc.txt"
    repo = new_repo(tmp_path, tmp_path / "src")
    first = backup(repo)
    stamp = os.stat(path).st_mtime_ns
    path.write_bytes(b"version two")  # same size, and the clock has not moved on:
    os.utime(path, ns=(stamp, stamp))
    second = snapshot(repo, backup(repo))
    assert second.files_read == 1
    assert cat(repo, path, first) == b"version one" and cat(repo, path, second.id) == b"version two"


def test_racy_mark_clears_once_a_reread_finds_nothing_new(tmp_path: Path) -> None:
    from timekeep.core.capture.backup import Backup, FolderSpec
    from timekeep.core.capture.read import RACY_NS
    from timekeep.core.folders import folders

    make_tree(tmp_path / "src", {"doc.txt": b"stable"})
    repo = new_repo(tmp_path, tmp_path / "src")
    st = os.stat(tmp_path / "src" / "doc.txt")
    touched = max(st.st_mtime_ns, st.st_ctime_ns)

    def backup_reading_at(moment: int) -> tuple[int, int]:
        """A backup whose reads begin at `moment` (the injected clock), as (files read, files changed)."""
        with Timekeep.open(repo, writer=True) as tk:
            inner = tk._repo
            specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
            done = Backup(inner.db, inner.layout, inner.config, specs, clock=lambda: moment).run()
        return done.files_read, done.files_changed

    assert backup_reading_at(touched) == (1, 1)  # read in the tick it was written: racy
    later = touched + 2 * RACY_NS  # the file's times have left the racy window
    assert backup_reading_at(later) == (1, 0)  # read again, nothing new: the mark clears
    assert backup_reading_at(later) == (0, 0)


def test_journaled_paths_alone_are_scanned_and_agree_with_a_full_scan(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "notes.txt").write_bytes(b"edited")
    (src / "docs" / "deep" / "b.md").unlink()
    make_tree(src / "fresh", {"one.txt": b"1", "inner": {"two.txt": b"2"}})
    os.rename(src / "docs", src / "papers")
    (src / "empty").write_bytes(b"changed but not journaled")
    dirty = {os.fsencode(src): {os.fsencode(p) for p in (src / "notes.txt", src / "docs", src / "papers",
                                                         src / "fresh" / "inner" / "two.txt")}}
    with Timekeep.open(repo, writer=True) as tk:
        partial = tk.backup(dirty=dirty)
        tk.restore(os.fsencode(src), partial.id, dest=os.fsencode(tmp_path / "partial"))
        full = tk.backup()
        tk.restore(os.fsencode(src), full.id, dest=os.fsencode(tmp_path / "full"))
    expected = read_tree(src)
    got = read_tree(tmp_path / "partial" / "src")
    assert got[b"empty"][1] == b""  # not journaled, so not looked at
    assert {k: v for k, v in got.items() if k != b"empty"} == {k: v for k, v in expected.items() if k != b"empty"}
    assert read_tree(tmp_path / "full" / "src") == expected
    assert partial.files_scanned < full.files_scanned


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of a big pytest process would
# report the parent's peak.
MEMORY_PROBE = """
import sys
from timekeep.core.api import Timekeep
with Timekeep.open(sys.argv[1], writer=True) as tk:
    snap = tk.backup()
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(snap.bytes_read, peak_kib // 1024)
"""


@pytest.mark.slow
def test_memory_stays_flat_for_a_big_file(tmp_path: Path) -> None:
    """A 2 GiB file (sparse, so quick to read) is backed up in well under 128 MiB of memory."""
    import subprocess
    import sys

    (tmp_path / "src").mkdir()
    with open(tmp_path / "src" / "huge.img", "wb") as fh:
        fh.truncate(2 << 30)
        fh.seek(1 << 30)
        fh.write(os.urandom(8 << 20))
    repo = new_repo(tmp_path, tmp_path / "src")
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(repo)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent).stdout.split()
    bytes_read, peak_mib = int(out[0]), int(out[1])
    assert bytes_read == (2 << 30) and peak_mib < 128


def test_listing_tells_new_changed_and_metadata_apart_and_excludes_can_change(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "notes.txt").write_bytes(b"new words")
    os.chmod(src / "empty", 0o600)
    (src / "added.txt").write_bytes(b"hello")
    sid = backup(repo)
    with Timekeep.open(repo, writer=True) as tk:
        states = {e.name: e.state for e in tk.list_dir(os.fsencode(src), sid) if e.changed}
        assert states == {b"notes.txt": "modified", b"empty": "metadata", b"added.txt": "created"}
        folder = tk.set_excludes(os.fsencode(src), ("*.txt",), default_excludes=False)
        assert folder.excludes == ("*.txt",)
        later = tk.backup()
        names = {e.name for e in tk.list_dir(os.fsencode(src), later.id)}
    assert b"notes.txt" not in names and b"added.txt" not in names and b"photo.raw" in names


def test_overlapping_journaled_paths_record_each_change_once(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "notes.txt").write_bytes(b"edited once")
    for path in sorted((src / "docs").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (src / "docs").rmdir()
    dirty = {os.fsencode(src): {os.fsencode(p) for p in (src, src / "notes.txt", src / "docs", src / "docs" / "a.md")}}
    with Timekeep.open(repo, writer=True) as tk:
        snap = tk.backup(dirty=dirty)
        states = [v.state for v in tk.versions(os.fsencode(src / "notes.txt"))]
        gone = [v.state for v in tk.versions(os.fsencode(src / "docs" / "a.md"))]
    assert states == ["created", "modified"] and gone == ["created", "deleted"]  # once each, not twice
    assert snap.files_changed == 3  # notes.txt, docs/a.md, docs/deep/b.md (folders are not counted)


def test_rebuild_keeps_a_snapshot_whose_chunks_are_in_no_pack_and_names_what_is_lost(tmp_path: Path, src: Path
                                                                                      ) -> None:
    """A lost pack costs exactly what depended on it: the later snapshot stays, its other files restore, and
    the file whose pieces were in the pack is named, never restored wrong."""
    from timekeep.core.api import rebuild_index

    repo = new_repo(tmp_path, src)
    first = backup(repo)
    before = read_tree(src)
    packs_before = set((repo / "packs").rglob("*.pack"))
    (src / "later.bin").write_bytes(os.urandom(300_000))
    second = backup(repo)
    for pack in set((repo / "packs").rglob("*.pack")) - packs_before:
        pack.unlink()
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (repo / name).unlink(missing_ok=True)
    report = rebuild_index(repo)
    assert report.snapshots == 2
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [first, second]
        tk.restore(os.fsencode(src), first, dest=os.fsencode(tmp_path / "back"))
        result = tk.restore(os.fsencode(src), second, dest=os.fsencode(tmp_path / "later"))
        lost = tk.check().lost
    assert read_tree(tmp_path / "back" / "src") == before
    assert [e.path for e in result.errors] == [os.fsencode(src / "later.bin")]
    assert not (tmp_path / "later" / "src" / "later.bin").exists()
    assert read_tree(tmp_path / "later" / "src") == before
    assert [(item.snapshots, item.path) for item in lost] == [((second,), os.fsencode(src / "later.bin"))]


def test_compression_level_applies_to_what_is_stored_from_now_on(tmp_path: Path) -> None:
    words = [bytes(random.Random(n).choices(b"etaoinshrdlu", k=1 + n % 9)) for n in range(3000)]

    def prose(seed: int) -> bytes:  # compressible, but with no repeated chunks for dedup to find
        return b" ".join(random.Random(seed).choices(words, k=400_000))

    text = prose(1)
    make_tree(tmp_path / "src", {"a.log": text})
    repo = new_repo(tmp_path, tmp_path / "src")
    with Timekeep.open(repo, writer=True) as tk:
        tk.set_compression_level(1)
        fast = tk.backup()
        with pytest.raises(UsageError, match="out of range"):
            tk.set_compression_level(40)
        tk.set_compression_level(19)
        (tmp_path / "src" / "b.log").write_bytes(prose(2))
        small = tk.backup()
    assert json.loads((repo / "config.json").read_text())["compression_level"] == 19
    assert small.bytes_new < fast.bytes_new
    assert cat(repo, tmp_path / "src" / "a.log", fast.id) == text
