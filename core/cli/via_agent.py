"""`timekeep backup` while the agent runs: ask it for a backup and follow its progress to the end.

The agent already knows what changed (its journal), so this reads only those files. When no agent runs,
or it does not serve the repository named with --repo, the caller backs up directly instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from timekeep.core.cli.exits import backup_exit
from timekeep.core.cli.output import failures, print_backup, print_skipped
from timekeep.core.cli.progress import Reporter
from timekeep.core.cli.repo import REPO_ENV, cancel_on_interrupt


def backup_via_agent(args: argparse.Namespace, reporter: Reporter) -> int | None:
    """The exit code of a backup the agent took, or None when the agent cannot take it. A first Ctrl-C
    asks the agent to cancel it, a second one leaves at once (the agent finishes or cancels on its own)."""
    from timekeep.core.agent.client import back_up_now

    repo = getattr(args, "repo", None) or os.environ.get(REPO_ENV) or None
    cancel = threading.Event()
    with cancel_on_interrupt(cancel):
        finished = back_up_now(repo, cancel, on_progress=reporter)
    if finished is None:
        return None
    reporter.close()
    result = finished.result
    if result.cancelled:
        print("backup cancelled; nothing was lost", file=sys.stderr)
        return result.exit_code
    if result.snapshot is None and result.ok and result.skipped:
        print_skipped(result.skipped, args.json, args.quiet, {"destination": result.destination})
        return 0
    if result.snapshot is None:
        print(f"timekeep: {result.message or 'the backup failed'}", file=sys.stderr)
        return result.exit_code or 1  # a failed job that stored nothing is no backup
    errors = list(result.errors)
    print_backup(result.snapshot, errors, args.json, args.quiet, {"destination": result.destination})
    return backup_exit(result.snapshot, failures(errors))
