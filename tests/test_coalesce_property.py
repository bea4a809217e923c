"""Thinning keeps its promise under random histories: after any run of the coalescer, every snapshot it
kept restores, lists and builds exactly as the disk was at that storage time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from tests.test_property import History, bounded, long_histories
from tests.treeops import assert_snapshot_matches
from timekeep.core.api import Timekeep


class ThinnedHistory(History):
    """The edit-and-backup machine of test_property, plus runs of the coalescer dropping any snapshots."""

    @precondition(lambda self: len(self.expected) >= 2)
    @rule(data=st.data())
    def coalesce(self, data: st.DataObject) -> None:
        older = sorted(self.expected)[:-1]
        drop = data.draw(st.sets(st.sampled_from(older), min_size=1), label="drop")
        with Timekeep.open(self.repo, writer=True) as tk:
            report = tk.coalesce(drop=drop)
            assert report.problems == ()
            assert set(report.snapshots_dropped) | set(report.snapshots_kept_for_last_copy) == drop
            for sid in report.snapshots_dropped:
                del self.expected[sid]
            assert [s.id for s in tk.snapshots()] == sorted(self.expected)
            newest = max(self.expected)
            assert_snapshot_matches(tk, self.folder, newest, self.expected[newest], self.work / "after-coalesce")

    def teardown(self) -> None:
        try:
            with Timekeep.open(self.repo) as tk:
                report = tk.check(read_data=True)
                assert report.ok, report.problems
        finally:
            super().teardown()


def test_every_kept_snapshot_comes_back_exactly_after_thinning(plain_and_encrypted: str, tmp_path: Path) -> None:
    run_state_machine_as_test(lambda: ThinnedHistory(tmp_path),
                              settings=bounded(plain_and_encrypted, stateful_step_count=30))


@pytest.mark.slow
def test_every_kept_snapshot_comes_back_exactly_after_thinning_long(tmp_path: Path) -> None:
    run_state_machine_as_test(lambda: ThinnedHistory(tmp_path),
                              settings=long_histories())
