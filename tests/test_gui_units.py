"""The GUI's pure parts, by table: words and dates, timeline ticks and labels, schedule, restore sentences,
diff rows, identical versions, app settings round trip, listing order."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from timekeep.core.types import FileError, Progress, RestoreResult, Retention, VersionInfo
from timekeep.gui import wording
from timekeep.gui.dialogs.compare import DiffRow, side_by_side
from timekeep.gui.file_actions import restore_sentence
from timekeep.gui.listing import Row, ordered
from timekeep.gui.models.versions import distinct
from timekeep.gui.settings import AppPaths, AppSettings, load_settings, save_settings
from timekeep.gui.volumes import repository_path, suggested_folders
from timekeep.gui.widgets.drive_status import missing_text
from timekeep.gui.widgets.timeline_scale import (
    DAY_MIN,
    DAY_NS,
    HOUR_NS,
    MINUTE_NS,
    Scale,
    label_step_minutes,
    label_text,
    labels,
    nearest,
    span_for,
)

NOW = 1_800_000_000 * 10**9


@pytest.mark.parametrize(("n", "text"), [(0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1.0 kB"),
                                         (123_456, "123 kB"), (5_600_000, "5.6 MB"), (2 * 10**12, "2.0 TB")])
def test_sizes(n: int, text: str) -> None:
    assert wording.size(n) == text


@pytest.mark.parametrize(("seconds", "text"), [(30, "just now"), (61, "1 minute ago"), (7200, "2 hours ago"),
                                               (86400 + 5, "yesterday"), (2 * 86400 + 5, "2 days ago")])
def test_ago(seconds: int, text: str) -> None:
    assert wording.ago(NOW - seconds * 10**9, NOW) == text


def test_missing_drive_says_when_the_last_backup_was() -> None:
    assert missing_text(NOW - 2 * DAY_NS - 10, NOW) == "Backup drive not connected — last backup 2 days ago"
    assert missing_text(None, NOW) == "Backup drive not connected — no backup yet"


def test_progress_line_has_files_bytes_rate_and_time_left() -> None:
    line = wording.progress_line(Progress("store", 10, 40, 50_000_000, 150_000_000, 2.0))
    assert line == "10 of 40 files · 50.0 MB of 150 MB · 25.0 MB/s · about 4 s left"
    assert wording.progress_fraction(Progress("store", 10, 40, 50, 100, 1.0)) == 0.5


def test_dates_are_iso_like_and_names_survive_bad_bytes() -> None:
    assert len(wording.when(NOW)) == len("2027-01-15 08:00")
    assert wording.display_name(b"/a/caf\xe9.txt") == "caf\ufffd.txt"


def test_timeline_scale_is_linear_in_real_time() -> None:
    start, end = span_for([NOW - 10 * DAY_NS, NOW - DAY_NS], NOW)
    assert end == NOW and start < NOW - 10 * DAY_NS
    scale = Scale(start, end, 0.0, 1000.0)
    assert scale.x(end) == 1000.0
    gap_a = scale.x(NOW - DAY_NS) - scale.x(NOW - 2 * DAY_NS)
    gap_b = scale.x(NOW - 9 * DAY_NS) - scale.x(NOW - 10 * DAY_NS)
    assert gap_a == pytest.approx(gap_b)
    assert abs(scale.ns(scale.x(NOW - 3 * DAY_NS)) - (NOW - 3 * DAY_NS)) < 10**9


@pytest.mark.parametrize(("span", "width", "minutes"), [
    (15 * MINUTE_NS, 1000, 2), (HOUR_NS, 1000, 10), (2 * DAY_NS, 1000, 360), (40 * DAY_NS, 1000, 7 * DAY_MIN),
    (400 * DAY_NS, 1000, 91 * DAY_MIN)])
def test_label_step_fits_the_width(span: int, width: int, minutes: int) -> None:
    assert label_step_minutes(span, width) == minutes


def test_a_history_of_minutes_gets_minute_labels() -> None:
    """Twelve minutes of snapshots are not squeezed into a corner with a single hour label."""
    now_ns = int(datetime(2026, 11, 20, 15, 7).astimezone().timestamp() * 1e9)
    start, end = span_for([now_ns - 12 * MINUTE_NS, now_ns - MINUTE_NS], now_ns)
    assert end - start <= 13 * MINUTE_NS
    texts = [text for _x, text in labels(Scale(start, end, 0.0, 1000.0), datetime(2026, 11, 20, 15, 7).astimezone())]
    assert texts == ["14:56", "14:58", "15:00", "15:02", "15:04", "15:06"]


def test_label_words() -> None:
    now = datetime(2026, 11, 20, 15, 0).astimezone()
    assert label_text(now.replace(hour=0), DAY_MIN, now) == "Today"
    assert label_text(now.replace(hour=0) - timedelta(days=1), DAY_MIN, now) == "Yesterday"
    assert label_text(now.replace(day=2, hour=0), DAY_MIN, now) == "2026-11-02"
    assert label_text(now.replace(hour=14), 180, now) == "14:00"
    assert label_text(now.replace(hour=14, minute=5), 5, now) == "14:05"
    assert label_text(now.replace(hour=0), 5, now) == "Today"
    assert label_text(now.replace(day=1, hour=0), 91 * DAY_MIN, now) == "2026-11"


def test_nearest_tick() -> None:
    assert nearest([10.0, 20.0, 100.0], 14) == 0
    assert nearest([10.0, 20.0, 100.0], 70) == 2
    assert nearest([10.0, 20.0], 15) == 1  # a tie goes to the later tick


def test_restore_sentences() -> None:
    when = NOW
    stamp = wording.when(when)
    one = restore_sentence(b"/d/report.txt", when, RestoreResult(written=(b"/d/report.txt",)))
    assert one == f"Restored report.txt as it was on {stamp}."
    beside = RestoreResult(kept_beside=((b"/d/report.txt", b"/d/report (restored x).txt"),))
    assert restore_sentence(b"/d/report.txt", when, beside) == (
        f"report.txt has changed since {stamp}, so it was kept, and the version from then was saved beside it "
        "as “report (restored x).txt”.")
    same = restore_sentence(b"/d/report.txt", when, RestoreResult(unchanged=1))
    assert same == f"report.txt is already as it was on {stamp}: nothing needed restoring."
    folder = RestoreResult(written=(b"/d/a", b"/d/b"), unchanged=3, errors=(FileError(b"/d/c", "restore", "denied"),))
    assert restore_sentence(b"/d", when, folder, b"/tmp/x") == (
        f"Restored d as it was on {stamp} into /tmp/x: 2 items written; 3 already the same; "
        "1 could not be restored (c: denied).")


def test_side_by_side_rows() -> None:
    rows = side_by_side(["a", "b", "c", "d"], ["a", "B", "c", "e", "f"])
    assert rows == [DiffRow("a", "a", "equal"), DiffRow("b", "B", "replace"), DiffRow("c", "c", "equal"),
                    DiffRow("d", "e", "replace"), DiffRow(None, "f", "insert")]
    assert side_by_side(["x"], []) == [DiffRow("x", None, "delete")]


def _version(sid: int, content: bytes | None, state: str = "modified") -> VersionInfo:
    return VersionInfo(sid, sid * HOUR_NS, state, "file", 3, 0o644, sid, content)  # type: ignore[arg-type]


def test_identical_versions_are_hidden() -> None:
    versions = [_version(1, b"a", "created"), _version(2, b"a", "metadata"), _version(3, b"b"),
                _version(4, None, "deleted"), _version(5, b"b", "created")]
    assert [v.snapshot_id for v in distinct(versions)] == [1, 3, 4, 5]


def test_settings_round_trip_and_tolerance(tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = AppPaths(tmp_path / "config", tmp_path / "cache")
    assert load_settings(paths) == AppSettings()
    chosen = AppSettings(repository="/media/x/Timekeep/host", interval_minutes=30, extra_excludes=("*.iso",),
                         retention=Retention(12, 7, 4), compression_level=9, last_backup_ns=NOW)
    save_settings(paths, chosen)
    assert load_settings(paths) == chosen
    old_file = {"retention": {"keep_all_hours": 6, "daily_days": 10, "weekly_weeks": 2}}  # as older releases wrote it
    paths.settings_file.write_text(json.dumps(old_file))
    assert load_settings(paths).retention == Retention(6, 10, 2)  # the engine's own record
    paths.settings_file.write_text(json.dumps({"interval_minutes": 15, "unknown": 1, "retention": "bad"}))
    # the window's state lives apart (the state folder): a hand-edited settings.json leaves it alone
    assert load_settings(paths) == AppSettings(interval_minutes=15, last_backup_ns=NOW)
    paths.settings_file.write_text(json.dumps({"guard": {"enabled": False, "window_seconds": 60}}))
    assert load_settings(paths) == AppSettings(guard=False, last_backup_ns=NOW)
    paths.settings_file.write_text(json.dumps({"guard": {"window_seconds": 60}}))  # on unless it says off
    assert load_settings(paths).guard
    paths.settings_file.write_text("{not json")
    assert load_settings(paths) == AppSettings(last_backup_ns=NOW)
    assert json.loads(paths.window_file.read_text())["last_backup_ns"] == NOW


def test_rows_come_folders_first_then_by_name() -> None:
    rows = [Row(b"/r/b.txt", "file", 1, 0), Row(b"/r/Zed", "dir", 0, 0), Row(b"/r/a.txt", "file", 1, 0),
            Row(b"/r/alpha", "dir", 0, 0)]
    assert [r.name for r in ordered(rows)] == [b"alpha", b"Zed", b"a.txt", b"b.txt"]


def test_repository_path_and_suggestions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert repository_path("/media/usb", "laptop").as_posix() == "/media/usb/Timekeep/laptop"
    for name in ("Music", "Documents", ".cache", "code"):
        (tmp_path / name).mkdir()
    found = [(s.path.rsplit("/", 1)[1], s.checked) for s in suggested_folders(tmp_path)]
    assert found == [("Documents", True), ("Music", False), ("code", False)]


def test_the_shown_times_have_seconds_all_or_none(qtbot) -> None:  # type: ignore[no-untyped-def]
    from timekeep.core.types import SnapshotInfo
    from timekeep.gui.models.snapshots import SnapshotsModel
    from timekeep.gui.widgets.timeline import Timeline

    base = int(datetime(2026, 11, 20, 15, 7, 0).astimezone().timestamp()) * 10**9
    snaps = [SnapshotInfo(1, base - 3 * HOUR_NS, "manual"), SnapshotInfo(2, base + 10 * 10**9, "manual"),
             SnapshotInfo(3, base + 40 * 10**9, "manual")]
    model = SnapshotsModel()
    model.set_snapshots(snaps)
    timeline = Timeline(model, clock=lambda: base + HOUR_NS)
    qtbot.addWidget(timeline)
    assert [timeline.time_words(s) for s in snaps] == ["2026-11-20 12:07:00", "2026-11-20 15:07:10",
                                                        "2026-11-20 15:07:40"]  # two share a minute: all to the second
    model.set_snapshots(snaps[:2])
    assert [timeline.time_words(s) for s in snaps[:2]] == ["2026-11-20 12:07", "2026-11-20 15:07"]


def test_progress_line_counts_one_file_in_the_singular() -> None:
    assert wording.progress_line(Progress("store", 0, 1, 0, 734_000_000, 0.1)).startswith("0 of 1 file · 0 bytes")
