"""The damage suites' shared ground: one small history (snapshots 1, 2, 4, 5: 3 was thinned after 4 was taken)
written with small packs, with what each snapshot held and where its bytes live; each piece of the drive
damaged on purpose, with what that costs; the `timekeep` command run in process; the drive's data files
hashed; and soft checks that list every broken promise instead of stopping at the first. After the last
snapshot the source changes once more, so the next backup stores something; nothing under test writes to it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import pytest

import timekeep.core.capture.backup as backup_mod
import timekeep.core.coalesce.reclaim as reclaim_mod
from tests import helpers
from tests.helpers import Tree, index_file, new_repo, read_tree
from tests.index_flips import LIVE_FLIPS, flip_index_row, flip_live
from tests.treeops import (
    FRAME,
    TRAILER,
    MtimeClock,
    append,
    chunk_intact,
    flip,
    footer_intact,
    overwrite,
    pack_file,
    payload,
    truncate,
)
from timekeep.core.api import Timekeep
from timekeep.core.cli.main import main
from timekeep.core.storage.pack import PackWriter

KiB = 1024
SMALL_PACK = 160 * KiB  # the fixture's packs (the engine's own are 32 MiB): a small history spans many
THINNED_IN_HISTORY = 3  # dropped by a thinning after snapshot 4 was taken: the ids have a hole
DROP = 4  # what the matrix's `coalesce` drops: a middle snapshot whose own chunks snapshot 5 replaces
DAMAGED_MANIFEST = 2  # a middle snapshot that later ones build on
STEADY = b"notes/n10.txt"  # a small file no snapshot changes: the damaged pack is the one holding it

Key = tuple[int, bytes]  # (snapshot id, path relative to the protected folder)


# --- the history -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkPlace:
    """Where a chunk's bytes are: its frame (offset, length) in a pack, and the chunk inside the frame."""

    pack: str
    offset: int
    length: int
    inner: int
    raw_length: int


@dataclass(frozen=True)
class Thinning:
    """What an undamaged `coalesce` does to the drive: the only deletions and rewrites it may make."""

    packs_deleted: frozenset[str]
    manifests_rewritten: frozenset[str]
    manifests_removed: frozenset[str]


@dataclass
class History:
    """A pristine repository and everything known about it from before any damage."""

    repo: Path
    src: Path
    trees: dict[int, Tree]  # every snapshot on the drive -> the protected folder's tree at it
    current: Tree  # the folder now: one more change that no snapshot holds yet
    uses: dict[Key, frozenset[bytes]]  # every stored file at every snapshot -> the chunk digests its bytes need
    chunks: dict[bytes, ChunkPlace]
    versions: dict[bytes, frozenset[int]]  # every path ever stored (b"" the folder itself) -> snapshots with a version
    old_index: Path  # index.db as it was right after snapshot 2 (put back later: a stale index)
    max_id: int  # the highest snapshot id ever used: a new snapshot must get a higher one
    thinning: dict[str, Thinning] = field(default_factory=dict)  # "drop" and "rule" -> an undamaged run
    index: Path | None = None  # an encrypted history's index, kept in the cache folder it was built with
    recovery: str = ""  # an encrypted history's recovery key

    @property
    def folder(self) -> bytes:
        return os.fsencode(self.src)

    def path(self, rel: bytes) -> str:
        return os.fsdecode(os.path.join(self.folder, rel)) if rel else os.fsdecode(self.folder)

    @property
    def encrypted(self) -> bool:
        return self.index is not None

    def copy(self, where: Path) -> Path:
        return copy_drive(self.repo, self.index, where)

    def packs_of(self) -> dict[str, set[Key]]:
        """Each pack -> the (snapshot, file) pairs whose bytes need one of its chunks."""
        users: dict[str, set[Key]] = {}
        for key, digests in self.uses.items():
            for digest in digests:
                users.setdefault(self.chunks[digest].pack, set()).add(key)
        return users

    def needing(self, digests: set[bytes]) -> set[Key]:
        return {key for key, used in self.uses.items() if used & digests}


def copy_drive(repo: Path, index: Path | None, where: Path) -> Path:
    """A copy of the drive; with `index` (an encrypted drive's, checkpointed), that index put in this computer's
    (the current XDG_CACHE_HOME's) cache folder, as if this computer had made the copy's history."""
    shutil.copytree(repo, where, symlinks=True)
    if index is not None:
        from timekeep.core import unlocking
        from timekeep.core.storage.layout import layout_of, load_config, make_index_home

        words = {"TIMEKEEP_PASSPHRASE": helpers.PASSPHRASE}  # unless this process still holds the key
        unlocking.unlock(where, unlocking.passphrase_source(environ=words, interactive=False))
        layout = layout_of(where.absolute(), load_config(where.absolute()))
        make_index_home(layout)
        for suffix in ("-wal", "-shm"):
            Path(f"{layout.index}{suffix}").unlink(missing_ok=True)
        # A new file, never the old one rewritten in place: SQLite shares one -shm mapping among a process's
        # connections to the same inode, and one this process has not closed yet (a restore's fetch thread's,
        # until garbage collection) would go on reading the deleted -shm of an earlier copy.
        aside = layout.index.with_name(f".{layout.index.name}.copying")
        shutil.copyfile(index, aside)
        os.replace(aside, layout.index)
    return where


class Editor:
    """Changes the source tree (every change gets a later mtime) and backs it up, recording each snapshot."""

    def __init__(self, src: Path, repo: Path) -> None:
        self.src, self.repo, self.clock = src, repo, MtimeClock()
        self.trees: dict[int, Tree] = {}

    def write(self, rel: str, data: bytes) -> None:
        path = self.src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.clock.bump(path)

    def edit(self, rel: str, change: Callable[[Path], None]) -> None:
        change(self.src / rel)
        self.clock.bump(self.src / rel)

    def remove(self, rel: str) -> None:
        (self.src / rel).unlink()
        self.clock.bump(self.src / rel.rpartition("/")[0])

    def rename(self, rel: str, new: str) -> None:
        (self.src / rel).rename(self.src / new)
        self.clock.bump(self.src / new.rpartition("/")[0])

    def snapshot(self) -> int:
        with Timekeep.open(self.repo, writer=True) as tk:
            sid = tk.backup().id
        self.trees[sid] = read_tree(self.src)
        return sid


def first_state(ed: Editor) -> None:
    """Two files of several chunks each, a few dozen small ones in two folders, a symlink."""
    ed.write("big-a.bin", payload(1, 700 * KiB))
    ed.write("big-b.bin", payload(2, 600 * KiB))
    for i in range(30):
        ed.write(f"notes/n{i:02d}.txt", payload(100 + i, 1000 + 250 * i, "text"))
    for n, name in enumerate(("keep", "old", "r1", "d3", "d4", "d5")):
        ed.write(f"docs/{name}.txt", payload(200 + n, 6000, "text"))
    os.symlink("notes/n00.txt", ed.src / "link")


def second_state(ed: Editor) -> None:
    """Content edits everywhere; creations, a deletion and a rename only under docs/ (only its version
    records them), so what depends on this snapshot is known file by file."""
    ed.edit("big-a.bin", lambda p: overwrite(p, 300 * KiB, payload(21, 64 * KiB)))
    ed.edit("notes/n03.txt", lambda p: append(p, b" appended at 2"))
    ed.edit("notes/n04.txt", lambda p: overwrite(p, 100, b"overwritten in the middle at 2"))
    ed.write("docs/new2.txt", payload(22, 9000, "text"))
    ed.remove("docs/old.txt")
    ed.rename("docs/r1.txt", "docs/r1-renamed.txt")
    ed.edit("docs/d3.txt", lambda p: append(p, payload(23, 3000, "text")))


def third_state(ed: Editor) -> None:
    """Thinned away later: its edits are overwritten by the fourth snapshot."""
    ed.edit("big-b.bin", lambda p: overwrite(p, 100 * KiB, payload(31, 300 * KiB)))
    ed.edit("notes/n05.txt", lambda p: append(p, b" appended at 3"))


def fourth_state(ed: Editor) -> None:
    ed.edit("big-b.bin", lambda p: overwrite(p, 100 * KiB, payload(41, 300 * KiB)))
    ed.edit("big-a.bin", lambda p: append(p, payload(42, 100 * KiB)))
    ed.edit("notes/n07.txt", lambda p: overwrite(p, 50, b"fourth"))
    ed.write("notes/new4.txt", payload(43, 5000, "text"))


def fifth_state(ed: Editor) -> None:
    """Replaces what the fourth stored in big-b, so dropping 4 really frees space."""
    ed.edit("big-b.bin", lambda p: overwrite(p, 100 * KiB, payload(51, 300 * KiB)))
    ed.edit("big-a.bin", lambda p: overwrite(p, 200 * KiB, payload(52, 64 * KiB)))
    ed.edit("notes/new4.txt", lambda p: append(p, b" and at 5"))
    ed.remove("notes/n09.txt")
    ed.rename("notes/n08.txt", "notes/n08-moved.txt")


def pending_state(ed: Editor) -> None:
    """Changed after the last snapshot: the next backup has something to store, some of it deltas."""
    ed.edit("big-a.bin", lambda p: append(p, payload(61, 50 * KiB)))
    ed.edit("notes/n01.txt", lambda p: append(p, b" pending"))
    ed.write("pending.txt", b"not backed up yet\n")


@contextlib.contextmanager
def small_packs() -> Iterator[None]:
    """Packs of SMALL_PACK bytes for the fixture's own backups and thinning (never for a command under test)."""
    small = functools.partial(PackWriter, target_size=SMALL_PACK)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backup_mod, "PackWriter", small)
        mp.setattr(reclaim_mod, "PackWriter", small)
        yield


def build_history(base: Path, mode: str = "drive") -> History:
    """The history, unencrypted with its index on the drive, or (`mode` "encrypted") encrypted, its index in
    a cache folder of the history's own under `base` (each copy puts it in the cache of the test using it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        mp.setattr(helpers, "INDEX_MODE", [mode])
        return _build_history(base, mode == "encrypted")


def _build_history(base: Path, encrypted: bool) -> History:
    src = Path(os.path.realpath(base)) / "src"
    src.mkdir(parents=True)
    recovery = ""
    if encrypted:  # new_repo's, keeping the recovery key
        from timekeep.core.api import init_repository
        from timekeep.core.crypto.kdf import TEST_PARAMS

        repo = base / "drive" / "Timekeep" / "repo"
        recovery = init_repository(repo, encryption="repokey", passphrase=helpers.PASSPHRASE,
                                   argon2=TEST_PARAMS) or ""
        with Timekeep.open(repo, writer=True) as tk:
            tk.add_folder(os.fsencode(src))
    ed = Editor(src, repo if encrypted else new_repo(base, src))
    index = index_file(ed.repo)
    old_index = base / "index-after-2.db"
    with small_packs():
        for state in (first_state, second_state):
            state(ed)
            ed.snapshot()
        sqlite_copy(index, old_index)
        for state in (third_state, fourth_state):
            state(ed)
            ed.snapshot()
        with Timekeep.open(ed.repo, writer=True) as tk:
            assert list(tk.coalesce(drop=[THINNED_IN_HISTORY]).snapshots_dropped) == [THINNED_IN_HISTORY]
        del ed.trees[THINNED_IN_HISTORY]
        fifth_state(ed)
        ed.snapshot()
    assert sorted(ed.trees) == [1, 2, 4, 5], sorted(ed.trees)
    pending_state(ed)
    checkpoint(index)
    history = History(ed.repo, src, ed.trees, read_tree(src), {}, {}, {}, old_index, max(ed.trees),
                      index=index if encrypted else None, recovery=recovery)
    learn_provenance(history)
    checkpoint(index)  # the copies take index.db alone
    for kind, drop in (("drop", [DROP]), ("rule", None)):
        with pytest.MonkeyPatch.context() as mp:  # a copy is another computer: its own cache folder
            mp.setenv("XDG_CACHE_HOME", str(base / f"reference-{kind}-cache"))
            history.thinning[kind] = reference_thinning(history, base / f"reference-{kind}", drop)
    return history


def sqlite_copy(index: Path, dest: Path) -> None:
    """A consistent copy of a live index (SQLite's backup API), as a person's old copy of the file would be."""
    with contextlib.closing(sqlite3.connect(index)) as src, contextlib.closing(sqlite3.connect(dest)) as out:
        src.backup(out)
    checkpoint(dest)


def checkpoint(index: Path) -> None:
    """Move everything from the write-ahead log into index.db itself, so damage to the file damages the data."""
    with contextlib.closing(sqlite3.connect(index)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)


def learn_provenance(h: History) -> None:
    """From the undamaged index: every chunk's place, the chunks each file needs at each snapshot, and the
    snapshots at which each path has a version."""
    with contextlib.closing(sqlite3.connect(index_file(h.repo))) as conn:
        rows = conn.execute("SELECT c.digest, p.name, c.offset, c.length, c.inner, c.raw_length "
                            "FROM chunk c JOIN pack p ON p.id = c.pack_id").fetchall()
    h.chunks.update({row[0]: ChunkPlace(*row[1:]) for row in rows})
    with Timekeep.open(h.repo) as tk:
        for sid, tree in h.trees.items():
            for rel, (kind, _, _) in tree.items():
                if kind == "file":
                    h.uses[(sid, rel)] = frozenset(p.digest for p in tk.plan(os.fsencode(h.path(rel)), sid).pieces)
        for rel in {b""} | {rel for tree in h.trees.values() for rel in tree}:
            h.versions[rel] = frozenset(v.snapshot_id for v in tk.versions(os.fsencode(h.path(rel))))


def reference_thinning(h: History, where: Path, drop: list[int] | None) -> Thinning:
    repo = h.copy(where)
    before = data_files(repo)
    with Timekeep.open(repo, writer=True) as tk:
        report = tk.coalesce(drop=drop)
    after = data_files(repo)
    gone = before.keys() - after.keys()
    if drop is not None:  # the matrix's thinning must fold and give packs back, or it would prove little
        assert list(report.snapshots_dropped) == drop and report.versions_folded >= 1, report
        assert any(name.startswith("packs/") for name in gone), report
    return Thinning(frozenset(n for n in gone if n.startswith("packs/")),
                    frozenset(n for n in before.keys() & after.keys() if before[n] != after[n]),
                    frozenset(n for n in gone if n.startswith("snapshots/")))


# --- the drive ---------------------------------------------------------------------------------------------


def data_files(repo: Path) -> dict[str, str]:
    """Every sealed pack and manifest on the drive (relative name -> SHA-256): the files that hold data."""
    return {str(path.relative_to(repo)): sha256(path)
            for pattern in ("packs/*/*.pack", "snapshots/*.manifest") for path in repo.glob(pattern)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_id(name: str) -> int | None:
    """The snapshot a manifest's file name belongs to: `<id>.manifest`, or `<id>-<generation>.manifest` once
    a thinning wrote it again (FORMAT.md, "Manifests")."""
    stem = Path(name).stem.split("-")[0]
    return int(stem) if name.startswith("snapshots/") and stem.isdigit() else None


def index_snapshot_ids(repo: Path) -> set[int] | None:
    """The complete snapshots index.db knows, read with SQLite directly; None when it cannot be read."""
    if not index_file(repo).exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{index_file(repo)}?mode=ro", uri=True)) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM snapshot WHERE state = 'complete'")}
    except sqlite3.DatabaseError:
        return None


def drive_broken(before: dict[str, str], after: dict[str, str], allowed: Thinning | None, max_id: int,
                 repair: frozenset[int] = frozenset()) -> list[str]:
    """What a command did to the drive's data files that it must never do: overwrite one, delete one (but what an
    undamaged thinning rewrites or deletes, when `allowed`), or give a new manifest an id at or below `max_id`
    (but ids in `repair`: a missing manifest written again for its own snapshot)."""
    rewritten = allowed.manifests_rewritten if allowed else frozenset()
    deletable = (allowed.packs_deleted | allowed.manifests_removed) if allowed else frozenset()
    ever = max([max_id, *(manifest_id(n) or 0 for n in before)])
    changed = sorted(n for n in before.keys() & after.keys() if before[n] != after[n] and n not in rewritten)
    deleted = sorted(n for n in before.keys() - after.keys() if n not in deletable)
    had = {manifest_id(n) for n in before} - {None}
    reused = sorted(i for n in after.keys() - before.keys()
                    if (i := manifest_id(n)) and i <= ever and i not in repair and not _next_generation(n, i, had))
    return ([f"overwrote {changed[:4]}"] if changed else []) + \
        ([f"deleted {len(deleted)} data files: {deleted[:4]}"] if deleted else []) + \
        ([f"gave a new snapshot an id already used: {reused}"] if reused else [])


def _next_generation(name: str, sid: int, had: set[int | None]) -> bool:
    """A manifest written again for a snapshot the drive held (`<id>-<gen>.manifest`, gen > 0): the same
    snapshot, not a new one under a used id."""
    stem = Path(name).stem
    return sid in had and "-" in stem and int(stem.split("-")[1]) > 0


# --- the command, in process ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One `timekeep` command: its exit code, what it wrote, and the traceback of an exception that escaped."""

    args: tuple[str, ...]
    code: int | None
    out: bytes
    err: bytes
    crash: str | None = None

    @property
    def err_text(self) -> str:
        return self.err.decode(errors="replace")

    @property
    def text(self) -> str:
        return self.out.decode(errors="replace") + self.err_text

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        """The command as a person typed it (paths cut to their last part), its exit code and what it said."""
        shown = " ".join(os.path.basename(a) if a.startswith("/") else a for a in self.args)
        if self.crash is not None:
            return f"`timekeep {shown}` raised {self.crash.strip().splitlines()[-1]}:\n{self.crash}"
        said = " | ".join(line[:300] for line in self.err_text.splitlines()[:3])
        return f"`timekeep {shown}` (exit {self.code}{'; ' + said if said else ''})"


def timekeep(repo: Path, *args: str) -> Run:
    """`timekeep ARGS --repo REPO` through timekeep.core.cli.main.main, stdout and stderr captured as bytes. An
    exception escaping main() is a traceback a person would have seen."""
    out, err = (io.TextIOWrapper(io.BytesIO(), "utf-8", "surrogateescape", write_through=True) for _ in "oe")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    code, crash = None, None
    try:
        code = main([*args, "--repo", str(repo)])
    except BaseException:  # everything that escapes, SystemExit included, is a crash of the command
        crash = traceback.format_exc()
    finally:
        sys.stdout, sys.stderr = saved
    return Run(tuple(args), code, out.buffer.getvalue(), err.buffer.getvalue(), crash)  # type: ignore[attr-defined]


# --- soft checks ------------------------------------------------------------------------------------------


def progress_line(line: str) -> bool:
    """With --json, progress goes to stderr as JSON lines (README)."""
    try:
        return "phase" in json.loads(line)
    except (ValueError, TypeError):
        return False


class Findings:
    """Every broken promise of one cell, so its failure lists them all (the lead reads the whole symptom)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def expect(self, ok: object, message: str | Callable[[], str]) -> bool:
        if not ok:
            self.found.append(message() if callable(message) else message)
        return bool(ok)

    def clean_run(self, run: Run) -> bool:
        """No traceback, and every line on stderr is a `timekeep: ` message."""
        if not self.expect(run.crash is None, lambda: str(run)):
            return False
        stray = [line for line in run.err_text.splitlines() if line and not line.startswith("timekeep: ")
                 and not ("--json" in run.args and progress_line(line))]
        return self.expect(not stray, lambda: f"`timekeep {' '.join(run.args)}`: stray stderr lines {stray[:3]}")

    def verdict(self) -> None:
        """Fail with every finding, one per line."""
        assert not self.found, "\n".join(f"- {line}" for line in self.found)


# --- damage -------------------------------------------------------------------------------------------------


@dataclass
class Damage:
    """One piece of the drive damaged, and what that costs by the ground truth: the (snapshot, file) pairs
    that certainly cannot come back and those that may not, while the index stays and once it is rebuilt
    from the drive (which then no longer knows what only the damaged piece said)."""

    name: str
    artifact: str  # "index", "pack", "manifest", "config" or "folders"
    path: Path  # the damaged file on the drive
    names: tuple[str, ...]  # a message naming the damage mentions one of these
    target: Key  # what `cat` and `restore FILE` ask for
    listed: Key  # the folder `ls` lists
    certain: set[Key] = field(default_factory=set)  # lost for sure (with the index as it was)
    possible: set[Key] = field(default_factory=set)  # may not come back while the index stays
    possible_rebuilt: set[Key] = field(default_factory=set)  # ...once the index is rebuilt from the drive
    manifest: int | None = None  # the snapshot whose manifest is damaged
    footer_lost: bool = False  # the pack's footer cannot be read (rebuild-index cannot learn its chunks)
    digest: str | None = field(init=False, default=None)  # the damaged file's SHA-256 (None: it is gone)

    def __post_init__(self) -> None:
        self.digest = sha256(self.path) if self.path.exists() else None

    def named(self, text: str) -> bool:
        if self.manifest is not None:
            m = self.manifest
            return re.search(rf"\b0*{m}\.manifest\b|\bsnapshot {m}\b|\bmanifest 0*{m}\b", text) is not None
        return any(name in text for name in self.names)

    def at_risk(self, rebuilt: bool) -> set[Key]:
        return self.possible_rebuilt if rebuilt else self.possible

    def persists(self) -> bool:
        """Is the damaged piece still as the damage left it (so `check` must still name it)?"""
        if self.artifact in ("index", "config"):
            return False  # the recovery rebuilt the index, or the person put config.json back
        if self.artifact == "folders":
            try:
                return not isinstance(json.loads(self.path.read_bytes()), list)
            except OSError:
                return True
            except ValueError:  # garbled, or sealed (encrypted): damaged still unless written again since
                return sha256(self.path) == self.digest
        if self.artifact == "manifest" and self.rewritten():
            return False
        now = sha256(self.path) if self.path.exists() else None
        return now == self.digest

    def rewritten(self) -> bool:
        """A later generation of the damaged manifest is on the drive (`<id>-<gen>.manifest`): a writer or
        rebuild-index wrote it again from an index that still knew the snapshot (FORMAT.md, "Manifests")."""
        if self.manifest is None:
            return False
        return any(p.name != self.path.name for p in self.path.parent.glob(f"{self.manifest:010d}-*.manifest"))


def remove_index(repo: Path, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    for suffix in suffixes:
        Path(f"{index_file(repo)}{suffix}").unlink(missing_ok=True)


def keep_index_locally(repo: Path) -> None:
    """Turn a copy of a repository into one that keeps its index on this computer: its config says so, and
    its index.db (with any -wal) moves into this computer's cache folder, where such an index lives."""
    from timekeep.core.storage.layout import layout_of, load_config, make_index_home

    config = json.loads((repo / "config.json").read_bytes())
    (repo / "config.json").write_text(json.dumps({**config, "index": "local"}))
    layout = layout_of(repo.absolute(), load_config(repo.absolute()))
    make_index_home(layout)
    for suffix in ("", "-wal"):
        if Path(f"{repo / 'index.db'}{suffix}").exists():
            shutil.move(f"{repo / 'index.db'}{suffix}", f"{layout.index}{suffix}")
    Path(f"{repo / 'index.db'}-shm").unlink(missing_ok=True)


DEFAULT_TARGET: Key = (5, b"big-a.bin")


def index_damage(h: History, repo: Path, name: str) -> Damage:
    index = index_file(repo)
    target, listed = DEFAULT_TARGET, (5, b"")
    if name == "index-missing":
        remove_index(repo)
    elif name == "index-empty":
        truncate(index, 0)
    elif name == "index-half":
        truncate(index, index.stat().st_size // 2)
    elif name == "index-stale":
        remove_index(repo)
        shutil.copyfile(h.old_index, index)
    elif name in LIVE_FLIPS:  # a flag that decides which names a folder's readers read at all
        rel, folder = LIVE_FLIPS[name]
        flip_live(index, os.fsencode(h.path(rel)))
        listed = (5, folder)
    else:  # one of index_flips.FLIPS, in a row of the file the cells ask for
        flip_index_row(index, name, os.fsencode(h.path(target[1])), target[0], h.uses[target])
    return Damage(name, "index", index, ("index",), target, listed)


# --- a pack ---------------------------------------------------------------------------------------------------

def damaged_pack(h: History) -> str:
    """The pack holding a small file that every snapshot has unchanged (so, with others, it is a pack of several
    files that every snapshot needs), unless an undamaged thinning would take it away: then the pack whose loss
    costs most files of the latest snapshot."""
    thinned = {Path(name).stem for name in h.thinning["drop"].packs_deleted}
    latest = max(h.trees)
    users = {p: {k for k in keys if k[0] == latest} for p, keys in h.packs_of().items() if p not in thinned}
    steady = [p for p, keys in users.items() if (latest, STEADY) in keys]
    return steady[0] if steady else max(sorted(users), key=lambda p: len(users[p]))


def middle_chunk_offset(h: History, repo: Path, pack: str) -> int:
    """A byte inside the chunk nearest the pack's middle among those the latest snapshot uses: in the chunk's
    own bytes where its frame is stored raw, else in the middle of its frame's compressed payload."""
    used = set().union(*(d for (sid, _), d in h.uses.items() if sid == max(h.trees)))
    size = pack_file(repo, pack).stat().st_size
    mine = sorted((c.offset, c.inner, d) for d, c in h.chunks.items() if c.pack == pack and d in used)
    c = h.chunks[min(mine, key=lambda m: abs(m[0] - size // 2))[2]]
    with open(pack_file(repo, pack), "rb") as fh:
        fh.seek(c.offset)
        _, compression, encryption, *_ = FRAME.unpack(fh.read(FRAME.size))
    raw = compression == 0 and encryption == 0  # a sealed frame is opened whole: any byte of it will do
    inside = c.inner + c.raw_length // 2 if raw else (c.length - FRAME.size) // 2
    return c.offset + FRAME.size + inside


def frame_unchanged(pristine: Path, damaged: Path) -> Callable[..., bool]:
    """For sealed frames, what chunk_intact tells for plain ones: a sealed frame opens whole or not at all
    (FORMAT.md, "Encryption"), so a chunk is intact exactly when every byte of its frame is as it was."""
    before = pristine.read_bytes()

    def intact(_pack: Path, _digest: bytes, offset: int, length: int, _inner: int, _raw: int) -> bool:
        try:
            now = damaged.read_bytes()
        except OSError:
            return False
        return now[offset : offset + length] == before[offset : offset + length] and len(now) >= offset + length

    return intact


def pack_damage(h: History, repo: Path, name: str) -> Damage:
    pack = damaged_pack(h)
    path = pack_file(repo, pack)
    size = path.stat().st_size
    if name == "pack-missing":
        path.unlink()
    elif name == "pack-truncated":
        truncate(path, size // 2)
    elif name == "pack-flipped":
        flip(path, middle_chunk_offset(h, repo, pack), 0x5A)
    else:
        offset, length, _, _ = TRAILER.unpack_from(path.read_bytes(), size - TRAILER.size)
        flip(path, offset + length // 2, 0x5A)
    mine = {d for d, c in h.chunks.items() if c.pack == pack}
    intact = frame_unchanged(pack_file(h.repo, pack), path) if h.encrypted else chunk_intact
    lost = h.needing({d for d in mine if not intact(path, d, *astuple(h.chunks[d])[1:])})
    every = h.needing(mine)
    footer_lost = not path.exists() or not footer_intact(path)
    if footer_lost and h.encrypted:  # a sealed pack is read only through its footer (FORMAT.md, "Encryption")
        lost = every
    assert lost or name == "pack-flipped-footer", f"{name} should cost some file its bytes"
    latest = max(h.trees)  # the file to ask for: one the damage costs at the latest snapshot, if any
    target = min([k for k in lost if k[0] == latest] or [k for k in every if k[0] == latest])
    return Damage(name, "pack", path, (pack[:8],), target, (target[0], os.path.dirname(target[1])),
                  lost, lost, every if footer_lost else lost, footer_lost=footer_lost)


# --- a manifest, config.json, folders.json ---------------------------------------------------------------------


def depends_on(h: History, m: int) -> set[Key]:
    """Without snapshot m's manifest: every file of m, and every later (snapshot, file) whose state the drive
    alone can no longer vouch for: it or a folder above it has a version at m, or it has none after m (it may
    have changed or gone at m)."""
    keys: set[Key] = set()
    for sid, tree in h.trees.items():
        for rel, (kind, _, _) in tree.items():
            if kind == "dir" or sid < m:
                continue
            above = [b""] + [rel[: i] for i in range(len(rel)) if rel[i : i + 1] == b"/"]
            after = any(m < v <= sid for v in h.versions[rel])
            if sid == m or m in h.versions[rel] or not after or any(m in h.versions[a] for a in above):
                keys.add((sid, rel))
    return keys


def manifest_damage(h: History, repo: Path, name: str) -> Damage:
    m = DAMAGED_MANIFEST
    path = repo / "snapshots" / f"{m:010d}.manifest"
    size = path.stat().st_size
    if name == "manifest-missing":
        path.unlink()
    elif name == "manifest-truncated":
        truncate(path, size // 2)
    else:
        flip(path, size // 2)
    return Damage(name, "manifest", path, (), DEFAULT_TARGET, (5, b"docs"), possible_rebuilt=depends_on(h, m),
                  manifest=m)
