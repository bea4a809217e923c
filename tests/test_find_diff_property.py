"""find and diff against the model of history: the state machine of tests/test_property.py (random creates,
edits, renames, deletes, mode changes, folders and links between backups), whose model is the tree read at
each snapshot. At its end, every name's spans of snapshots and deletion, and what changed between each two
neighbouring snapshots, the first and the last, and the last and the live folders, must agree with it; so
must the first N of an answer (`find_first`) and everything deleted below the folder (`gone_beneath`)."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.stateful import run_state_machine_as_test

from tests import helpers
from tests.helpers import Tree
from tests.test_property import History, bounded
from timekeep.core.api import Timekeep
from timekeep.core.name_pattern import parse
from timekeep.core.types import Change

PATTERNS = ("a", "B", "c.txt", "*.TXT", "?", "[st]", "x")
MAYBE = "attributes?"  # the same content and permissions: only a modification time may have moved
# against the live folders a file's content is judged by size and modification time, not read
LIVE: dict[str | None, set[str | None]] = {"attributes": {"attributes", "changed"},
                                           MAYBE: {None, "attributes", "changed"}}


def model_found(expected: dict[int, Tree], pattern: str) -> dict[bytes, tuple[tuple[tuple[int, int], ...],
                                                                              int | None, str]]:
    """rel -> (spans, the snapshot that found it deleted, its kind as last seen) for each name matching."""
    wanted, ids = parse(pattern), sorted(expected)
    found = {}
    for rel in {rel for tree in expected.values() for rel in tree}:
        if not wanted.matches(os.path.basename(rel)):
            continue
        held = [sid for sid in ids if rel in expected[sid]]
        gone = None if held[-1] == ids[-1] else ids[ids.index(held[-1]) + 1]
        found[rel] = (runs(held, ids), gone, expected[held[-1]][rel][0])
    return found


def runs(held: list[int], ids: list[int]) -> tuple[tuple[int, int], ...]:
    """Neighbouring snapshots as (first, last) ranges."""
    found: list[tuple[int, int]] = []
    for sid in held:
        if found and ids.index(sid) == ids.index(found[-1][1]) + 1:
            found[-1] = (found[-1][0], sid)
        else:
            found.append((sid, sid))
    return tuple(found)


def model_changes(before: Tree, after: Tree) -> dict[bytes, str]:
    changes = {}
    for rel in before.keys() | after.keys():
        a, b = before.get(rel), after.get(rel)
        if a is None or b is None:
            changes[rel] = "added" if a is None else "deleted"
        elif a[0] != b[0] or a[1] != b[1]:
            changes[rel] = "changed"
        elif a[2] != b[2]:
            changes[rel] = "attributes"
        elif a[0] == "file":
            changes[rel] = MAYBE
    return changes


def expanded(changes: tuple[Change, ...], folder: bytes, before: Tree, after: Tree) -> dict[bytes, str]:
    """The engine's changes by relative path, a rename as the deletion and addition it pairs (checked to be
    the same content)."""
    found = {}
    for change in changes:
        rel = change.path[len(folder) + 1 :]
        if change.change == "renamed":
            assert change.origin is not None
            old = change.origin[len(folder) + 1 :]
            assert before[old][:2] == after[rel][:2], (old, rel)
            found[old] = "deleted"
            found[rel] = "added"
        else:
            found[rel] = change.change
    return found


def assert_agrees(got: dict[bytes, str], want: dict[bytes, str]) -> None:
    for rel in got.keys() | want.keys():
        if want.get(rel) == MAYBE:
            assert got.get(rel) in (None, "attributes"), rel
        else:
            assert got.get(rel) == want.get(rel), rel


class FindHistory(History):
    def teardown(self) -> None:
        try:
            self._backup()
            with Timekeep.open(self.repo) as tk:
                self._check_find(tk)
                self._check_first_and_gone(tk)
                self._check_diffs(tk)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def _check_find(self, tk: Timekeep) -> None:
        for pattern in PATTERNS:
            got = {f.path[len(self.folder) + 1 :]: (f.spans, f.deleted_snapshot, f.kind)
                   for f in tk.find(pattern, inside=self.folder) if f.path != self.folder}
            assert got == model_found(self.expected, pattern), pattern

    def _check_first_and_gone(self, tk: Timekeep) -> None:
        """The first N of an answer and the count of the rest are `find`'s; everything gone below the folder
        is what the model last held before the end, newest deletion first."""
        for pattern, deleted, limit in itertools.product(("a", "*"), (False, True), (1, 3)):
            whole = tk.find(pattern, deleted=deleted, inside=self.folder)
            page = tk.find_first(pattern, limit, deleted=deleted, inside=self.folder)
            assert (list(page.found), page.more) == (whole[:limit], max(0, len(whole) - limit)), pattern
        want = sorted(((gone, rel) for rel, (_, gone, _) in model_found(self.expected, "*").items()
                       if gone is not None), key=lambda item: (-item[0], item[1]))
        got = [(g.deleted_snapshot, g.entry.path[len(self.folder) + 1 :]) for g in tk.gone_beneath(self.folder)]
        assert got == want

    def _check_diffs(self, tk: Timekeep) -> None:
        ids = sorted(self.expected)
        pairs = [*itertools.pairwise(ids), (ids[0], ids[-1])]
        for before, after in pairs:
            a, b = self.expected[before], self.expected[after]
            got = expanded(tk.diff(before, after).changes, self.folder, a, b)
            assert_agrees(got, model_changes(a, b))
        assert tk.diff(ids[-1], None).changes == ()  # the folders are as the last snapshot left them
        first, last = self.expected[ids[0]], self.expected[ids[-1]]
        live = expanded(tk.diff(ids[0], None).changes, self.folder, first, last)
        want = model_changes(first, last)
        for rel in live.keys() | want.keys():
            assert live.get(rel) in LIVE.get(want.get(rel), {want.get(rel)}), rel


@pytest.fixture(params=["drive", "local", "encrypted"])
def index_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    helpers.INDEX_MODE[0] = str(request.param)
    try:
        yield str(request.param)
    finally:
        helpers.INDEX_MODE[0] = "drive"


def test_find_and_diff_agree_with_the_model_of_history(index_mode: str, tmp_path: Path) -> None:
    run_state_machine_as_test(lambda: FindHistory(tmp_path),
                              settings=bounded("encrypted" if index_mode != "drive" else "drive",
                                               stateful_step_count=25))
