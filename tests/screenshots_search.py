"""The screenshots of finding and comparing moments (tests/screenshots.py calls `shoot_search`): the search
field's results with a result's right-click menu, "Show deleted files" for the protected folder, and what
changed between two moments chosen on the timeline (the band on the line, then the list)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.screenshots import save, spin, wait_for


def shoot_search(window, docs: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QGuiApplication

    window.browser.select_path(os.fsencode(docs / "Thesis"))
    panel = window.finder.panel
    panel.field.setText("t")
    panel.field.returnPressed.emit()
    wait_for(lambda: panel.results.topLevelItemCount() > 0)
    results = panel.results
    item = next(results.topLevelItem(r) for r in range(results.topLevelItemCount())
                if results.topLevelItem(r).text(0) == "draft-outline.txt")
    results.setCurrentItem(item)
    results.customContextMenuRequested.emit(results.visualItemRect(item).center())
    spin(500)
    frame = window.frameGeometry()
    shot = QGuiApplication.primaryScreen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    path = out / f"search{'-dark' if os.environ.get('TIMEKEEP_SCREENSHOTS_DARK') else ''}.png"
    shot.save(str(path))  # the whole screen's pixels there: the menu is a window of its own
    print(f"saved {path}")
    window.finder.last_menu.close()
    deleted = window.finder.deleted.show()
    wait_for(lambda: "since the first backup" in deleted.heading.text())
    save(deleted, out, "deleted-files")
    deleted.close()
    panel.field.clear()
    panel.field.returnPressed.emit()


def shoot_range(window, out: Path) -> None:  # type: ignore[no-untyped-def]
    window.timeline.set_position(6)
    spin(300)
    window.timeline.choose_range(6, 8)
    dialog = window.range_diff.dialog
    wait_for(lambda: dialog is not None and dialog.diff is not None)
    save(window.timeline, out, "timeline-range")
    dialog.resize(820, 420)
    save(dialog, out, "range-diff")
    dialog.close()
