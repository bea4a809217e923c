"""A hypothesis state machine over a real folder and a real repository.

Random creates, edits (overwrite in place, insert, append, truncate), renames, deletes, mode changes,
folders and links, interleaved with backups. At the end, every snapshot taken is got back three ways —
a whole-folder restore, a recursive listing, and plan + combine per file — and each must equal the tree
recorded at that snapshot, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.helpers import Tree, new_repo, read_tree
from tests.treeops import MtimeClock, append, assert_snapshot_matches, insert, kinds_under, overwrite, payload
from timekeep.core.api import Timekeep

NAMES = ("a", "b", "c.txt", "s", "t")  # one pool for files, folders and links, so kinds replace each other
MODES = (0o600, 0o644, 0o640, 0o755, 0o700, 0o400, 0o750)
LINK_TARGETS = ("a", "s", "../a", "s/a", ".", "..", "/nonexistent/x", "loop")
MAX_DEPTH = 2

sizes = st.one_of(st.just(0), st.integers(1, 200), st.integers(16 * 1024, 300 * 1024))
contents = st.builds(payload, seed=st.integers(0, 2**32), size=sizes,
                     style=st.sampled_from(["random", "random", "repeat", "text"]))
small_bytes = st.builds(payload, seed=st.integers(0, 2**32), size=st.integers(1, 70 * 1024))


class History(RuleBasedStateMachine):
    """The model is the disk itself: each backup records read_tree(src) as that snapshot's truth."""

    def __init__(self, base: Path) -> None:
        super().__init__()
        self.work = Path(tempfile.mkdtemp(prefix="history-", dir=base))
        self.src = self.work / "src"
        self.src.mkdir()
        self.folder = os.fsencode(os.path.realpath(self.src))
        self.repo = new_repo(self.work, self.src)
        self.clock = MtimeClock()
        self.expected: dict[int, Tree] = {}

    # --- what is on disk now ------------------------------------------------------------------------
    def _of_kind(self, *kinds: str) -> list[str]:
        return sorted(rel for rel, kind in kinds_under(self.src).items() if kind in kinds)

    def _dirs(self, max_depth: int = MAX_DEPTH) -> list[str]:
        return [""] + [d for d in self._of_kind("dir") if d.count("/") < max_depth - 1]

    def _pick(self, data: st.DataObject, *kinds: str) -> Path:
        return self.src / data.draw(st.sampled_from(self._of_kind(*kinds)))

    def _new_place(self, data: st.DataObject) -> Path:
        """A name in some folder; whatever non-folder sits there is removed first."""
        place = self.src / data.draw(st.sampled_from(self._dirs())) / data.draw(st.sampled_from(NAMES))
        if place.is_symlink() or place.is_file():
            place.unlink()
        return place

    def _has(self, *kinds: str) -> bool:
        return bool(self._of_kind(*kinds))

    # --- mutations ----------------------------------------------------------------------------------
    @initialize(files=st.lists(st.tuples(st.sampled_from(NAMES), contents), min_size=1, max_size=4))
    def seed_files(self, files: list[tuple[str, bytes]]) -> None:
        for name, content in files:
            (self.src / name).write_bytes(content)
            self.clock.bump(self.src / name)

    @rule(data=st.data(), content=contents)
    def create_file(self, data: st.DataObject, content: bytes) -> None:
        place = self._new_place(data)
        if not place.is_dir():
            place.write_bytes(content)
            self.clock.bump(place)

    @precondition(lambda self: self._has("file"))
    @rule(data=st.data(), chunk=small_bytes, where=st.floats(0, 1))
    def edit_in_place(self, data: st.DataObject, chunk: bytes, where: float) -> None:
        path = self._pick(data, "file")
        overwrite(path, int(where * path.stat().st_size), chunk)
        self.clock.bump(path)

    @precondition(lambda self: self._has("file"))
    @rule(data=st.data(), chunk=small_bytes, where=st.floats(0, 1))
    def insert_middle(self, data: st.DataObject, chunk: bytes, where: float) -> None:
        path = self._pick(data, "file")
        insert(path, int(where * path.stat().st_size), chunk[: 1 + len(chunk) // 8])
        self.clock.bump(path)

    @precondition(lambda self: self._has("file"))
    @rule(data=st.data(), chunk=small_bytes)
    def append_bytes(self, data: st.DataObject, chunk: bytes) -> None:
        path = self._pick(data, "file")
        append(path, chunk)
        self.clock.bump(path)

    @precondition(lambda self: self._has("file"))
    @rule(data=st.data(), fraction=st.floats(0, 1.1))
    def truncate(self, data: st.DataObject, fraction: float) -> None:
        path = self._pick(data, "file")
        os.truncate(path, int(fraction * path.stat().st_size))
        self.clock.bump(path)

    @precondition(lambda self: self._has("file", "symlink"))
    @rule(data=st.data())
    def rename(self, data: st.DataObject) -> None:
        old = self._pick(data, "file", "symlink")
        new = self._new_place(data)
        if (old.is_symlink() or old.exists()) and not new.is_dir():  # _new_place may have removed `old`
            os.rename(old, new)
            self.clock.bump(new)

    @precondition(lambda self: self._has("dir"))
    @rule(data=st.data())
    def rename_folder(self, data: st.DataObject) -> None:
        old = self._pick(data, "dir")
        new = self.src / data.draw(st.sampled_from(self._dirs(MAX_DEPTH - 1))) / data.draw(st.sampled_from(NAMES))
        if not new.exists() and not new.is_symlink() and not new.is_relative_to(old):
            os.rename(old, new)

    @precondition(lambda self: self._has("file", "symlink"))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        self._pick(data, "file", "symlink").unlink()

    @precondition(lambda self: self._has("file", "dir"))
    @rule(data=st.data(), mode=st.sampled_from(MODES))
    def chmod(self, data: st.DataObject, mode: int) -> None:
        path = self._pick(data, "file", "dir")
        path.chmod(mode | (0o700 if path.is_dir() else 0))
        self.clock.bump(path)

    @rule(data=st.data())
    def make_folder(self, data: st.DataObject) -> None:
        place = self._new_place(data)
        if not place.exists():
            place.mkdir()

    @precondition(lambda self: self._has("dir"))
    @rule(data=st.data())
    def remove_folder(self, data: st.DataObject) -> None:
        shutil.rmtree(self._pick(data, "dir"))

    @rule(data=st.data(), link_to=st.sampled_from(LINK_TARGETS))
    def make_link(self, data: st.DataObject, link_to: str) -> None:
        place = self._new_place(data)
        if not place.is_dir():
            os.symlink(link_to, place)

    @rule()
    def backup(self) -> None:
        self._backup()

    @rule()
    def backup_again(self) -> None:  # a second rule: backups as frequent as any two kinds of edit
        self._backup()

    def _backup(self) -> None:
        with Timekeep.open(self.repo, writer=True) as tk:
            info = tk.backup()
            assert info.errors == 0 and tk.snapshot_errors(info.id) == []
        assert info.id not in self.expected
        self.expected[info.id] = read_tree(self.src)

    # --- the promise --------------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            self._backup()  # the last state too, whatever the steps did
            with Timekeep.open(self.repo) as tk:
                assert [s.id for s in tk.snapshots()] == sorted(self.expected)
                for sid, tree in self.expected.items():
                    assert_snapshot_matches(tk, self.folder, sid, tree, self.work / "restores")
        finally:
            shutil.rmtree(self.work, ignore_errors=True)


def bounded(mode: str, **kw: int) -> settings:
    """The profile's examples unencrypted; half as many encrypted (the same engine under the seals), to keep
    the suite's time bounded."""
    examples = {"max_examples": max(1, settings().max_examples // 2)} if mode == "encrypted" else {}
    return settings(**examples, **kw)


def long_histories() -> settings:
    """Long histories (80 steps), two fifths of the profile's examples: 10 in CI, 40 with HYPOTHESIS_PROFILE=dev.
    Ten histories of 80 steps are 800 steps, more than the short test's 25 of 30, each reaching the depths (chains
    past a full version, thinning over many snapshots) only a long one does; CI draws new ones every run. At 25
    they were two of the suite's slowest minute-long tests."""
    return settings(max_examples=max(1, settings().max_examples * 2 // 5), stateful_step_count=80)


def test_every_snapshot_comes_back_exactly(plain_and_encrypted: str, tmp_path: Path) -> None:
    run_state_machine_as_test(lambda: History(tmp_path), settings=bounded(plain_and_encrypted, stateful_step_count=30))


@pytest.mark.slow
def test_every_snapshot_comes_back_exactly_long_histories(tmp_path: Path) -> None:
    run_state_machine_as_test(lambda: History(tmp_path),
                              settings=long_histories())
