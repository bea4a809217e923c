"""How the CLI shows engine records: to people one line each with local ISO-like times, to scripts as JSON."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from timekeep.core import units
from timekeep.core.types import Entry, FileError, FolderInfo, SnapshotInfo, VersionInfo, iso_utc, ns_to_datetime

_KIND_LETTER = {"dir": "d", "file": "-", "symlink": "l"}
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 file`, `0 files`, `3 snapshots`: a count with its noun in the right number."""
    return f"{n} {word if n == 1 else words or word + 's'}"


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
    """One JSON document on stdout (or `out`), every name readable outside Python and kept lossless."""
    print(json.dumps(json_safe(data), indent=2), file=out or sys.stdout)


def json_safe(data: Any) -> Any:
    """`data` with each name that is not valid UTF-8 (os.fsdecode's surrogate escapes, which readers other
    than Python turn into U+FFFD) given as text with U+FFFD for each undecodable byte, and its exact bytes
    in base64 beside it under `<key>_b64` (for a list of names, a list with null for the valid ones)."""
    if isinstance(data, dict):
        safe: dict[Any, Any] = {}
        for key, value in data.items():
            safe[key] = json_safe(value)
            exact = _exact_b64(value)
            if exact is not None:
                safe[f"{key}_b64"] = exact
        return safe
    if isinstance(data, (list, tuple)):
        return [json_safe(item) for item in data]
    if isinstance(data, str) and _raw(data) is not None:
        return _raw_bytes(data).decode("utf-8", "replace")
    return data


def _raw(text: str) -> bytes | None:
    """The bytes of a name that is not valid UTF-8; None for the usual, valid one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _raw_bytes(text)
    return None


def _raw_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte: keep it, as Python would
        return text.encode("utf-8", "surrogatepass")


def _b64(text: str) -> str | None:
    raw = _raw(text)
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def _exact_b64(value: Any) -> str | list[str | None] | None:
    if isinstance(value, str):
        return _b64(value)
    if isinstance(value, (list, tuple)):
        found = [_b64(v) if isinstance(v, str) else None for v in value]
        return found if any(found) else None
    return None


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


def above_line(path: bytes) -> str:
    """A folder above the protected folders (`ls ~`), aligned with `entry_line`: it is not stored, so it has
    no mode, size or time."""
    return f"d {'':9} {'':>12} {'':19}   {show_path(os.path.basename(path))}/"


def above_json(path: bytes) -> dict[str, Any]:
    """`entry_json`'s fields for a folder above the protected folders; what is not stored is null."""
    return {"name": os.fsdecode(os.path.basename(path)), "path": os.fsdecode(path), "kind": "dir", "size": None,
            "mode": None, "mtime": None, "changed": False, "snapshot_id": None, "link_target": None}


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
        "origin": None if version.origin is None else os.fsdecode(version.origin),
    }


def table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows under a header, each column as wide as its widest cell, two spaces apart. `columns` pairs each
    header with its alignment, `>` (numbers) or `<` (text)."""
    cells = [[head for head, _ in columns], *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    aligns = [align for _, align in columns]
    return ["  ".join(f"{cell:{align}{width}}" for cell, align, width in zip(row, aligns, widths, strict=True))
            .rstrip() for row in cells]


def version_lines(versions: Iterable[VersionInfo]) -> list[str]:
    """The versions of one file as a table: snapshot, its time, what happened, size, mode, mtime, and where
    it came from (a link's target, the path it was renamed from). A deletion has no size, mode or time."""
    columns = [("SNAPSHOT", ">"), ("TIME", "<"), ("STATE", "<"), ("SIZE", ">"), ("MODE", "<"),
               ("MODIFIED", "<"), ("", "<")]
    return table(columns, (_version_row(v) for v in versions))


def _version_row(v: VersionInfo) -> list[str]:
    head = [str(v.snapshot_id), local_time(v.time_ns), v.state]
    if v.state == "deleted":
        return [*head, "", "", "", ""]
    notes = []
    if v.link_target is not None:
        notes.append(f"-> {show_path(v.link_target)}")
    if v.origin is not None:
        notes.append(f"renamed from {show_path(v.origin)}")
    mode = _KIND_LETTER.get(v.kind, "?") + mode_string(v.mode)
    return [*head, str(v.size), mode, local_time(v.mtime_ns), "  ".join(notes)]


def snapshot_lines(snapshots: Iterable[SnapshotInfo]) -> list[str]:
    """Snapshots as a table, oldest first, times local; columns stay aligned whatever the trigger."""
    columns = [("ID", ">"), ("TIME", "<"), ("TRIGGER", "<"), ("SCANNED", ">"), ("READ", ">"), ("CHANGED", ">"),
               ("NEW", ">"), ("ERRORS", ">")]
    rows = ([str(s.id), local_time(s.time_ns), show_text(s.trigger), str(s.files_scanned), str(s.files_read),
             str(s.files_changed), units.size(s.bytes_new), str(s.errors)] for s in snapshots)
    return table(columns, rows)


def show_text(text: str) -> str:
    """Any text on one printable line (control characters escaped), as `show_path` does for names."""
    return "".join(_show_char(ch) for ch in text)


def error_lines(errors: Iterable[FileError]) -> list[str]:
    return [f"  {show_path(e.path)}: {e.message} ({e.kind})" for e in errors]


def failures(errors: Iterable[FileError]) -> list[FileError]:
    """The errors that left a snapshot incomplete: not the special files (sockets, FIFOs, devices) a
    backup skips by design."""
    return [e for e in errors if e.failed]


def skipped(errors: Iterable[FileError]) -> list[FileError]:
    return [e for e in errors if not e.failed]


def backup_summary(snap: SnapshotInfo, errors: list[FileError]) -> str:
    """One paragraph: which snapshot, what was looked at, what it cost on the drive, what went wrong.
    Skipped special files are a clause, not errors; `timekeep errors` lists them."""
    text = (
        f"Snapshot {snap.id} taken at {local_time(snap.time_ns)} in {snap.duration_s:.1f} s: "
        f"{plural(snap.files_scanned, 'file')} scanned, {snap.files_read} read, {snap.files_changed} changed; "
        f"{units.size(snap.bytes_read)} read, {units.size(snap.bytes_new)} new on the drive."
    )
    passed = skipped(errors)
    if passed:
        text += (f" Skipped {plural(len(passed), 'special file')} (socket, FIFO or device; "
                 f"`timekeep errors {snap.id}` lists {'it' if len(passed) == 1 else 'them'}).")
    failed = failures(errors)
    count = max(snap.errors, len(failed))
    if not count:
        return text + " No errors."
    return "\n".join([f"{text} {plural(count, 'file')} could not be backed up:", *error_lines(failed)])


def quiet_backup_errors(snap: SnapshotInfo, failed: list[FileError]) -> str:
    """What `backup --quiet` prints: only the files that could not be backed up, if any."""
    count = max(snap.errors, len(failed))
    return "\n".join([f"Snapshot {snap.id} is incomplete: {plural(count, 'file')} could not be backed up:",
                      *error_lines(failed)])


def print_backup(snap: SnapshotInfo, errors: list[FileError], as_json: bool, quiet: bool,
                 extra: dict[str, Any] | None = None) -> None:
    """A finished backup on stdout: JSON (errors and skipped special files apart), a summary, or with
    `quiet` nothing unless files could not be backed up."""
    failed = failures(errors)
    if as_json:
        print_json({**snap.to_json(), "error_list": [e.to_json() for e in failed],
                    "skipped_list": [e.to_json() for e in skipped(errors)], **(extra or {})})
    elif not quiet:
        print(backup_summary(snap, errors))
    elif failed or snap.errors:
        print(quiet_backup_errors(snap, failed))


def print_skipped(message: str, as_json: bool, quiet: bool, extra: dict[str, Any] | None = None) -> None:
    """A backup that found nothing new and took no snapshot: one sentence, or JSON that says so."""
    if as_json:
        print_json({"skipped": True, "message": message, **(extra or {})})
    elif not quiet:
        print(message)
