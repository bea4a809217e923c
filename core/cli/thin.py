"""Commands that thin history: `coalesce` (run the coalescer now, or show what it would drop) and
`retention` (show or change the rule it follows)."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from timekeep.core import units
from timekeep.core.cli.exits import CANCELLED, DONE, FAILED
from timekeep.core.cli.output import local_time, plural, print_json
from timekeep.core.cli.progress import make_reporter
from timekeep.core.cli.repo import cancel_on_interrupt, open_repo
from timekeep.core.errors import BackupCancelled
from timekeep.core.types import CoalesceReport, Retention


def describe(rule: Retention) -> str:
    weekly = f"for {plural(rule.weekly_weeks, 'week')}" if rule.weekly_weeks else "for ever"
    return (f"every snapshot of the last {plural(rule.keep_all_hours, 'hour')}, then the last of each day for "
            f"{plural(rule.daily_days, 'day')}, then the last of each week {weekly}")


def cmd_retention(args: argparse.Namespace) -> int:
    changes = {k: v for k, v in (("keep_all_hours", args.keep_all_hours), ("daily_days", args.daily_days),
                                 ("weekly_weeks", args.weekly_weeks)) if v is not None}
    with open_repo(args, writer=bool(changes)) as tk:
        rule = tk.retention()
        if changes:
            rule = Retention(**{**rule.__dict__, **changes})
            tk.set_retention(rule)
    if args.json:
        print_json(rule.__dict__)
    else:
        print(f"{'Now keeping' if changes else 'Keeping'} {describe(rule)}.")
    return 0


def cmd_coalesce(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    refuse_during_incident()
    reporter = make_reporter(sys.stderr, args.quiet, args.json)
    cancel = threading.Event()
    with open_repo(args, writer=True) as tk:
        drop = [tk.resolve_time(spec).id for spec in args.drop] if args.drop else None
        try:
            with cancel_on_interrupt(cancel):
                report = tk.coalesce(progress=reporter, cancel=cancel, drop=drop)
        except (BackupCancelled, KeyboardInterrupt):
            reporter.close()
            print("thinning cancelled; nothing was lost", file=sys.stderr)
            return CANCELLED
        reporter.close()
    if args.json:
        print_json(report.to_json())
    elif not args.quiet or report.problems:
        print(summary(report))
    return FAILED if report.problems else DONE


def refuse_during_incident() -> None:
    """The guard suspects mass damage: thinning waits for the all-clear, from here as in the agent."""
    from timekeep.core.cli.guard_cmd import current_incident
    from timekeep.core.errors import ThinningPaused

    incident = current_incident()
    if incident is not None:
        raise ThinningPaused.since(incident.started)


def summary(report: CoalesceReport) -> str:
    lines = []
    if report.snapshots_dropped:
        ids = ", ".join(str(s) for s in report.snapshots_dropped)
        lines.append(f"Thinned {plural(len(report.snapshots_dropped), 'snapshot')} ({ids}); freed "
                     f"{units.size(report.bytes_freed)}.")
    else:
        lines.append(f"Nothing to thin; freed {units.size(report.bytes_freed)} of unused chunks."
                     if report.bytes_freed else "Nothing to thin.")
    if report.snapshots_kept_for_last_copy:
        lines.append(kept_sentence(report.snapshots_kept_for_last_copy))
    lines.extend(f"problem: {p}" for p in report.problems)
    return "\n".join(lines)


def kept_sentence(spared: Sequence[int]) -> str:
    ids = ", ".join(str(s) for s in spared)
    if len(spared) == 1:
        return f"Kept snapshot {ids}: it holds the only copy of a file deleted later."
    return f"Kept snapshots {ids}: each holds the only copy of a file deleted later."


def _dry_run(args: argparse.Namespace) -> int:
    """What `coalesce` would do, changing nothing: by the retention rule, or with --drop for exactly those
    snapshots (the same refusals as the real run; a snapshot holding a file's only copy is still spared)."""
    asked: list[int] = []
    with open_repo(args) as tk:
        snaps = tk.snapshots()
        if args.drop:
            asked = sorted({tk.resolve_time(spec).id for spec in args.drop})
        dropped, spared = tk.thinning_plan(drop=asked or None)
        rule = tk.retention()
    times = {s.id: s.time_ns for s in snaps}
    if args.json:
        print_json({"would_drop": dropped, "kept_for_last_copy": spared, "retention": rule.__dict__})
        return DONE
    print(f"Asked to thin {plural(len(asked), 'snapshot')}: {', '.join(map(str, asked))}." if asked
          else f"Retention: {describe(rule)}.")
    if not dropped:
        print("Nothing would be thinned now.")
    for sid in dropped:
        print(f"would thin  {sid:>6}  {local_time(times[sid])}")
    for sid in spared:
        print(f"would keep  {sid:>6}  {local_time(times[sid])}  (holds the only copy of a file)")
    return DONE
