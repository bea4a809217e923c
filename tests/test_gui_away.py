"""The window while the backup drive is away: the timeline shows the snapshots the agent kept on this computer
meanwhile (the away store), their files browse and preview as any snapshot's, the banner still says the drive is
away and no backup is offered; with the drive back, the drive's history takes their place."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import select, shown_tree, start_app, wait_tree
from timekeep.core.api import Timekeep, repository_id
from timekeep.core.away import keeping, store
from timekeep.core.capture.excludes import Excludes
from timekeep.core.index.journal import JournalEntry


def test_the_timeline_shows_what_was_kept_on_this_computer_while_the_drive_is_away(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"draft one\n", "other.txt": b"untouched\n"})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    away = store.path_for(repository_id(repo))
    store.create(away, away.name, None, str(repo))
    with Timekeep.open(away, writer=True) as tk:
        keeping.sync_folders(tk, {os.fsencode(docs): Excludes([])})
    (docs / "report.txt").write_bytes(b"written on the train\n")
    keeping.record(away, [JournalEntry(os.fsencode(docs), os.fsencode(docs / "report.txt"), 21, None)],
                   time.time_ns())
    assert keeping.storage_time(away, 1 << 30).snapshot is not None
    repo.rename(repo.with_name("unplugged"))
    app, prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    app.bridge._poll.setInterval(50)
    qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
    assert [s.trigger for s in window.history.snapshots] == ["away"]
    assert not window.drive_status.isHidden() and "not connected" in window.drive_status.label.text()
    assert not window.backup_action.isEnabled()
    wait_tree(qtbot, window, lambda: window.timeline.set_position(0))  # the away snapshot, not the live folder
    assert shown_tree(qtbot, window, docs) == {b"report.txt": ("file", 21)}  # only what changed was kept here
    select(qtbot, window, docs / "report.txt")
    assert window.preview.shown_text() == "written on the train\n"
    away_snapshot = window.history.snapshots[0]
    back = tmp_path / "back"
    back.mkdir()
    with qtbot.waitSignal(window.actions_.restored, timeout=10_000):  # restored from this computer's disk
        window.actions_.start_restore(os.fsencode(docs / "report.txt"), away_snapshot.id, away_snapshot.time_ns,
                                      os.fsencode(back))
    assert (back / "report.txt").read_bytes() == b"written on the train\n"
    repo.with_name("unplugged").rename(repo)  # the drive is back: its own history replaces the away store's
    qtbot.waitUntil(lambda: window.history is not None and window.backup_action.isEnabled(), timeout=10_000)
    assert [s.trigger for s in window.history.snapshots] == ["manual"]
    assert [said[0] for said in prompts.said] == ["inform"]
    app.shut_down()
