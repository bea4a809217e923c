"""A folder with more subfolders than the inotify watch limit leaves room for is scanned instead of watched,
and `timekeep status` says so, with the limit and the way to raise it; the limit is read from an injected
file, so the test never touches the system-wide setting."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agent_support import InProcess, agent_config
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.agent.messages import Status
from timekeep.core.agent.service import Service
from timekeep.core.cli.agent_cmd import status_lines


def test_status_shows_a_folder_past_the_watch_limit_as_scanned(tmp_path: Path) -> None:
    big, small = tmp_path / "big", tmp_path / "small"
    make_tree(big, {f"d{i}": {f"e{j}": {"f.txt": b"x"} for j in range(3)} for i in range(4)})  # 17 folders
    make_tree(small, {"a.txt": b"a"})
    repo = new_repo(tmp_path, big)
    with_small = new_repo(tmp_path / "second", small)
    backup(repo)
    backup(with_small)
    limit = tmp_path / "max_user_watches"
    limit.write_text("12\n")  # our share is 9 watches: the small folder fits, the big one does not
    with InProcess(agent_config(repo, with_small), limit_file=limit) as run:
        status = json.loads(json.dumps(Service(run.agent).op_status()))  # as it travels
    folders = {f["path"]: f for f in status["folders"]}
    assert folders[str(small)]["watched"] is True
    assert folders[str(big)]["watched"] is False and folders[str(big)]["connected"] is True
    lines = status_lines(Status.from_wire(status))
    big_line = next(line for line in lines if str(big) in line)
    assert "scanned at each backup" in big_line
    assert "fs.inotify.max_user_watches = 12" in big_line and "sysctl fs.inotify.max_user_watches=" in big_line
    small_line = next(line for line in lines if str(small) in line and str(big) not in line)
    assert small_line.endswith("watched")
