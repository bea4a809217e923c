"""Where a folder restored "as it was" goes by default: a new folder beside it, named after the time, so
nothing that is there now is touched (the CLI's `guard restore` and the window's banner agree on it)."""

from __future__ import annotations

import os


def place_name(folder: bytes, when: str) -> bytes:
    """'docs as of 2026-12-06 00-30' beside 'docs' (colons are awkward in file names on other systems)."""
    parent, name = os.path.split(folder.rstrip(b"/"))
    return os.path.join(parent, name + os.fsencode(f" as of {when.replace(':', '-')}"))


def new_place(folder: bytes, when: str) -> bytes:
    """`place_name`, or with ' (2)', ' (3)'… when that name is taken: always a place that does not exist yet."""
    base = place_name(folder, when)
    place, n = base, 2
    while os.path.lexists(place):
        place, n = base + os.fsencode(f" ({n})"), n + 1
    return place
