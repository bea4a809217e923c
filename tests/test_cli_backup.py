"""`timekeep backup` tells a script and a person how it went: exit 3 when files could not be read, special
files skipped without being called errors, a full drive said plainly (exit 4), counts in good English."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import timekeep.core.capture.read as read_mod
from tests.test_cli import ROOT, Cli, one_error_line
from tests.test_cli import cli as cli
from tests.treeops import deny, fault_at_open, small_tmpfs
from timekeep.core.cli import exits
from timekeep.core.cli.commands import check_lines
from timekeep.core.cli.progress import render_bar
from timekeep.core.types import CheckReport, Progress


def _protect(cli: Cli, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (cli.docs / name).write_bytes(data)
    cli.ok("init", str(cli.repo), "--encryption", "none")
    cli.ok("add", str(cli.docs))


def test_a_backup_that_could_not_read_a_file_exits_3_and_names_it(cli: Cli, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    _protect(cli, {"open.txt": b"anyone", "secret.txt": b"locked"})
    monkeypatch.setattr(read_mod, "open_file", fault_at_open({os.fsencode(cli.docs / "secret.txt")}, deny))
    run = cli("backup")
    assert run.code == exits.INCOMPLETE == 3, run.err
    assert "1 file could not be backed up:" in run.out
    assert f"{cli.docs / 'secret.txt'}: Permission denied (unreadable)" in run.out
    quiet = cli("backup", "--quiet")
    assert quiet.code == 3 and quiet.out.startswith("Snapshot 2 is incomplete: 1 file could not be backed up:")
    assert "scanned" not in quiet.out and quiet.err == ""
    as_json = cli("backup", "--json")
    report = json.loads(as_json.out)
    assert as_json.code == 3 and report["errors"] == 1 and report["skipped_list"] == []
    assert [(e["path"], e["kind"]) for e in report["error_list"]] == [(str(cli.docs / "secret.txt"), "unreadable")]
    monkeypatch.undo()
    assert cli("backup").code == 0  # readable again: complete


@pytest.fixture
def special_files(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A protected folder holding a FIFO and a socket beside a plain file."""
    os.mkfifo(cli.docs / "pipe")
    monkeypatch.chdir(cli.docs)  # a relative name keeps the socket's address short
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")
        _protect(cli, {"plain.txt": b"plain"})
        yield cli


def test_fifos_and_sockets_are_skipped_not_counted_as_errors(special_files: Cli) -> None:
    cli = special_files
    first = cli("backup")
    assert first.code == 0
    assert "No errors." in first.out and "could not be backed up" not in first.out
    assert "Skipped 2 special files (socket, FIFO or device; `timekeep errors 1` lists them)." in first.out
    (cli.docs / "plain.txt").write_bytes(b"plainer")
    assert cli("backup", "--quiet") == type(first)(0, "", "")  # nothing but real errors, and there are none
    (cli.docs / "plain.txt").write_bytes(b"plainest")
    report = cli.json("backup")
    assert report["errors"] == 0 and report["error_list"] == []
    assert sorted(e["path"] for e in report["skipped_list"]) == [str(cli.docs / "pipe"), str(cli.docs / "sock")]
    assert [s["errors"] for s in cli.json("snapshots")] == [0, 0, 0]
    assert re.search(r"\s0$", cli.ok("snapshots").out.splitlines()[1])  # the ERRORS column
    listed = cli.ok("errors").out.splitlines()
    assert listed[0].endswith("recorded no errors.")
    assert listed[1] == "It skipped 2 special files (sockets, FIFOs and devices are never backed up):"
    assert listed[2:] == [f"  {cli.docs / 'pipe'}", f"  {cli.docs / 'sock'}"]
    assert {e["kind"] for e in cli.json("errors")} == {"skipped"}


@pytest.fixture
def small_drive(cli: Cli) -> Iterator[Path]:
    """A 6 MiB tmpfs holding the repository (cli.repo is under cli.tmp/drive)."""
    drive = cli.tmp / "drive"
    with small_tmpfs(drive, "6m"):
        yield drive


def test_a_first_backup_on_a_full_drive_says_so_and_exits_4(cli: Cli, small_drive: Path) -> None:
    _protect(cli, {"film.bin": os.urandom(7_000_000)})
    run = cli("backup")
    assert run.code == exits.DRIVE == 4 and run.out == ""
    line = one_error_line(run.err)
    assert line.startswith("timekeep: the backup drive is full: this first backup needed more than the ")
    assert re.search(r"the \d+(\.\d)? [kM]B that was free of \d+(\.\d)? MB\. Free some space on the drive", line), line
    assert "within the last" not in line and "snapshot" not in line
    assert cli.json("snapshots") == []


def test_readme_lists_every_exit_code() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    paragraph = text[text.index("Exit codes:"):]
    paragraph = paragraph[: paragraph.index(" ## ")]
    codes = {exits.DONE, exits.FAILED, exits.USAGE, exits.INCOMPLETE, exits.DRIVE, exits.CANCELLED}
    assert {int(n) for n in re.findall(r"\b(\d+) [a-z]", paragraph)} == codes


def test_counts_read_as_english() -> None:
    bar = render_bar(Progress("store", 0, 1, 10, 100, 1.0), 80)
    assert "0/1 file " in bar and "files" not in bar
    assert "3/4 files" in render_bar(Progress("store", 3, 4, 10, 100, 1.0), 80)
    assert check_lines(CheckReport(1, 1, 1, 1), True)[0] == (
        "Checked 1 pack, 1 chunk and 1 snapshot, re-read 1 chunk: no problems found.")
    lines = check_lines(CheckReport(2, 5, 3, 0, problems=("bad",)), False)
    assert lines[0] == "Checked 2 packs, 5 chunks and 3 snapshots: 1 problem found:"
