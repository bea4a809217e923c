"""How many bytes read to a person, in the command line and the window alike.

Decimal units (1 kB = 1000 bytes), as GNOME's Files (GLib's g_format_size) shows them and as drives are
sold: a person comparing a size here with the file manager or the label on the drive sees the same number.
"""

from __future__ import annotations

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def size(n: float) -> str:
    """`1 byte`, `999 bytes`, `1.5 kB`, `123 MB`: whole bytes below 1 kB, then one decimal below 100."""
    count = int(n)
    if abs(count) < 1000:
        return "1 byte" if count == 1 else f"{count} bytes"
    value = float(n)
    for unit in _UNITS:
        value /= 1000
        if abs(value) < 999.5 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if abs(value) < 99.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def rate(bytes_per_second: float) -> str:
    """`45.0 MB/s`: a speed in the same units."""
    return f"{size(bytes_per_second)}/s"
