"""A reader never writes, not even to upgrade: an index an older Timekeep left is read from an upgraded copy,
answers as it will once upgraded, and stays byte for byte as it was until a writer opens it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import backup, index_file, make_tree, new_repo
from tests.old_schema import downgrade
from timekeep.core.api import Timekeep
from timekeep.core.cli.main import main
from timekeep.core.index.schema import SCHEMA_VERSION

OLD = 5


def _schema(index: Path) -> int:
    with contextlib.closing(sqlite3.connect(index)) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(value)


def _digest(index: Path) -> str:
    return hashlib.sha256(index.read_bytes()).hexdigest()


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path]:
    """Two snapshots: a file changed, one deleted, one added in a subfolder."""
    src = Path(os.path.realpath(tmp_path)) / "Documents"
    make_tree(src, {"letter.txt": b"Dear", "plan.txt": b"first plan", "sub": {"notes.md": b"n"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "letter.txt").unlink()
    (src / "plan.txt").write_bytes(b"second plan")
    (src / "sub" / "budget.ods").write_bytes(b"numbers")
    backup(repo)
    return repo, src


def _answers(repo: Path, src: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[int, str]]:
    commands = (["ls", str(src), "--at", "1"], ["ls", str(src / "sub")], ["snapshots"],
                ["cat", str(src / "plan.txt"), "--at", "1"], ["cat", str(src / "letter.txt"), "--at", "1"],
                ["find", "*.txt", "--deleted"], ["find", "budget"])
    answers = []
    for args in commands:
        code = main([*args, "--repo", str(repo)])
        answers.append((code, capsys.readouterr().out))
    return answers


def test_readers_leave_an_older_index_byte_identical_and_answer_as_after_its_upgrade(
        history: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, src = history
    index = index_file(repo)
    expected = _answers(repo, src, capsys)
    assert all(code == 0 for code, _ in expected) and "first plan" in expected[3][1]
    downgrade(index, OLD)
    assert _schema(index) == OLD
    before = _digest(index)

    assert _answers(repo, src, capsys) == expected
    assert _digest(index) == before and _schema(index) == OLD
    assert not Path(f"{index}-wal").exists() or Path(f"{index}-wal").stat().st_size == 0

    with Timekeep.open(repo, writer=True):  # a writer upgrades it, in place
        pass
    assert _schema(index) == SCHEMA_VERSION
    assert _answers(repo, src, capsys) == expected


def test_a_reader_of_an_older_index_says_it_read_an_upgraded_copy(history: tuple[Path, Path]) -> None:
    repo, _ = history
    downgrade(index_file(repo), OLD)
    with Timekeep.open(repo) as tk:
        notes = tk.notes
    assert any(f"schema {OLD}, older" in note and "upgraded copy" in note for note in notes), notes
