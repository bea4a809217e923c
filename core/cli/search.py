"""`timekeep find` and `timekeep diff`: anything in all of history by name, and what changed between two moments."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from timekeep.core import units
from timekeep.core.cli.output import local_time, plural, print_json, show_path
from timekeep.core.cli.repo import open_repo, user_path
from timekeep.core.errors import TimeBeforeFirstSnapshot, UsageError
from timekeep.core.types import Change, ChangeKind, Diff, Found, FoundPage

if TYPE_CHECKING:
    from timekeep.core.api import Timekeep

NOW = "now"
CHANGE_WORDS: dict[ChangeKind, str] = {"added": "added", "changed": "changed", "attributes": "attributes only",
                                       "deleted": "deleted", "renamed": "renamed"}


def cmd_find(args: argparse.Namespace) -> int:
    inside = None if args.inside is None else user_path(args.inside)
    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give a number of paths, or 0 for all of them")
    with open_repo(args) as tk:
        between = None
        if args.between is not None:
            between = (_first_at(tk, args.between[0]), tk.resolve_time(args.between[1]).id)
        if args.limit:
            page = tk.find_first(args.pattern, args.limit, deleted=args.deleted, inside=inside, between=between)
        else:
            page = FoundPage(tuple(tk.find(args.pattern, deleted=args.deleted, inside=inside, between=between)), 0)
    found = page.found
    if args.json:
        print_json([item.to_json() for item in found])
    elif not found:
        print(f"timekeep: nothing in the history has a name matching {args.pattern!r}", file=sys.stderr)
        return 1
    else:
        print("\n".join(found_line(item) for item in found))
    if page.more:
        print(f"timekeep: {page.more:,} more {'path matches' if page.more == 1 else 'paths match'}: refine the "
              f"pattern, or give --limit {len(found) + page.more} (0 for all)", file=sys.stderr)
    return 0


def _first_at(tk: Timekeep, spec: str) -> int:
    """The start of --between: the snapshot in force then, or the first one when the time is before it."""
    try:
        return tk.resolve_time(spec).id
    except TimeBeforeFirstSnapshot:
        return tk.snapshots()[0].id


def found_line(item: Found) -> str:
    """`present  file   12.0 KiB  changed 2026-11-20 14:03:05  snapshots 1-5, 8-12  /path`; a deleted one says
    when it went."""
    state = "present" if item.present else "deleted"
    size = units.size(item.size) if item.kind == "file" else ""
    gone = "" if item.deleted_ns is None else f"  deleted {local_time(item.deleted_ns)}"
    return (f"{state}  {item.kind:<7} {size:>10}  changed {local_time(item.changed_ns)}{gone}  "
            f"snapshots {spans_text(item.spans)}  {show_path(item.path)}")


def spans_text(spans: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in spans)


def cmd_diff(args: argparse.Namespace) -> int:
    path = None if args.path is None else user_path(args.path)
    if args.before.strip().lower() == NOW:
        raise UsageError("now can only be the later moment: timekeep diff T now")
    with open_repo(args) as tk:
        before = tk.resolve_time(args.before).id
        after = None if args.after.strip().lower() == NOW else tk.resolve_time(args.after).id
        found = tk.diff(before, after, path)
    if args.json:
        print_json(found.to_json())
        return 0
    print("\n".join([summary_line(found), *(change_line(c) for c in found.changes)]))
    return 0


def summary_line(found: Diff) -> str:
    """`Snapshot 3 (2026-11-20 14:03:05) to now: 2 added, 1 changed, ...`: the counts first."""
    after = "now" if found.after is None else f"snapshot {found.after.id} ({local_time(found.after.time_ns)})"
    counts = [f"{found.count(kind)} {word}" for kind, word in CHANGE_WORDS.items() if found.count(kind)]
    what = ", ".join(counts) if counts else "no changes"
    return (f"Snapshot {found.before.id} ({local_time(found.before.time_ns)}) to {after}: {what} "
            f"({plural(len(found.changes), 'path')})")


def change_line(change: Change) -> str:
    """`changed     12.0 KiB -> 14.1 KiB  /path`; a rename names both paths."""
    before = "" if change.size_before is None else units.size(change.size_before)
    after = "" if change.size_after is None else units.size(change.size_after)
    sizes = f"{before} -> {after}" if before and after and before != after else before or after
    if change.kind != "file":
        sizes = change.kind
    name = show_path(change.path)
    if change.origin is not None:
        name = f"{show_path(change.origin)} -> {name}"
    return f"{change.change:<10} {sizes:>24}  {name}"
