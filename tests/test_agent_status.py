"""`timekeep status` in plain words and consistent JSON: drive detection without a system bus, the next
storage time with no drive, the folders while the drive is away, a rename's bytes, and UTC times with Z."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config, snapshot_of
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.agent.messages import Status
from timekeep.core.agent.service import Service
from timekeep.core.api import Timekeep
from timekeep.core.cli.agent_cmd import status_lines
from timekeep.core.index import journal
from timekeep.core.index.journal import JournalEntry
from timekeep.core.index.moves import NEW
from timekeep.core.index.schema import open_index
from timekeep.core.udisks import UDisksListener

Z_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


def test_without_a_system_bus_the_status_says_so_plainly(tmp_path: Path) -> None:
    listener = UDisksListener(lambda: None, f"unix:path={tmp_path / 'no-bus'}")
    assert not listener.start()
    assert listener.status == "no system D-Bus here: drives are found by polling mount points"
    assert "Errno" not in listener.status and "No such file" in listener.detail  # the cause goes to the log


def times_in(data: object) -> list[str]:
    """Every string value of a key ending in `time` or named `latest`, anywhere in a JSON document."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and (key.endswith("time") or key == "latest"):
                found.append(value)
            found += times_in(value)
    elif isinstance(data, list):
        for value in data:
            found += times_in(value)
    return found


def test_status_while_the_drive_is_away(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        with run.changes(src / "a.txt"):
            (src / "a.txt").write_bytes(b"changed")  # else the backup finds nothing new and takes no snapshot
        run.backup()  # a storage time: last_storage_time and a snapshot time both appear
        status = json.loads(json.dumps(Service(run.agent).op_status()))  # as it travels
        stamps = times_in(status)
        assert len(stamps) >= 4 and all(Z_TIME.match(t) for t in stamps), stamps
        (tmp_path / "drive").rename(tmp_path / "unplugged")
        dest = run.agent.destinations[str(repo)]
        run.until(lambda: not dest.present, what="the drive to be gone")
        status = json.loads(json.dumps(Service(run.agent).op_status()))
    assert status["next_storage_time"] is None and status["next_destination"] is None
    # still watched: what changes is kept on this computer until the drive is back (core/agent/away.py)
    assert status["folders"] == [{"path": str(src), "watched": True, "connected": False,
                                  "note": status["folders"][0]["note"], "destinations": [str(repo)]}]
    assert "kept on this computer" in status["folders"][0]["note"]
    lines = status_lines(Status.from_wire(status))
    assert "Next backup: when a backup drive is connected." in lines
    assert not any("no connected destination" in line for line in lines)
    folder_line = lines[lines.index("Folders:") + 1]
    assert str(src) in folder_line and "not connected" in folder_line


def test_status_when_no_drive_was_ever_seen_says_why_no_folder_is_listed(tmp_path: Path) -> None:
    with InProcess(agent_config(tmp_path / "usb" / "Timekeep" / "laptop")) as run:
        status = Service(run.agent).status()
    assert status.folders == ()
    assert any(line.startswith("Folders: none known yet") for line in status_lines(status))


def test_a_pure_rename_waits_with_no_bytes_to_store(tmp_path: Path) -> None:
    src = tmp_path / "src"
    big = os.urandom(300_000)
    make_tree(src, {"film.bin": big})
    repo = new_repo(tmp_path, src)
    backup(repo)
    old, new = os.fsencode(src / "film.bin"), os.fsencode(src / "renamed.bin")
    (src / "film.bin").rename(src / "renamed.bin")
    db = open_index(repo / "index.db")
    try:
        journal.record(db, [JournalEntry(os.fsencode(src), new, len(big), old),
                            JournalEntry(os.fsencode(src), old, 0, NEW)], 1_000)
        stats = journal.stats(db)
        assert (stats.paths, stats.bytes) == (2, 0)
        journal.record(db, [JournalEntry(os.fsencode(src), new, len(big) + 5)], 2_000)  # then edited
        assert journal.stats(db).bytes == len(big) + 5
    finally:
        db.close()


def test_a_watched_rename_shows_no_bytes_waiting(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"film.bin": os.urandom(300_000)})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        (src / "film.bin").rename(src / "renamed.bin")
        run.sees(repo, {os.fsencode(src / "renamed.bin")})
        dest = run.agent.destinations[str(repo)]
        assert dest.stats.paths >= 1 and dest.stats.bytes == 0
        said = "\n".join(status_lines(Service(run.agent).status()))
        assert re.search(r"; [1-9]\d* changes? \(0 bytes\) waiting for the next backup", said), said
        snap = snapshot_of(run.backup())
    assert snap.files_read == 0 and snap.bytes_new == 0  # the storage time agrees: nothing was read
    with Timekeep.open(repo) as tk:
        assert [v.snapshot_id for v in tk.versions(os.fsencode(src / "renamed.bin"))] == [1, 2]
