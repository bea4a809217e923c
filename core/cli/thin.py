"""Commands that thin history: `coalesce` (run the coalescer now, or show what it would drop) and
`retention` (show or change the rule it follows)."""

from __future__ import annotations

import argparse
import sys
import threading

from core.cli.output import human_bytes, local_time, print_json
from core.cli.progress import make_reporter
from core.cli.repo import cancel_on_interrupt, open_repo
from core.errors import BackupCancelled, UsageError
from core.types import CoalesceReport, Retention

CANCELLED_EXIT = 130


def describe(rule: Retention) -> str:
    weekly = f"for {rule.weekly_weeks} weeks" if rule.weekly_weeks else "for ever"
    return (f"every snapshot of the last {rule.keep_all_hours} hours, then the last of each day for "
            f"{rule.daily_days} days, then the last of each week {weekly}")


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
            return CANCELLED_EXIT
        reporter.close()
    if args.json:
        print_json(report.to_json())
    elif not args.quiet or report.problems:
        print(summary(report))
    return 1 if report.problems else 0


def summary(report: CoalesceReport) -> str:
    lines = []
    if report.snapshots_dropped:
        ids = ", ".join(str(s) for s in report.snapshots_dropped)
        lines.append(f"Thinned {len(report.snapshots_dropped)} snapshot(s) ({ids}); freed "
                     f"{human_bytes(report.bytes_freed)}.")
    else:
        lines.append(f"Nothing to thin; freed {human_bytes(report.bytes_freed)} of unused chunks."
                     if report.bytes_freed else "Nothing to thin.")
    if report.snapshots_kept_for_last_copy:
        ids = ", ".join(str(s) for s in report.snapshots_kept_for_last_copy)
        lines.append(f"Kept snapshot(s) {ids}: each holds the only copy of a file deleted later.")
    lines.extend(f"problem: {p}" for p in report.problems)
    return "\n".join(lines)


def _dry_run(args: argparse.Namespace) -> int:
    if args.drop:
        raise UsageError("--dry-run shows what the retention rule would thin; it does not take --drop")
    with open_repo(args) as tk:
        dropped, spared = tk.thinning_plan()
        times = {s.id: s.time_ns for s in tk.snapshots()}
        rule = tk.retention()
    if args.json:
        print_json({"would_drop": dropped, "kept_for_last_copy": spared, "retention": rule.__dict__})
        return 0
    print(f"Retention: {describe(rule)}.")
    if not dropped:
        print("Nothing would be thinned now.")
    for sid in dropped:
        print(f"would thin  {sid:>6}  {local_time(times[sid])}")
    for sid in spared:
        print(f"would keep  {sid:>6}  {local_time(times[sid])}  (holds the only copy of a file)")
    return 0
