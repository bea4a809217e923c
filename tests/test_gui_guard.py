"""The guard in the window: a banner when the agent suspects mass damage, its "Restore FOLDER as it was at T…"
(into a new folder beside it, the folder byte for byte as it was) and "It was me — all clear", which the agent
obeys; the tray notifies once. With a real agent process on a real folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import agent_env, agent_process, short_runtime_dir
from tests.guard_support import ATTACKS, Files, make_docs
from tests.helpers import backup, new_repo, read_tree
from tests.restore_support import restored_apart
from tests.test_agent_process import write_settings
from tests.test_guard_process import guard_of
from timekeep.core.agent.messages import Before, GuardIncident, GuardStatus
from timekeep.gui.app import TimekeepApp
from timekeep.gui.guard_banner import GuardBanner
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings

INCIDENT = GuardIncident("2026-12-06T00:30:00Z", "2026-12-06T00:30:05Z", ("240 files gained the suffix .locked",),
                         ("/home/ann/Documents",), (Before("/media/usb/Timekeep/laptop", 7, "2026-12-06T00:00:00Z"),))


def test_the_banner_offers_the_restore_and_the_all_clear(qtbot) -> None:  # type: ignore[no-untyped-def]
    prompts = ScriptedPrompts()
    banner = GuardBanner(prompts)
    qtbot.addWidget(banner)
    assert banner.show_status(GuardStatus(True), "/media/usb/Timekeep/laptop") is False and banner.isHidden()
    assert banner.show_status(GuardStatus(True, INCIDENT), "/media/usb/Timekeep/laptop") is True
    assert not banner.isHidden() and "Documents" in banner.label.text() and ".locked" in banner.label.text()
    assert banner.show_status(GuardStatus(True, INCIDENT, seen=10), "/media/usb/Timekeep/laptop") is False
    [button] = banner.restore_buttons
    assert button.text().startswith("Restore Documents as it was at 2026-12-06") and button.isEnabled()
    prompts.confirmations.extend([False, True])
    with qtbot.assertNotEmitted(banner.restore_requested):
        button.click()  # "no": nothing happens
    with qtbot.waitSignal(banner.restore_requested) as asked:
        button.click()
    assert asked.args == [b"/home/ann/Documents", INCIDENT.before[0], None]
    prompts.folders.append("/mnt/elsewhere")
    with qtbot.waitSignal(banner.restore_requested) as asked:
        banner.elsewhere_button.click()
    assert asked.args[2] == b"/mnt/elsewhere"
    prompts.confirmations.append(True)
    with qtbot.waitSignal(banner.clear_requested):
        banner.clear_button.click()
    banner.show_status(GuardStatus(True, INCIDENT), "/media/other")  # a drive with no snapshot before it
    assert not banner.restore_buttons[0].isEnabled() and not banner.elsewhere_button.isEnabled()
    banner.show_status(GuardStatus(True), "/media/usb/Timekeep/laptop")
    assert banner.isHidden()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    runtime = short_runtime_dir()
    yield agent_env(runtime, tmp_path / "home")
    shutil.rmtree(runtime, ignore_errors=True)


def test_the_window_restores_the_folder_and_says_all_clear(qtbot, tmp_path: Path, env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    commands = restored_apart(monkeypatch)  # the folder counts as big: a `timekeep restore` of its own restores it
    src = tmp_path / "src"
    make_docs(Files(src))
    repo = new_repo(tmp_path, src)
    backup(repo)
    write_settings(env)
    before = read_tree(src)
    with agent_process(env, repo) as (_proc, paths):
        prompts = ScriptedPrompts()
        app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache", paths.socket), prompts,
                          AppSettings(repository=str(repo)), tray=False)
        app.start()
        assert app.window is not None and app.guard is not None
        qtbot.addWidget(app.window)
        qtbot.waitUntil(lambda: app.bridge.agent_serving, timeout=10_000)
        notified: list[tuple[str, str]] = []
        app.tray.fallback = lambda title, text: notified.append((title, text))
        banner = app.guard.banner
        ATTACKS["rewritten in place"](Files(src))
        qtbot.waitUntil(lambda: not banner.isHidden() and bool(banner.restore_buttons), timeout=20_000)
        assert [title for title, _ in notified] == ["Timekeep suspects mass damage"]
        prompts.confirmations.append(True)
        with qtbot.waitSignal(app.guard.restored, timeout=30_000) as restored:
            banner.restore_buttons[0].click()
        place = next(p for p in tmp_path.iterdir() if p.name.startswith("src as of "))
        assert read_tree(place / "src") == before
        assert "Restored" in restored.args[0]
        assert len(commands) == 1 and commands[0] is not None and commands[0].written
        prompts.confirmations.append(True)
        banner.clear_button.click()
        qtbot.waitUntil(banner.isHidden, timeout=10_000)
        assert guard_of(paths).incident is None
        app.shut_down()
