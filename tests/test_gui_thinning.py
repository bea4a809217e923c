"""Retention takes effect from the settings: the rule is applied to the repository through the engine, and
"Thin history now" runs the coalescer in a worker, shows its progress and says what it freed."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import start_app
from timekeep.core.api import Timekeep
from timekeep.core.types import Progress, Retention


@pytest.fixture
def running(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Three snapshots: two on one morning three days ago, one just now."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"notes.txt": b"one\n", "big.bin": bytes(range(256)) * 400})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "big.bin").write_bytes(bytes(reversed(range(256))) * 400)
    backup(repo)
    (docs / "notes.txt").write_bytes(b"two\n")
    backup(repo)
    morning = (datetime.now() - timedelta(days=3)).replace(hour=9, minute=0)
    conn = sqlite3.connect(repo / "index.db")
    with conn:
        for sid, moment in ((1, morning), (2, morning + timedelta(hours=1))):
            conn.execute("UPDATE snapshot SET time_ns = ? WHERE id = ?", (int(moment.timestamp() * 1e9), sid))
    conn.close()
    app, _prompts = start_app(qtbot, tmp_path, repo)
    qtbot.waitUntil(lambda: app.window.history is not None, timeout=10_000)
    yield app, repo
    app.shut_down()


def test_thin_history_now_drops_what_the_rule_lets_go(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    app, repo = running
    window = app.window
    assert window.timeline.now_position == 3
    dialog = app.show_settings()
    qtbot.addWidget(dialog)
    dialog.keep_all.setValue(1)
    dialog.daily.setValue(30)
    seen: list[Progress] = []
    shown = dialog.thinning_progressed
    dialog.thinning_progressed = lambda p: (seen.append(p), shown(p))  # type: ignore[method-assign]
    dialog.thin_button.click()
    assert not dialog.thin_button.isEnabled() and dialog.thin_bar.isVisibleTo(dialog)
    qtbot.waitUntil(lambda: dialog.thin_button.isEnabled(), timeout=20_000)
    assert dialog.thin_result.text().startswith("Thinned out 1 snapshot; "), dialog.thin_result.text()
    assert seen and {p.phase for p in seen} == {"coalesce"}
    qtbot.waitUntil(lambda: window.timeline.now_position == 2, timeout=10_000)  # the history was reloaded
    with Timekeep.open(repo) as tk:
        assert tk.retention() == Retention(1, 30, 0)
        assert [s.id for s in tk.snapshots()] == [2, 3]
    assert app.settings.retention == Retention(1, 30, 0)
    dialog.thin_button.click()
    qtbot.waitUntil(lambda: dialog.thin_button.isEnabled(), timeout=20_000)
    assert dialog.thin_result.text() == "Nothing to thin: every snapshot is still within the rule."


def test_the_settings_apply_retention_through_the_engine(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    app, repo = running
    dialog = app.show_settings()
    qtbot.addWidget(dialog)
    dialog.weekly.setValue(8)
    with qtbot.waitSignal(app.bridge.folders_changed, timeout=10_000):
        dialog.accept()
    with Timekeep.open(repo) as tk:
        assert tk.retention() == Retention(24, 30, 8)
    assert app.settings.retention == Retention(24, 30, 8)
    assert app.window.timeline.now_position == 3  # applying a rule thins nothing by itself
