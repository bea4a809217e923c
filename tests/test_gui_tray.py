"""The tray: without a system tray, notifications fall back to the window; with one, its menu offers status,
Back up now, Open and Quit."""

from __future__ import annotations

from timekeep.gui.assets import Assets
from timekeep.gui.tray import Tray


def test_without_a_tray_notifications_reach_the_fallback(qapp) -> None:  # type: ignore[no-untyped-def]
    tray = Tray(Assets(), enabled=False)
    said: list[tuple[str, str]] = []
    tray.fallback = lambda title, text: said.append((title, text))
    tray.notify("Backup failed", "the drive is full", error=True)
    assert not tray.available and said == [("Backup failed", "the drive is full")]


def test_the_tray_menu(qapp, qtbot) -> None:  # type: ignore[no-untyped-def]
    tray = Tray(Assets(), enabled=False)
    tray._build(Assets())  # as it is built where the desktop has a tray
    tray.set_status("Up to date")
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Up to date", "Back up now", "Open Timekeep", "Quit"]
    with qtbot.waitSignal(tray.backup_requested):
        tray.menu.actions()[2].trigger()
    assert tray.icon is not None and tray.icon.toolTip() == "Timekeep — Up to date"
    tray.hide()


def test_icons_are_found_and_drawn(qapp) -> None:  # type: ignore[no-untyped-def]
    assets = Assets()
    for name in ("backup", "restore", "restore-to", "versions", "compare", "copy", "settings", "folder", "file"):
        assert not assets.icon(name).isNull(), name
    assert not assets.app_icon().isNull()
    assert assets.icon("no-such-icon").isNull()
