"""The agent runs the coalescer: a day after the last run (the first an hour after it
starts), after a storage time that keeps what changed, and on request over the socket protocol."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config
from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.treeops import assert_snapshot_matches, index_db
from timekeep.core.agent.service import Service
from timekeep.core.api import Timekeep
from timekeep.core.types import Retention

DAY_NS = 86400 * 10**9


def _old_history(tmp_path: Path) -> tuple[Path, Path, dict[int, dict[bytes, tuple[str, bytes, int]]]]:
    """Three snapshots, two of them on one day a week ago (the rule keeps only that day's last)."""
    src = tmp_path / "src"
    make_tree(src, {"plan.txt": b"v0\n"})
    repo = new_repo(tmp_path, src)
    trees = {}
    for n in range(3):
        (src / "plan.txt").write_bytes(b"v%d\n" % n * 500)
        trees[backup(repo)] = read_tree(src)
    with index_db(repo) as conn:
        conn.execute("UPDATE snapshot SET time_ns = time_ns - ? WHERE id IN (1, 2)", (7 * DAY_NS,))
        conn.execute("UPDATE snapshot SET time_ns = time_ns - 1000000000 WHERE id = 1")
    return repo, src, trees


def snapshot_ids(repo: Path) -> list[int]:
    with Timekeep.open(repo) as tk:
        return [s.id for s in tk.snapshots()]


def test_the_coalescer_runs_an_hour_after_start_then_daily(tmp_path: Path) -> None:
    repo, src, trees = _old_history(tmp_path)
    with InProcess(agent_config(repo)) as run:
        run.clock.advance(minutes=50)
        assert run.settled().at == run.clock.now  # the agent looked at its schedule 50 minutes on...
        assert snapshot_ids(repo) == [1, 2, 3]  # ...and did not thin yet: the first run waits an hour after start
        run.clock.advance(minutes=15)
        run.until(lambda: snapshot_ids(repo) == [2, 3], what="the first run of the coalescer")
        run.idle()
        with Timekeep.open(repo, writer=True) as tk:  # weekly snapshots for one week only
            tk.set_retention(Retention(keep_all_hours=1, daily_days=1, weekly_weeks=1))
        with index_db(repo) as conn:
            conn.execute("UPDATE snapshot SET time_ns = time_ns - ? WHERE id = 2", (30 * DAY_NS,))
        run.clock.advance(hours=23)
        assert run.settled().at == run.clock.now
        assert snapshot_ids(repo) == [2, 3]  # a day has not passed since the last run
        (src / "plan.txt").write_bytes(b"changed just before the run\n")
        run.sees(repo, {os.fsencode(src / "plan.txt")})
        trees[4] = read_tree(src)
        run.clock.advance(hours=2)
        run.until(lambda: snapshot_ids(repo) == [3, 4], what="a storage time, then the daily run")
        run.idle()
    with Timekeep.open(repo) as tk:
        for sid in (3, 4):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")


def test_thinning_on_request_through_the_protocol(tmp_path: Path) -> None:
    repo, src, trees = _old_history(tmp_path)
    with InProcess(agent_config(repo)) as run:
        service = Service(run.agent)
        jobs = service.op_coalesce_now()["jobs"]
        assert [j["kind"] for j in jobs] == ["coalesce"]
        run.until(lambda: snapshot_ids(repo) == [2, 3], what="the requested thinning")
        run.idle()
        assert run.agent.runner.current() is None
    with Timekeep.open(repo) as tk:
        for sid in (2, 3):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)
