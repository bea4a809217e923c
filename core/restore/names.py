"""The names a restore writes under besides the stored ones: the copy kept beside a differing file, and
temporaries. Every name fits NAME_MAX (255 bytes) and a cut never splits a UTF-8 character.
"""

from __future__ import annotations

import os
from datetime import datetime

NAME_MAX = 255
LONGEST_EXTENSION = 32  # a longer "extension" (after the last dot) is part of the name, and may be cut
TEMP_SUFFIX = b".restoring"


def cut_utf8(name: bytes, limit: int) -> bytes:
    """At most `limit` bytes of `name`, never ending inside a UTF-8 character (names that are not UTF-8
    are cut at `limit`)."""
    if len(name) <= limit:
        return name
    cut = limit
    while cut > max(0, limit - 3) and name[cut] & 0xC0 == 0x80:  # a continuation byte: inside a character
        cut -= 1
    return name[:limit] if name[cut] & 0xC0 == 0x80 else name[:cut]


def _when(snapshot_ns: int) -> bytes:
    """The snapshot's local time as the name shows it."""
    try:
        return datetime.fromtimestamp(snapshot_ns / 1e9).strftime("%Y-%m-%d %H%M").encode()
    except (OverflowError, ValueError, OSError):  # a damaged snapshot time still gives a usable name
        return b"of an unknown time"


def beside_name(name: bytes, snapshot_ns: int, n: int = 1) -> bytes:
    """'stem (restored YYYY-MM-DD HHMM[ n]).ext': the stored version kept beside a differing `name`. The
    stem gives way when the whole would pass NAME_MAX; the extension and the suffix never do."""
    stem, ext = os.path.splitext(name)
    if len(ext) > LONGEST_EXTENSION:
        stem, ext = name, b""
    extra = b"" if n == 1 else b" %d" % n
    suffix = b" (restored " + _when(snapshot_ns) + extra + b")"
    return cut_utf8(stem, NAME_MAX - len(suffix) - len(ext)) + suffix + ext


def temp_name(name: bytes, pid: int | None = None) -> bytes:
    """'.NAME.PID.restoring', where a restore writes `name` before moving it into place; `pid` is this process's
    (asked for when not given)."""
    return b".%s.%d%s" % (cut_utf8(name, 200), os.getpid() if pid is None else pid, TEMP_SUFFIX)


def temp_pid(name: bytes) -> int | None:
    """The process id a restore's temporary is named after, or None if `name` is not one."""
    if not (name.startswith(b".") and name.endswith(TEMP_SUFFIX)):
        return None
    stem, _, pid = name[: -len(TEMP_SUFFIX)].rpartition(b".")
    return int(pid) if len(stem) > 1 and pid.isdigit() and len(pid) < 10 else None
