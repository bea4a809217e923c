"""One way sizes read, in the command line and the window alike (decimal units, as GNOME's Files shows them)."""

from __future__ import annotations

import pytest

from timekeep.core import units
from timekeep.core.cli import output, progress
from timekeep.core.types import Progress, SnapshotInfo
from timekeep.gui import wording


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1.0 kB"), (1536, "1.5 kB"), (99_949, "99.9 kB"),
    (99_950, "100 kB"), (123_456, "123 kB"), (999_499, "999 kB"), (999_500, "1.0 MB"), (5_600_000, "5.6 MB"),
    (2 * 10**12, "2.0 TB"), (3 * 10**18, "3000 PB"),
])  # fmt: skip
def test_sizes_read_in_decimal_units(n: int, text: str) -> None:
    assert units.size(n) == text


def test_the_window_and_the_command_line_say_the_same_size() -> None:
    """The window's size and the CLI's backup summary and progress bar all come from units.size."""
    assert wording.size(1_500_000) == "1.5 MB"
    snap = SnapshotInfo(1, 0, "manual", files_scanned=3, bytes_read=1_500_000, bytes_new=2_000)
    assert "1.5 MB read, 2.0 kB new on the drive" in output.backup_summary(snap, [])
    bar = progress.render_bar(Progress("store", 1, 2, 1_500_000, 3_000_000, 1.0), 120)
    assert "1.5 MB/3.0 MB" in bar and "1.5 MB/s" in bar
    assert "KiB" not in bar + output.backup_summary(snap, []) and "KB" not in bar
