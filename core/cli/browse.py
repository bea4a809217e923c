"""The commands that look back and bring things back: snapshots, errors, ls, log, cat, restore."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from timekeep.core.cli.output import (
    above_json,
    above_line,
    entry_json,
    entry_line,
    error_lines,
    failures,
    local_time,
    plural,
    print_json,
    show_path,
    skipped,
    snapshot_lines,
    version_json,
    version_lines,
)
from timekeep.core.cli.progress import make_reporter
from timekeep.core.cli.repo import open_repo, user_path
from timekeep.core.paths import is_inside
from timekeep.core.types import Entry, FileError, Located, RestoreResult, SnapshotInfo


def cmd_snapshots(args: argparse.Namespace) -> int:
    with open_repo(args) as tk:
        snaps = sorted(tk.snapshots(), key=lambda s: (s.time_ns, s.id))
        lost = tk.lost_snapshots()
    for sid in lost:  # said, not hidden: the snapshots after it may show some files as they were before it
        print(f"timekeep: snapshot {sid} is lost (its record is gone from the drive and the index); later "
              "snapshots may miss what was created there or show what changed there as it was before", file=sys.stderr)
    if args.json:
        print_json([s.to_json() for s in snaps])
    elif not snaps:
        print("No snapshots yet: timekeep backup")
    else:
        print("\n".join(snapshot_lines(snaps)))
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    with open_repo(args) as tk:
        snap = tk.resolve_time(args.snapshot)
        errors = tk.snapshot_errors(snap.id)
    if args.json:
        print_json([e.to_json() for e in errors])  # skipped special files have the kind "skipped"
    else:
        print("\n".join(errors_report(snap, errors)))
    return 0


def errors_report(snap: SnapshotInfo, errors: list[FileError]) -> list[str]:
    """What could not be backed up, then (not errors) the special files the snapshot skipped."""
    when = f"Snapshot {snap.id} ({local_time(snap.time_ns)})"
    failed, passed = failures(errors), skipped(errors)
    lines = [f"{when} could not back up:", *error_lines(failed)] if failed else [f"{when} recorded no errors."]
    if passed:
        lines.append(f"It skipped {plural(len(passed), 'special file')} (sockets, FIFOs and devices are never "
                     "backed up):")
        lines += [f"  {show_path(e.path)}" for e in passed]
    return lines


def cmd_ls(args: argparse.Namespace) -> int:
    path = None if args.path is None else user_path(args.path)
    with open_repo(args) as tk:
        snap = tk.resolve_time(args.at)
        above = None if path is None else folders_under(path, tk.list_dir(None, snap.id))
        if path is not None and above is None:
            found = tk.locate(path, snap.id)  # a deleted folder lists as it was just before
            snap = found.snapshot
            for line in deleted_sentence(path, found):
                print(f"timekeep: {line}", file=sys.stderr)
        entries: list[Entry | bytes] = [*tk.list_dir(path, snap.id)] if above is None else above
    if args.json:
        print_json([entry_json(e) if isinstance(e, Entry) else above_json(e) for e in entries])
    else:
        for entry in entries:
            print(entry_line(entry) if isinstance(entry, Entry) else above_line(entry))
    return 0


def folders_under(path: bytes, roots: list[Entry]) -> list[Entry | bytes] | None:
    """For a folder that holds protected folders without being in one (`ls ~`): the next folder down
    towards each, as the protected folder's own entry when it is one step down, else as a bare path (a
    folder Timekeep does not store). None when `path` is in a protected folder or leads to none."""
    if any(is_inside(path, root.path) for root in roots):
        return None
    prefix = path.rstrip(b"/") + b"/"
    steps: dict[bytes, Entry | bytes] = {}
    for root in roots:
        if root.path.startswith(prefix):
            step = prefix + root.path[len(prefix) :].split(b"/")[0]
            if step == root.path:
                steps[step] = root
            else:
                steps.setdefault(step, step)
    return [steps[step] for step in sorted(steps)] or None


def cmd_log(args: argparse.Namespace) -> int:
    path = user_path(args.file)
    with open_repo(args) as tk:
        versions = tk.versions(path)
    if args.json:
        print_json([version_json(v) for v in versions])
    elif not versions:
        print(f"No versions of {show_path(path)} are stored.", file=sys.stderr)
        return 1
    else:
        print("\n".join(version_lines(versions)))
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    path = user_path(args.file)
    with open_repo(args) as tk:
        found = tk.locate(path, tk.resolve_time(args.at).id)
        for line in deleted_sentence(path, found):  # stdout holds the bytes alone
            print(f"timekeep: {line}", file=sys.stderr)
        plan = tk.plan(path, found.snapshot.id)
        sys.stdout.flush()
        tk.write_version(plan, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    if plan.doubt is not None:
        print(f"timekeep: {plan.doubt}", file=sys.stderr)
        return 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    path = user_path(args.path)
    dest = None if args.to is None else os.fsencode(os.path.abspath(args.to))
    reporter = make_reporter(sys.stderr, args.quiet, args.json)
    with open_repo(args) as tk:
        found = tk.locate(path, tk.resolve_time(args.at).id)
        snap = found.snapshot
        try:
            result = tk.restore(path, snap.id, dest=dest, overwrite=args.overwrite, progress=reporter)
        finally:
            reporter.close()
    if args.json:
        print_json({**restore_json(result, snap),
                    "deleted_in": None if found.deleted_in is None else found.deleted_in.to_json()})
    else:
        if not args.quiet:
            print("\n".join([*deleted_sentence(path, found), *restore_sentences(result, path, snap)]))
        for line in error_lines(result.errors):
            print(f"timekeep: could not restore {line.strip()}", file=sys.stderr)
    for warning in result.warnings:
        print(f"timekeep: {warning}", file=sys.stderr)
    return 1 if result.errors or result.warnings else 0


def restore_json(result: RestoreResult, snap: SnapshotInfo) -> dict[str, Any]:
    return {
        "snapshot": snap.to_json(),
        "written": [os.fsdecode(p) for p in result.written],
        "kept_beside": [{"kept": os.fsdecode(a), "restored": os.fsdecode(b)} for a, b in result.kept_beside],
        "unchanged": result.unchanged,
        "already_beside": [{"kept": os.fsdecode(a), "restored": os.fsdecode(b)} for a, b in result.already_beside],
        "metadata_kept": result.metadata_kept,
        "errors": [e.to_json() for e in result.errors],
        "warnings": list(result.warnings),
    }


def restore_sentences(result: RestoreResult, path: bytes, snap: SnapshotInfo) -> list[str]:
    """Plain sentences: what was restored, what was kept beside a differing file, what was already right."""
    when = local_time(snap.time_ns, seconds=False)
    beside = {restored for _, restored in result.kept_beside}
    written = [p for p in result.written if p not in beside]
    lines = []
    if len(written) == 1:
        lines.append(f"Restored {_name(written[0])} as it was on {when}.")
    elif written:
        lines.append(f"Restored {len(written)} files of {_name(path)} as it was on {when}.")
    for kept, restored in result.kept_beside:
        lines.append(f"{_name(kept)} differs from the stored version; kept it and wrote {_name(restored)} beside it.")
    for kept, restored in result.already_beside:
        lines.append(f"{_name(kept)} differs from the stored version; {_name(restored)} beside it already holds "
                     "that version, so nothing was written.")
    if result.unchanged:
        lines.append(_unchanged_sentence(result, when))
    if not lines and not result.errors:
        lines.append(f"Nothing to restore from {_name(path)} as it was on {when}.")
    return lines


def _unchanged_sentence(result: RestoreResult, when: str) -> str:
    """What was already there: left untouched, and, without --overwrite, with the metadata it has now."""
    noun = "file was" if result.unchanged == 1 else "files were"
    line = f"{result.unchanged} {noun} already as on {when}, so left untouched"
    if not result.metadata_kept:
        return line + "."
    some = "it has" if result.unchanged == 1 else f"{result.metadata_kept} of them have"
    return (f"{line} ({some} other permissions, owner or times now, kept as they are; --overwrite sets them "
            "back).")


def deleted_sentence(path: bytes, found: Located) -> list[str]:
    """For a path asked for after its deletion: where it went, and which snapshot it is read from instead."""
    if found.deleted_in is None:
        return []
    gone, kept = found.deleted_in, found.snapshot
    return [f"{_name(path)} was deleted in snapshot {gone.id} ({local_time(gone.time_ns)}); its last version is "
            f"in snapshot {kept.id} ({local_time(kept.time_ns)})."]


def _name(path: bytes) -> str:
    return show_path(os.path.basename(path.rstrip(b"/")) or path)
