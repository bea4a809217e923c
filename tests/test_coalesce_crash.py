"""Killed thinning: `kill -9` a `timekeep coalesce` at each of its known phases, before random steps that
change the drive, and at random moments; and thin over a damaged pack.

After every kill the next writer (its recovery) must leave a whole repository: the dropped snapshots are
all there or all gone (the fold is one transaction), every snapshot still listed restores byte-exact,
`check --read-data` is clean, no temporary or stray pack is left, and a following `coalesce` finishes the
work: the history and the space it holds end as an uninterrupted run leaves them, and the drive alone
rebuilds it. A damaged pack the coalescer would rewrite is kept as it is and named, never copied. And
nothing is deleted on the strength of an index commit that a power cut could still undo.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee
import pytest

from tests import depth, helpers
from tests.damage_support import checkpoint, copy_drive
from tests.helpers import Tree, index_file, new_repo, read_tree
from tests.once import once_per_run
from tests.test_crash import python
from tests.treeops import MtimeClock, append, flip_byte, index_db, insert, overwrite, payload, restore_into
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.coalesce.reclaim import REWRITE_BELOW, _candidates, _chunks
from timekeep.core.coalesce.run import fold
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import manifest_ids
from timekeep.core.storage.pack import read_footer, stored_packs

MiB = 1 << 20
ASKED = [2, 3, 5, 6, 7]  # the middle of eight snapshots; 6 holds a file's only copy and stays
FRAME_HEADER = 12

# The child runs `timekeep coalesce --drop ...`. It counts the calls that change the drive (fsync, rename,
# unlink, index commit) and kills itself with SIGKILL before the one numbered `step:N`, or where a named
# phase begins or ends. It reports its step count and working time when it is not killed.
CHILD = r"""
import json, os, pathlib, signal, sys, time
import peewee
import timekeep.core.api, timekeep.core.cli.thin  # loaded before any hook is set: they bind some names at import
import timekeep.core.coalesce.manifests as manifests, timekeep.core.coalesce.reclaim as reclaim
import timekeep.core.coalesce.run as run, timekeep.core.storage.atomic as atomic
import timekeep.core.storage.local_backend as local_backend
from timekeep.core.cli.main import main

repo, phase, drop = sys.argv[1], sys.argv[2], sys.argv[3:]
kill_at = int(phase[5:]) if phase.startswith("step:") else 0
steps = 0

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def hook(owner, name, nth=1, after=False, only=lambda *args: True):
    real, calls = getattr(owner, name), [0]
    def hooked(*args, **kwargs):
        if not only(*args):
            return real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == nth and not after:
            die()
        result = real(*args, **kwargs)
        if calls[0] == nth:
            die()
        return result
    setattr(owner, name, hooked)

def count(owner, name):
    real = getattr(owner, name)
    def counted(*args, **kwargs):
        global steps
        steps += 1
        if steps == kill_at:
            die()
        return real(*args, **kwargs)
    setattr(owner, name, counted)

PHASES = {
    "marking": lambda: hook(atomic, "publish"),
    "marked": lambda: hook(manifests, "mark", after=True),
    "mid-fold": lambda: hook(run, "fold_snapshot", nth=2, after=True),
    "folded": lambda: hook(manifests, "finish"),
    "mid-manifest-rewrite": lambda: hook(local_backend, "publish_new", nth=2,
                                         only=lambda tmp, target: target.suffix == ".manifest"),
    "manifests-removed": lambda: hook(manifests, "unmark"),
    "packs-sealed": lambda: hook(reclaim, "_switch"),
    "index-switched": lambda: hook(reclaim, "_switch", after=True),
    "old-pack-deleted": lambda: hook(os, "unlink", after=True, only=lambda p, *a: os.fspath(p).endswith(".pack")),
}
for owner, name in ((os, "fsync"), (os, "replace"), (os, "unlink"), (peewee.Database, "commit")):
    count(owner, name)
PHASES.get(phase, lambda: None)()
print("go", flush=True)
started = time.monotonic()
code = main(["coalesce", "--repo", repo, "--json", "--quiet", "--drop", *drop])
print("CHILD " + json.dumps({"code": code, "steps": steps, "seconds": time.monotonic() - started}), flush=True)
"""


@dataclass(frozen=True)
class ChildRun:
    killed: bool
    code: int = 0  # the CLI's exit code, and below what it reported, when it was not killed
    report: dict[str, Any] = field(default_factory=dict)
    steps: int = 0  # the calls that changed the drive
    seconds: float = 0.0  # from "go" to the end


def run_child(repo: Path, phase: str, drop: list[int], delay: float | None = None) -> ChildRun:
    """Run the child to its end or its kill; with `delay`, SIGKILL it that long after it said "go"."""
    proc = python(CHILD, str(repo), phase, *map(str, drop))
    assert proc.stdout is not None
    go = proc.stdout.readline()
    if delay is not None and go == b"go\n":
        time.sleep(delay)  # a test of real time: the kill lands wherever the child's run is by then
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == -signal.SIGKILL:
        return ChildRun(True)
    assert go == b"go\n" and proc.returncode == 0, f"coalesce child failed ({proc.returncode}): {err.decode()}"
    text, _, tail = out.decode().rpartition("CHILD ")
    end = json.loads(tail)
    assert text.strip(), f"coalesce printed no report (exit {end['code']}): {err.decode()}"
    return ChildRun(False, end["code"], json.loads(text), end["steps"], end["seconds"])


# --- the history, built once -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thinned:
    """A pristine repository of eight snapshots and what an uninterrupted `coalesce --drop ASKED` makes of it."""

    repo: Path
    src: Path
    trees: dict[int, Tree]
    dropped: list[int]
    kept: list[int]
    steps: int
    seconds: float
    pack_bytes: int
    index: Path | None = None  # an encrypted history's index (each copy puts it in its computer's cache)

    def copy(self, where: Path) -> Path:
        return copy_drive(self.repo, self.index, where)


class Editor:
    """Edits the source tree with a forward-only mtime clock and backs it up, recording every snapshot."""

    def __init__(self, src: Path, repo: Path) -> None:
        self.src, self.repo, self.clock, self.rng = src, repo, MtimeClock(), random.Random(5)
        self.trees: dict[int, Tree] = {}

    def write(self, rel: str, data: bytes) -> None:
        path = self.src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.clock.bump(path)

    def change(self, edit: Callable[[Path, int, bytes], None], rel: str, offset: int, data: bytes) -> None:
        edit(self.src / rel, offset, data)
        self.clock.bump(self.src / rel)

    def snapshot(self) -> None:
        with Timekeep.open(self.repo, writer=True) as tk:
            self.trees[tk.backup().id] = read_tree(self.src)


def build_history(ed: Editor) -> None:
    """Edits inside big files (deltas whose folds merge), whole rewrites, deletions and new files, so that
    folding the middle snapshots kills one pack whole and leaves two mostly dead (rewritten)."""
    rnd = ed.rng.randbytes
    ed.write("a.bin", rnd(4 * MiB))
    ed.write("b.bin", rnd(2 * MiB))
    ed.write("c.txt", payload(3, 2 * MiB, "text"))
    for i in range(24):
        ed.write(f"d{i % 4}/s{i}.txt", payload(100 + i, ed.rng.randint(0, 40_000), "text"))
    ed.snapshot()  # 1
    ed.change(overwrite, "a.bin", MiB, rnd(MiB))  # all of snapshot 2 is replaced by 3: its pack dies whole
    ed.write("b.bin", rnd(2 * MiB))
    ed.write("d0/s0.txt", payload(7, 30_000, "text"))
    ed.snapshot()  # 2
    ed.change(overwrite, "a.bin", MiB - 100_000, rnd(MiB + 200_000))
    ed.write("b.bin", rnd(2 * MiB))
    ed.write("d0/s0.txt", payload(8, 30_000, "text"))
    ed.write("d1/n3.txt", rnd(30_000))
    (ed.src / "d2/s2.txt").unlink()
    ed.change(insert, "c.txt", 500_000, b"inserted text " * 50)
    ed.snapshot()  # 3
    ed.change(overwrite, "a.bin", 3 * MiB, rnd(300_000))
    ed.write("b.bin", rnd(2 * MiB))
    ed.write("d3/new4.txt", payload(44, 50_000, "text"))
    ed.snapshot()  # 4
    ed.write("b.bin", rnd(2 * MiB))
    ed.change(overwrite, "a.bin", 2 * MiB, rnd(600_000))
    ed.write("d1/s1.txt", payload(51, 20_000, "text"))
    ed.snapshot()  # 5
    ed.write("b.bin", rnd(2 * MiB))
    ed.change(overwrite, "a.bin", 2 * MiB + 100_000, rnd(600_000))  # snapshot 5's edit still shows at its start
    ed.write("brief.bin", rnd(300_000))  # lives in snapshot 6 alone
    ed.change(lambda path, _, data: append(path, data), "c.txt", 0, payload(9, 300_000, "text"))
    ed.snapshot()  # 6
    (ed.src / "brief.bin").unlink()
    ed.change(overwrite, "b.bin", 500_000, rnd(300_000))
    shutil.rmtree(ed.src / "d3")
    ed.write("d1/s1.txt", payload(71, 20_000, "text"))
    ed.snapshot()  # 7
    ed.write("d0/s0.txt", b"edited 8\n")
    ed.change(overwrite, "a.bin", MiB + 50_000, rnd(100_000))
    ed.snapshot()  # 8


@pytest.fixture(scope="module")
def thinned(tmp_path_factory: pytest.TempPathFactory) -> Thinned:
    """Built once per run (tests copy it before they kill anything), whichever workers its tests land on."""
    return once_per_run(tmp_path_factory, "coalesce-history", lambda base: make_thinned(base, "drive"))


@pytest.fixture(scope="module")
def encrypted_thinned(tmp_path_factory: pytest.TempPathFactory) -> Thinned:
    return once_per_run(tmp_path_factory, "coalesce-encrypted-history", lambda base: make_thinned(base, "encrypted"))


def make_thinned(base: Path, mode: str) -> Thinned:
    """The history in `mode` (new_repo's), in a cache folder of its own under `base` where that matters."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        mp.setattr(helpers, "INDEX_MODE", [mode])
        return _make_thinned(base, mode == "encrypted")


def _make_thinned(base: Path, encrypted: bool) -> Thinned:
    src = Path(os.path.realpath(base)) / "src"
    src.mkdir()
    ed = Editor(src, new_repo(base, src))
    build_history(ed)
    assert sorted(ed.trees) == list(range(1, 9))
    index = index_file(ed.repo) if encrypted else None
    if index is not None:
        checkpoint(index)
    runs = []
    for n in range(2):
        with pytest.MonkeyPatch.context() as mp:  # each copy another computer, with a cache of its own
            mp.setenv("XDG_CACHE_HOME", str(base / f"reference-{n}-cache"))
            runs.append(run_child(copy_drive(ed.repo, index, base / f"reference-{n}"), "none", ASKED))
    done, report = runs[1], runs[1].report  # the second: the first may pay for cold caches
    assert done.code == 0 and done.steps == runs[0].steps and report["problems"] == []
    # the history makes the coalescer do real work, or these tests would prove little
    assert report["snapshots_kept_for_last_copy"] == [6]
    assert report["packs_rewritten"] >= 2 and report["packs_deleted"] >= 1 and report["versions_folded"] >= 5
    dropped = list(report["snapshots_dropped"])
    kept = [sid for sid in ed.trees if sid not in dropped]
    seconds = min(run.seconds for run in runs)
    return Thinned(ed.repo, src, ed.trees, dropped, kept, done.steps, seconds, pack_bytes(base / "reference-1"),
                   index)


# --- what the drive holds ------------------------------------------------------------------------------------


def pack_bytes(repo: Path) -> int:
    return sum(stored_packs(Layout(repo).store).values())


def packs_indexed(repo: Path) -> set[str]:
    with index_db(repo) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM pack")}


def packs_on_drive(repo: Path) -> set[str]:
    return set(stored_packs(Layout(repo).store))


def temporaries(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in repo.rglob(".*.tmp"))


def listed(repo: Path) -> set[int]:
    with Timekeep.open(repo) as tk:
        return {s.id for s in tk.snapshots()}


def assert_restores(h: Thinned, repo: Path, scratch: Path) -> list[int]:
    """check --read-data is clean and every listed snapshot restores as it was recorded; the ids."""
    with Timekeep.open(repo) as tk:
        report = tk.check(read_data=True)
        assert report.problems == ()
        ids = [s.id for s in tk.snapshots()]
        for sid in ids:
            restored, result = restore_into(tk, os.fsencode(h.src), sid, scratch)
            assert result.errors == () and restored == h.trees[sid], f"snapshot {sid} does not restore as recorded"
    return ids


def assert_whole(h: Thinned, repo: Path, scratch: Path) -> None:
    """The repository a killed coalesce left, once the next writer opened it, and after the next coalesce."""
    every = set(h.trees)
    seen = listed(repo)  # a reader, before any recovery: the fold is whole or absent
    assert seen in (every, every - set(h.dropped)), f"half a fold is visible: {sorted(seen)}"
    Timekeep.open(repo, writer=True).close()  # recovery runs
    layout = Layout(repo)
    assert not layout.coalescing.exists() and temporaries(repo) == []
    assert packs_on_drive(repo) == packs_indexed(repo)  # leftovers were adopted, none is missing
    ids = assert_restores(h, repo, scratch)
    assert set(ids) == seen and manifest_ids(layout) == ids
    with Timekeep.open(repo, writer=True) as tk:  # the next run repeats what was left undone
        report = tk.coalesce(drop=[sid for sid in h.dropped if sid in ids])
        assert report.problems == ()
    assert_finished(h, repo, scratch)


def assert_finished(h: Thinned, repo: Path, scratch: Path) -> None:
    """The state an uninterrupted run leaves: same snapshots and space, manifests that rebuild the index."""
    assert manifest_ids(Layout(repo)) == h.kept and not Layout(repo).coalescing.exists()
    assert packs_on_drive(repo) == packs_indexed(repo)
    assert pack_bytes(repo) <= h.pack_bytes * 1.01, "space a killed run left behind was not given back"
    rebuild_index(repo)
    assert assert_restores(h, repo, scratch) == h.kept


# --- the tests -------------------------------------------------------------------------------------------------

# phase -> (the fold is visible, coalescing.json is on the drive, packs the index does not know are on it)
PHASES = {
    "marking": (False, False, False),
    "marked": (False, True, False),
    "mid-fold": (False, True, False),
    "folded": (True, True, False),
    "mid-manifest-rewrite": (True, True, False),
    "manifests-removed": (True, True, False),
    "packs-sealed": (True, False, True),
    "index-switched": (True, False, True),
    "old-pack-deleted": (True, False, True),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_coalesce_killed_at_a_known_phase(thinned: Thinned, tmp_path: Path, phase: str) -> None:
    killed_at_phase(thinned, tmp_path, phase)


@pytest.mark.parametrize("phase", list(PHASES))
def test_coalesce_killed_at_a_known_phase_encrypted(encrypted_thinned: Thinned, tmp_path: Path, phase: str) -> None:
    """The same, on an encrypted drive whose index this computer keeps (its thinning's manifests sealed anew)."""
    killed_at_phase(encrypted_thinned, tmp_path, phase)


def killed_at_phase(thinned: Thinned, tmp_path: Path, phase: str) -> None:
    repo = thinned.copy(tmp_path / "repo")
    before = packs_on_drive(repo)
    assert run_child(repo, phase, ASKED).killed, f"the coalescer never reached {phase}"
    folded, marked, strays = PHASES[phase]
    layout = Layout(repo)
    assert listed(repo) == (set(thinned.kept) if folded else set(thinned.trees))
    assert layout.coalescing.exists() == marked
    assert (packs_on_drive(repo) - packs_indexed(repo) != set()) == strays
    if phase == "marking":
        assert [p.name for p in repo.glob(".coalescing.json.*.tmp")], "the kill should leave an unpublished marker"
    if phase == "mid-manifest-rewrite":
        assert [p.name for p in layout.manifests.glob(".*.tmp")], "the kill should leave an unpublished manifest"
    if phase == "old-pack-deleted":
        assert before - packs_on_drive(repo), "one old pack should be gone already"
    assert_whole(thinned, repo, tmp_path / "restores")


def kill_at_steps(h: Thinned, tmp_path: Path, steps: list[int]) -> None:
    for step in steps:
        repo = h.copy(tmp_path / f"repo-{step}")
        assert run_child(repo, f"step:{step}", ASKED).killed, f"step {step} of {h.steps} was never reached"
        assert_whole(h, repo, tmp_path / f"restores-{step}")


@pytest.fixture
def either_thinned(plain_and_encrypted: str, request: pytest.FixtureRequest) -> Thinned:
    """The history unencrypted, or encrypted with its index on this computer (each built once per module)."""
    return request.getfixturevalue("encrypted_thinned" if plain_and_encrypted == "encrypted" else "thinned")


# kill points per run: fewer for the encrypted history, whose phases are all killed above already
RANDOM_STEPS = {"drive": 4, "encrypted": 2}
RANDOM_MOMENTS = {"drive": 3, "encrypted": 2}


def test_coalesce_killed_before_random_drive_changes(plain_and_encrypted: str, either_thinned: Thinned,
                                                     tmp_path: Path) -> None:
    rng = random.Random(20261129)
    steps = rng.sample(range(1, either_thinned.steps + 1), RANDOM_STEPS[plain_and_encrypted])
    kill_at_steps(either_thinned, tmp_path, sorted(steps))


def kill_after_delays(h: Thinned, tmp_path: Path, delays: list[float]) -> int:
    killed = 0
    for n, delay in enumerate(delays):
        repo = h.copy(tmp_path / f"repo-{n}")
        killed += run_child(repo, "none", ASKED, delay).killed
        assert_whole(h, repo, tmp_path / f"restores-{n}")
    return killed


def test_coalesce_killed_at_random_moments(plain_and_encrypted: str, either_thinned: Thinned,
                                           tmp_path: Path) -> None:
    rng = random.Random(7)
    delays = [rng.uniform(0, either_thinned.seconds) for _ in range(RANDOM_MOMENTS[plain_and_encrypted])]
    kill_after_delays(either_thinned, tmp_path, delays)


@pytest.mark.slow
def test_coalesce_killed_before_every_other_drive_change(thinned: Thinned, tmp_path: Path) -> None:
    """Before every odd change and the last (with TIMEKEEP_FULL_LOOPS=1; else a seeded sample of them, the first
    and last among them: the whole loop was the suite's longest test). The known phases and the random steps
    above kill between them too."""
    odd = sorted({*range(1, thinned.steps + 1, 2), thinned.steps})
    kill_at_steps(thinned, tmp_path, depth.sample(odd, 6, seed=5))


@pytest.mark.slow
def test_coalesce_killed_again_while_finishing(thinned: Thinned, tmp_path: Path) -> None:
    """The writer that would finish a killed run (its recovery, then its own coalesce) is killed too."""
    rng = random.Random(3)
    for n in range(depth.runs(8, 3)):
        repo = thinned.copy(tmp_path / f"repo-{n}")
        first, second = rng.randint(1, thinned.steps), rng.randint(1, thinned.steps)
        assert run_child(repo, f"step:{first}", ASKED).killed
        run_child(repo, f"step:{second}", [sid for sid in ASKED if sid in listed(repo)])
        assert_whole(thinned, repo, tmp_path / f"restores-{n}")


@pytest.mark.slow
def test_coalesce_killed_at_many_random_moments(thinned: Thinned, tmp_path: Path) -> None:
    rng = random.Random(11)
    count = depth.runs(16, 6)
    killed = kill_after_delays(thinned, tmp_path, [rng.uniform(0, thinned.seconds) for _ in range(count)])
    assert killed >= count // 2, f"only {killed} of {count} runs were killed mid-way"


# --- a damaged pack ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    pack: str
    digest: bytes
    users: set[tuple[int, bytes]]  # (snapshot, path) whose contents need the chunk


def damage_target(h: Thinned, scratch: Path, whole_frame: bool) -> Damage:
    """A live chunk, stored raw, of a pack the coalescer will rewrite: in a frame it copies as it is
    (`whole_frame`) or in one it must recompress because some of its chunks died."""
    repo = h.copy(scratch)
    with Timekeep.open(repo, writer=True) as tk:
        fold(tk._repo.db, tk._repo.layout, h.dropped)
        for candidate in _candidates(tk._repo.db, REWRITE_BELOW):
            frames: dict[tuple[int, int], list[tuple[bytes, int, int, int, int, int]]] = {}
            for row in _chunks(tk._repo.db, candidate.id):
                frames.setdefault((row[1], row[2]), []).append(row)
            for members in frames.values():
                live = [m for m in members if m[5]]
                if live and (len(live) == len(members)) == whole_frame:
                    users = {(sid, path) for sid in h.kept for path in files_using(tk, h, sid, live[0][0])}
                    if users and raw_frame(repo, candidate.name, live[0][1]):
                        return Damage(candidate.name, live[0][0], users)
    pytest.fail("the history has no such frame to damage")


def files_using(tk: Timekeep, h: Thinned, sid: int, digest: bytes) -> list[bytes]:
    paths = [os.fsencode(h.src / os.fsdecode(rel)) for rel, (kind, _, _) in h.trees[sid].items() if kind == "file"]
    return [p for p in paths if any(piece.digest == digest for piece in tk.plan(p, sid).pieces)]


def raw_frame(repo: Path, pack: str, offset: int) -> bool:
    with open(Layout(repo).pack_path(pack), "rb") as fh:
        fh.seek(offset + 1)
        return fh.read(1) == b"\x00"


def damage(repo: Path, target: Damage) -> None:
    with index_db(repo) as conn:
        offset, inner, length = conn.execute(
            "SELECT offset, inner, raw_length FROM chunk WHERE digest = ?", (target.digest,)).fetchone()
    flip_byte(repo, target.pack, offset + FRAME_HEADER + inner + length // 2)


@pytest.mark.parametrize("whole_frame", [True, False], ids=["copied-frame", "recompressed-frame"])
def test_a_damaged_pack_is_kept_and_named_never_copied(thinned: Thinned, tmp_path: Path, whole_frame: bool) -> None:
    target = damage_target(thinned, tmp_path / "scratch", whole_frame)
    repo = thinned.copy(tmp_path / "repo")
    damage(repo, target)
    for _ in range(2):  # a second run meets the same damage and still loses nothing
        done = run_child(repo, "none", [sid for sid in ASKED if sid in listed(repo)])
        assert done.code == 1 and listed(repo) == set(thinned.kept)
        problems = done.report["problems"]
        assert len(problems) == 1
        assert target.pack in problems[0] and "does not match its digest" in problems[0]
        assert target.pack in packs_on_drive(repo) and target.pack in packs_indexed(repo)
        store = Layout(repo).store
        holders = [name for name in stored_packs(store)
                   if target.digest in {e.digest for e in read_footer(store, name)}]
        assert holders == [target.pack], "the damaged chunk was copied into a new pack"
        assert_damage_contained(thinned, repo, target, tmp_path / "restores")


def assert_damage_contained(h: Thinned, repo: Path, target: Damage, scratch: Path) -> None:
    """check names the damaged pack alone; every file restores exactly but those that need the chunk,
    which fail loudly instead of coming back wrong."""
    with Timekeep.open(repo) as tk:
        report = tk.check(read_data=True)
        assert report.problems and all(target.pack in p for p in report.problems), report.problems
        for sid in h.kept:
            restored, result = restore_into(tk, os.fsencode(h.src), sid, scratch)
            failed = {e.path for e in result.errors}
            assert failed == {p for s, p in target.users if s == sid}
            want = {r: v for r, v in h.trees[sid].items() if os.fsencode(h.src / os.fsdecode(r)) not in failed}
            assert restored == want, f"snapshot {sid}: a file the damage does not touch restores wrong"


# --- power loss -------------------------------------------------------------------------------------------------


def test_thinning_deletes_only_after_a_commit_that_is_on_the_drive(thinned: Thinned, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The index runs WAL with synchronous=NORMAL, where a commit may roll back when the power fails or the
    drive is pulled out. A manifest or pack deleted because of such a commit would then be missing for good,
    so every deletion must follow a commit made with synchronous=FULL (2)."""
    repo = thinned.copy(tmp_path / "repo")
    events: list[tuple[str, object]] = []
    real_commit, real_unlink = peewee.Database.commit, os.unlink

    def commit(db: peewee.Database) -> object:
        events.append(("commit", db.execute_sql("PRAGMA synchronous").fetchone()[0]))
        return real_commit(db)

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        events.append(("unlink", os.fsdecode(path)))
        real_unlink(path, *args, **kwargs)

    with Timekeep.open(repo, writer=True) as tk:
        monkeypatch.setattr(peewee.Database, "commit", commit)
        monkeypatch.setattr(os, "unlink", unlink)
        tk.coalesce(drop=ASKED)
        monkeypatch.undo()
    synchronous, deleted = None, 0
    for kind, what in events:
        if kind == "commit":
            synchronous = what
        elif str(what).endswith((".pack", ".manifest")):
            assert synchronous == 2, f"{what} was deleted after a commit that may not be on the drive"
            deleted += 1
    assert deleted >= len(thinned.dropped) + 1  # the dropped snapshots' manifests and at least one pack
