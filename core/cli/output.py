"""How the CLI shows engine records: to people one line each with local ISO-like times, to scripts as JSON."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from core.types import Entry, FileError, FolderInfo, SnapshotInfo, VersionInfo, iso_utc, ns_to_datetime

_KIND_LETTER = {"dir": "d", "file": "-", "symlink": "l"}
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def human_bytes(n: float) -> str:
    """`1536` → `1.5 KiB`: binary units, one decimal from KiB on."""
    if abs(n) < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if abs(n) < 1024 or unit == "TiB":
            break
    return f"{n:.1f} {unit}"


def local_time(ns: int, seconds: bool = True) -> str:
    """`2026-11-20 14:03:05` in the machine's time zone: the one date format people see."""
    return ns_to_datetime(ns).astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def show_path(path: bytes) -> str:
    """A stored name as one printable line: undecodable bytes as `\\xff`, control characters escaped."""
    return "".join(_show_char(ch) for ch in os.fsdecode(path))


def _show_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if not ch.isprintable():
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def mode_string(mode: int) -> str:
    """Permission bits as `rwxr-xr-x` (set-id and sticky bits as `ls` shows them)."""
    return stat.filemode(stat.S_IMODE(mode))[1:]


def print_json(data: Any, out: TextIO | None = None) -> None:
    """One JSON document on stdout (or `out`), names kept lossless through os.fsdecode's escapes."""
    print(json.dumps(data, indent=2), file=out or sys.stdout)


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "name": os.fsdecode(entry.name),
        "path": os.fsdecode(entry.path),
        "kind": entry.kind,
        "size": entry.size,
        "mode": entry.mode,
        "mtime": iso_utc(entry.mtime_ns),
        "changed": entry.changed,
        "snapshot_id": entry.snapshot_id,
        "link_target": None if entry.link_target is None else os.fsdecode(entry.link_target),
    }


def entry_line(entry: Entry) -> str:
    """`d rwxr-xr-x       4096 2026-11-20 14:03:05 * name/`, the `*` marking what changed in that snapshot."""
    name = show_path(entry.name)
    if entry.kind == "dir":
        name += "/"
    elif entry.kind == "symlink" and entry.link_target is not None:
        name += " -> " + show_path(entry.link_target)
    marker = "*" if entry.changed else " "
    return (
        f"{_KIND_LETTER.get(entry.kind, '?')} {mode_string(entry.mode)} {entry.size:>12} "
        f"{local_time(entry.mtime_ns)} {marker} {name}"
    )


def folder_json(folder: FolderInfo) -> dict[str, Any]:
    return {"id": folder.id, "path": os.fsdecode(folder.path), "excludes": list(folder.excludes)}


def folder_line(folder: FolderInfo) -> str:
    excludes = f"  (excluding {', '.join(folder.excludes)})" if folder.excludes else ""
    return show_path(folder.path) + excludes


def version_json(version: VersionInfo) -> dict[str, Any]:
    return {
        "snapshot_id": version.snapshot_id,
        "time": iso_utc(version.time_ns),
        "state": version.state,
        "kind": version.kind,
        "size": version.size,
        "mode": version.mode,
        "mtime": iso_utc(version.mtime_ns),
        "link_target": None if version.link_target is None else os.fsdecode(version.link_target),
    }


def version_lines(versions: Iterable[VersionInfo]) -> list[str]:
    """The versions of one file as a table: snapshot, its time, what happened, size, mode, mtime."""
    lines = [f"{'SNAPSHOT':>8}  {'TIME':<19}  {'STATE':<8}  {'SIZE':>12}  {'MODE':<10}  MODIFIED"]
    for v in versions:
        mode = _KIND_LETTER.get(v.kind, "?") + mode_string(v.mode)
        target = f"  -> {show_path(v.link_target)}" if v.link_target is not None else ""
        lines.append(
            f"{v.snapshot_id:>8}  {local_time(v.time_ns)}  {v.state:<8}  {v.size:>12}  {mode:<10}  "
            f"{local_time(v.mtime_ns)}{target}"
        )
    return lines


def snapshot_lines(snapshots: Iterable[SnapshotInfo]) -> list[str]:
    """Snapshots as a table, oldest first, times local."""
    lines = [
        f"{'ID':>5}  {'TIME':<19}  {'TRIGGER':<8}  {'SCANNED':>8}  {'READ':>8}  {'CHANGED':>8}  "
        f"{'NEW':>10}  {'ERRORS':>6}"
    ]
    for s in snapshots:
        lines.append(
            f"{s.id:>5}  {local_time(s.time_ns)}  {s.trigger:<8}  {s.files_scanned:>8}  {s.files_read:>8}  "
            f"{s.files_changed:>8}  {human_bytes(s.bytes_new):>10}  {s.errors:>6}"
        )
    return lines


def error_lines(errors: Iterable[FileError]) -> list[str]:
    return [f"  {show_path(e.path)}: {e.message} ({e.kind})" for e in errors]


def backup_summary(snap: SnapshotInfo, errors: list[FileError]) -> str:
    """One paragraph: which snapshot, what was looked at, what it cost on the drive, what went wrong."""
    text = (
        f"Snapshot {snap.id} taken at {local_time(snap.time_ns)} in {snap.duration_s:.1f} s: "
        f"{snap.files_scanned} files scanned, {snap.files_read} read, {snap.files_changed} changed; "
        f"{human_bytes(snap.bytes_read)} read, {human_bytes(snap.bytes_new)} new on the drive."
    )
    if not errors and not snap.errors:
        return text + " No errors."
    count = max(snap.errors, len(errors))
    noun = "file" if count == 1 else "files"
    return "\n".join([f"{text} {count} {noun} could not be backed up:", *error_lines(errors)])
