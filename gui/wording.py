"""How numbers and times read in the window: one ISO-like date format, sizes, rates, "2 days ago".

Pure functions with the current time passed in, so the words are tested with tables. Dates are local time
("2026-11-18 19:03"), never the ambiguous MM/DD/YY the peers showed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from timekeep.core.types import CoalesceReport, Progress
from timekeep.core.units import size as size  # the window says sizes as the command line does


def local_time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9).astimezone()


def when(ns: int) -> str:
    """The one date format of the window: local, ISO-like, to the minute."""
    return local_time(ns).strftime("%Y-%m-%d %H:%M")


def when_precise(ns: int) -> str:
    return local_time(ns).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    """A rough, readable span: '40 s', '3 min', '2 h 5 min', '3 days'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = s // 86400
    return "1 day" if days == 1 else f"{days} days"


def ago(ns: int, now_ns: int) -> str:
    """'just now', '5 minutes ago', '2 hours ago', 'yesterday', '3 days ago'."""
    seconds = (now_ns - ns) / 1e9
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        minutes = int(seconds // 60)
        return "1 minute ago" if minutes == 1 else f"{minutes} minutes ago"
    if seconds < 86400:
        hours = int(seconds // 3600)
        return "1 hour ago" if hours == 1 else f"{hours} hours ago"
    days = int(seconds // 86400)
    return "yesterday" if days == 1 else f"{days} days ago"


def progress_line(p: Progress) -> str:
    """'120 of 4,000 files · 1.2 GB of 3.0 GB · 45.0 MB/s · about 40 s left' for a backup's progress;
    '3 of 12 snapshots' while the index is rebuilt or checked, which goes snapshot by snapshot."""
    if p.phase == "rebuild" or (p.phase == "check" and not p.bytes_total):
        return snapshots_line(p)
    files = "file" if (p.files_total or p.files_done) == 1 else "files"
    parts = [f"{p.files_done:,} of {p.files_total:,} {files}" if p.files_total else f"{p.files_done:,} {files}"]
    parts.append(f"{size(p.bytes_done)} of {size(p.bytes_total)}" if p.bytes_total else size(p.bytes_done))
    rate = p.bytes_done / p.elapsed_s if p.elapsed_s > 0.5 else 0.0
    if rate > 0:
        parts.append(f"{size(int(rate))}/s")
        if p.bytes_total > p.bytes_done:
            parts.append(f"about {duration((p.bytes_total - p.bytes_done) / rate)} left")
    return " · ".join(parts)


def snapshots_line(p: Progress) -> str:
    """'3 of 12 snapshots' (never past the total, whatever the engine counted)."""
    total = max(p.files_total, 0)
    done = min(p.files_done, total) if total else p.files_done
    noun = "snapshot" if (total or done) == 1 else "snapshots"
    return f"{done:,} of {total:,} {noun}" if total else f"{done:,} {noun}"


PHASES = {"scan": "looking for changes", "store": "storing", "commit": "saving the snapshot",
          "restore": "restoring", "check": "checking", "coalesce": "thinning",
          "rebuild": "rebuilding the index from the drive", "encrypt": "encrypting",
          "place": "moving the encrypted copy into place"}


def phase(name: str) -> str:
    """What a progress phase means to the person: 'storing', 'saving the snapshot'."""
    return PHASES.get(name, name)


def progress_fraction(p: Progress) -> float:
    """How far along, 0..1: bytes when known (they dominate the time), files otherwise."""
    if p.bytes_total:
        return min(1.0, p.bytes_done / p.bytes_total)
    if p.files_total:
        return min(1.0, p.files_done / p.files_total)
    return 0.0


def display_name(path: bytes) -> str:
    """A path's last part as text; names that are not UTF-8 show with replacement marks."""
    name = os.path.basename(path.rstrip(b"/")) or path
    return name.decode("utf-8", "replace")


def display_path(path: bytes) -> str:
    """Qt strings cannot hold Python's surrogate escapes, so undecodable bytes show as replacement marks."""
    return path.decode("utf-8", "replace")


def within(path: bytes, roots: Sequence[bytes]) -> str:
    """A path named from the protected folder holding it ('Documents/Thesis'), or in full when none does."""
    for root in roots:
        if path == root or path.startswith(root.rstrip(b"/") + b"/"):
            parent = os.path.dirname(root.rstrip(b"/"))
            return display_path(os.path.relpath(path, parent))
    return display_path(path)


def thinned(report: CoalesceReport) -> str:
    """What thinning did, in one sentence: 'Thinned out 4 snapshots; 120 MB freed.'"""
    dropped = len(report.snapshots_dropped)
    if not dropped and not report.bytes_freed:
        return "Nothing to thin: every snapshot is still within the rule."
    words = f"Thinned out {dropped} snapshot{'s' if dropped != 1 else ''}; {size(report.bytes_freed)} freed."
    spared = len(report.snapshots_kept_for_last_copy)
    if spared:
        kept = "1 kept because it holds" if spared == 1 else f"{spared} kept because they hold"
        words += f" {kept} the only copy of a file."
    return words


def sentence(text: str) -> str:
    """An engine's line as a sentence: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def some(lines: Sequence[str], limit: int = 5) -> list[str]:
    """The first `limit` lines and 'and N more': a long list of losses stays readable in a dialog."""
    if len(lines) <= limit:
        return list(lines)
    return [*lines[: limit - 1], f"and {len(lines) - limit + 1:,} more"]
