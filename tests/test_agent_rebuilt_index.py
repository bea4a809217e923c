"""An index rebuilt under a running agent (`timekeep rebuild-index`, or a writer that found it damaged) starts
with an empty journal: the agent notices at its next drive poll, from the index file's own name, and a scan
journals again what the old index held, so the next storage time still stores it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.agent_support import InProcess, agent_config, journaled
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import rebuild_index


def test_what_a_rebuilt_index_forgot_is_journaled_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"stored", "other.txt": b"untouched"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    changed = os.fsencode(src / "notes.txt")
    with InProcess(agent_config(repo)) as run:
        dest = run.agent.destinations[str(repo)]
        run.until(lambda: dest.present, what="the drive to be seen")
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"changed, and journaled in the index about to go")
        # (other.txt may be journaled too: written within 50 ms of the first backup, it is racy and read again)
        assert changed in journaled(repo)
        with run.held():  # no poll while the index is replaced
            rebuild_index(repo)
            assert journaled(repo) == set()
        run.until(lambda: changed in journaled(repo), what="the forgotten change to be found by a scan")
