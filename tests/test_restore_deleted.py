"""`timekeep restore`, `cat` and `ls` of something deleted since: its last version before the deletion, as
the window restores it, with the snapshots named; the rules of restore kept; a path never backed up is one
line and exit 2."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

from tests.test_cli import Cli, read_tree
from tests.test_cli import cli as cli
from tests.test_cli import two as two  # report.txt changed, old.txt deleted and new.txt created in snapshot 2
from timekeep.core.cli.output import local_time


def _when(cli: Cli, sid: int) -> str:
    snaps = {s["id"]: s for s in cli.json("snapshots")}
    return local_time(int(datetime.fromisoformat(snaps[sid]["time"].replace("Z", "+00:00")).timestamp() * 1e9))


def test_restore_of_a_deleted_file_brings_back_its_last_version_and_names_the_snapshots(two: Cli) -> None:
    old = two.docs / "old.txt"
    run = two("restore", str(old))
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == (f"old.txt was deleted in snapshot 2 ({_when(two, 2)}); its last version is in snapshot 1 "
                        f"({_when(two, 1)}).")
    assert lines[1] == f"Restored old.txt as it was on {_when(two, 1)[:16]}."
    assert old.read_bytes() == b"to be deleted"  # byte for byte
    old.write_bytes(b"written since")  # the rules stay: a differing file is kept, the version goes beside it
    kept = two.json("restore", str(old))
    assert kept["deleted_in"]["id"] == 2 and kept["snapshot"]["id"] == 1
    assert old.read_bytes() == b"written since" and len(kept["kept_beside"]) == 1
    beside = kept["kept_beside"][0]["restored"]
    assert re.fullmatch(r"old \(restored \d{4}-\d\d-\d\d \d{4}\)\.txt", os.path.basename(beside))
    assert Path(beside).read_bytes() == b"to be deleted"
    two.ok("restore", str(old), "--overwrite")
    assert old.read_bytes() == b"to be deleted"


def test_cat_of_a_deleted_file_writes_its_last_version_and_says_so_on_stderr(two: Cli) -> None:
    run = two("cat", str(two.docs / "old.txt"))
    assert run.code == 0 and run.out == "to be deleted"
    assert run.err == (f"timekeep: old.txt was deleted in snapshot 2 ({_when(two, 2)}); its last version is in "
                       f"snapshot 1 ({_when(two, 1)}).\n")


def test_a_deleted_folder_comes_back_whole_and_lists_as_it_was(two: Cli) -> None:
    sub = two.docs / "sub"
    before = read_tree(sub)
    shutil.rmtree(sub)
    assert two.backup() == 3
    listed = two("ls", str(sub), "--json")
    assert listed.code == 0 and "sub was deleted in snapshot 3" in listed.err
    assert sorted(e["name"] for e in json.loads(listed.out)) == ["data.bin", "keep.txt"]
    run = two("restore", str(sub))
    assert run.code == 0, run.err
    assert run.out.startswith(f"sub was deleted in snapshot 3 ({_when(two, 3)}); its last version is in snapshot 2")
    assert read_tree(sub) == before  # 200 kB of random bytes and a small file, byte for byte


def test_paths_never_backed_up_or_not_yet_are_one_line_and_exit_2(two: Cli) -> None:
    nope = two("restore", str(two.docs / "nope.txt"))
    assert (nope.code, nope.out, nope.err) == (2, "", f"timekeep: {two.docs / 'nope.txt'} was never backed up\n")
    assert two("cat", str(two.docs / "nope.txt")).code == 2
    assert two("log", str(two.docs / "nope.txt")).err == f"timekeep: {two.docs / 'nope.txt'} was never backed up\n"
    early = two("restore", str(two.docs / "new.txt"), "--at", "1")
    assert early.code == 2 and early.err == (
        f"timekeep: {two.docs / 'new.txt'} did not exist yet at snapshot 1 ({_when(two, 1)}); its first version "
        f"is from snapshot 2 ({_when(two, 2)})\n")
    assert not (two.docs / "new.txt").exists() or (two.docs / "new.txt").read_bytes() == b"brand new"
