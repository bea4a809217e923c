"""Reading a file that is small by nature (a key slot, a passphrase file) without trusting its size: a hostile
or mistaken path to a huge file costs one bounded read, never all of memory."""

from __future__ import annotations

from pathlib import Path


def read_at_most(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it holds more than `limit`; OSError as open() raises it."""
    with open(path, "rb") as fh:
        raw = fh.read(limit + 1)
    return None if len(raw) > limit else raw
