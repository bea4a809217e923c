"""`timekeep find` and `timekeep diff` as a person and a script run them: a separate process on a real
repository, its lines, its JSON, and one line with a meaningful exit code for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import backup, child_env, new_repo

ROOT = Path(__file__).resolve().parent.parent


class Run:
    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "timekeep.core.cli.main", *args, "--repo", str(self.repo)]
        return subprocess.run(command, capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=120,
                              check=False)

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Run, Path]:
    src = Path(os.path.realpath(tmp_path)) / "Documents"
    src.mkdir()
    (src / "Budget 2026.ods").write_bytes(b"numbers" * 100)
    (src / "letter.txt").write_bytes(b"Dear")
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "letter.txt").unlink()
    (src / "Budget 2026.ods").write_bytes(b"other numbers" * 100)
    (src / "new budget.txt").write_bytes(b"plans")
    backup(repo)
    return Run(repo), src


def test_find_prints_a_line_per_path_with_its_snapshots(history: tuple[Run, Path]) -> None:
    run, src = history
    done = run("find", "budget")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("present") and "snapshots 1-2" in lines[0] and lines[0].endswith("Budget 2026.ods")
    assert "snapshots 2" in lines[1] and lines[1].endswith(f"{src}/new budget.txt")
    gone = run("find", "*.TXT", "--deleted").stdout.splitlines()
    assert len(gone) == 1 and gone[0].startswith("deleted") and " deleted " in gone[0] and "snapshots 1 " in gone[0]


def test_find_json_is_for_scripts(history: tuple[Run, Path]) -> None:
    run, src = history
    found = run.json("find", "letter")
    assert found == [{
        "path": f"{src}/letter.txt", "name": "letter.txt", "kind": "file", "size": 4, "mtime": found[0]["mtime"],
        "present": False, "snapshots": [[1, 1]], "last_seen": 1, "changed_snapshot": 1,
        "changed": found[0]["changed"], "deleted_snapshot": 2, "deleted": found[0]["deleted"]}]
    assert run.json("find", "budget", "--between", "1", "1") == [run.json("find", "budget")[0]]
    assert run.json("find", "nothing here") == []


def test_diff_prints_a_summary_first_then_each_change(history: tuple[Run, Path]) -> None:
    run, src = history
    done = run("diff", "1", "2")
    assert done.returncode == 0, done.stderr
    summary, *rows = done.stdout.splitlines()
    assert summary.startswith("Snapshot 1 (") and " to snapshot 2 (" in summary
    assert summary.endswith(": 1 added, 1 changed, 1 deleted (3 paths)")
    assert [row.split()[0] for row in rows] == ["changed", "deleted", "added"]
    assert rows[0].endswith(f"700 bytes -> 1.3 kB  {src}/Budget 2026.ods")
    (src / "letter.txt").write_bytes(b"Dear again")
    now = run.json("diff", "2", "now", str(src))
    assert now["after"] is None and now["summary"]["added"] == 1
    assert now["changes"] == [{"path": f"{src}/letter.txt", "change": "added", "kind": "file", "size_before": None,
                               "size_after": 10, "origin": None}]


@pytest.mark.parametrize(("args", "code", "words"), [
    (("find", ""), 2, "give a name"),
    (("find", "a/b"), 2, "names, not paths"),
    (("find", "zzz"), 1, "nothing in the history"),
    (("find", "x", "--between", "1", "someday"), 2, "cannot read the time"),
    (("diff", "now", "1"), 2, "now can only be the later moment"),
    (("diff", "1", "7"), 2, "no snapshot 7"),
    (("diff", "1"), 2, "the following arguments are required"),
])
def test_bad_input_is_one_line_and_an_exit_code(history: tuple[Run, Path], args: tuple[str, ...], code: int,
                                                words: str) -> None:
    done = history[0](*args)
    assert done.returncode == code and done.stdout == ""
    assert "Traceback" not in done.stderr and words in done.stderr
    if code != 2 or args != ("diff", "1"):
        assert len(done.stderr.strip().splitlines()) == 1
