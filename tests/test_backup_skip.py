"""A backup that finds nothing new adds no snapshot and says so, whoever asked: the command line (exit 0,
--json says skipped), the agent's "back up now", and the window's "Back up now"; a first backup, a new or
removed folder and a deletion are changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config, snapshot_of
from tests.helpers import backup, make_tree, new_repo
from tests.test_cli import Cli
from tests.test_cli import cli as cli
from timekeep.core.api import Timekeep
from timekeep.core.errors import NothingChanged

SKIPPED = re.compile(r"Nothing changed since snapshot (\d+) \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\): no new snapshot\.")


def test_a_backup_with_nothing_changed_takes_no_snapshot_and_says_so(cli: Cli) -> None:
    (cli.docs / "a.txt").write_bytes(b"hello")
    cli.ok("init", str(cli.repo), "--encryption", "none")
    cli.ok("add", str(cli.docs))
    assert cli.backup() == 1
    again = cli("backup")
    assert again.code == 0 and again.err == ""
    found = SKIPPED.fullmatch(again.out.strip())
    assert found is not None and found.group(1) == "1", again.out
    report = cli.json("backup")
    assert report["skipped"] is True and SKIPPED.fullmatch(report["message"])
    assert cli("backup", "--quiet").out == ""
    assert [s["id"] for s in cli.json("snapshots")] == [1]
    (cli.docs / "a.txt").unlink()  # a deletion is a change
    assert cli.backup() == 2
    assert SKIPPED.fullmatch(cli.ok("backup").out.strip()).group(1) == "2"  # type: ignore[union-attr]


def test_the_first_backup_of_empty_folders_is_kept_and_a_new_folder_is_a_change(cli: Cli) -> None:
    cli.ok("init", str(cli.repo), "--encryption", "none")
    cli.ok("add", str(cli.docs))
    assert cli.backup() == 1  # the baseline, even of nothing
    assert SKIPPED.fullmatch(cli.ok("backup").out.strip())
    other = cli.tmp / "home" / "Pictures"
    other.mkdir()
    cli.ok("add", str(other))
    assert cli.backup() == 2
    cli.ok("remove", str(other))
    assert cli.backup() == 3  # the folder set changed again: the snapshot says which folders were protected
    assert SKIPPED.fullmatch(cli.ok("backup").out.strip())


def test_the_engine_skips_only_when_asked_and_leaves_no_trace(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    make_tree(docs, {"a.txt": b"one", "sub": {"b.txt": b"two"}})
    repo = new_repo(tmp_path, docs)
    assert backup(repo) == 1
    with Timekeep.open(repo, writer=True) as tk:
        with pytest.raises(NothingChanged) as raised:
            tk.backup(skip_unchanged=True)
        assert (raised.value.latest_id, raised.value.exit_code) == (1, 0)
        assert [s.id for s in tk.snapshots()] == [1]
        assert tk.backup().id == 2  # unasked, an empty snapshot is still taken (the rule is the caller's choice)
        (docs / "sub" / "b.txt").write_bytes(b"three")
        assert tk.backup(skip_unchanged=True).id == 3
        assert [s.id for s in tk.snapshots()] == [1, 2, 3]
    with Timekeep.open(repo) as tk:
        assert tk.check().ok


def test_the_agents_back_up_now_follows_the_same_rule(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    make_tree(docs, {"a.txt": b"one"})
    repo = new_repo(tmp_path, docs)
    assert backup(repo) == 1
    with InProcess(agent_config(repo)) as run:
        result = run.backup()
        assert result.snapshot is None and result.outcome == "skipped"
        assert SKIPPED.fullmatch(result.message), result.message
        with run.changes(docs / "a.txt"):
            (docs / "a.txt").write_bytes(b"two")
        assert snapshot_of(run.backup()).id == 2


def test_the_windows_back_up_now_says_nothing_changed_in_the_status_line(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_gui_window import start_app

    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"draft\n"})
    repo = new_repo(tmp_path, docs)
    assert backup(repo) == 1
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    try:
        qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
        with qtbot.waitSignal(app.bridge.backup_skipped, timeout=20_000) as skipped:
            window.backup_action.trigger()
        assert SKIPPED.fullmatch(skipped.args[0])
        assert SKIPPED.fullmatch(window.statusBar().currentMessage()), window.statusBar().currentMessage()
        qtbot.waitUntil(window.backup_action.isEnabled, timeout=10_000)
        assert [s.id for s in window.snapshots.snapshots] == [1]
        (docs / "report.txt").write_bytes(b"final\n")
        with qtbot.waitSignal(app.bridge.backup_finished, timeout=20_000) as finished:
            window.backup_action.trigger()
        assert finished.args[0].id == 2
    finally:
        app.shut_down()
