"""`timekeep backup` while the agent runs: ask it for a backup and follow its progress to the end.

The agent already knows what changed (its journal), so this reads only those files. When no agent runs,
or it does not serve the repository named with --repo, the caller backs up directly instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core.cli.exits import backup_exit
from timekeep.core.cli.output import failures, print_backup, print_skipped
from timekeep.core.cli.progress import Reporter
from timekeep.core.cli.repo import REPO_ENV, cancel_on_interrupt, repo_path

if TYPE_CHECKING:
    from timekeep.core.agent.messages import JobFinished


def hand_over_passphrase(args: argparse.Namespace) -> None:
    """Give the agent, which holds the drive locked, the passphrase this command would unlock with itself
    ($TIMEKEEP_PASSPHRASE, --passphrase-file or the terminal); a wrong one is one line, exit 2."""
    from timekeep.core.agent.client import AgentClient, AgentError, agent_socket
    from timekeep.core.api import given_passphrase

    given = getattr(args, "passphrase_file", None)
    secret = given_passphrase(Path(given) if given else None)
    client = AgentClient.connect(agent_socket(), timeout=60.0)
    if client is None:
        raise AgentError("the agent stopped while the backup was being asked for")
    with client:
        client.unlock(str(repo_path(args)), secret)


def backup_via_agent(args: argparse.Namespace, reporter: Reporter) -> int | None:
    """The exit code of a backup the agent took, or None when the agent cannot take it. A first Ctrl-C
    asks the agent to cancel it, a second one leaves at once (the agent finishes or cancels on its own)."""
    from timekeep.core.agent.launch import socket_present

    if not socket_present():  # no agent: its client and wire format need not load
        return None
    from timekeep.core.agent.client import AgentError, back_up_now

    repo = getattr(args, "repo", None) or os.environ.get(REPO_ENV) or None
    cancel = threading.Event()
    with cancel_on_interrupt(cancel):
        try:
            finished = back_up_now(repo, cancel, on_progress=reporter)
        except AgentError as err:
            if err.kind != "KeyNeeded":
                raise
            hand_over_passphrase(args)  # the agent waits for the drive's passphrase: this command has it
            finished = back_up_now(repo, cancel, on_progress=reporter)
    if finished is None:
        return None
    reporter.close()
    return report_finished(finished, args.json, args.quiet)


def report_finished(finished: JobFinished, as_json: bool, quiet: bool) -> int:
    """Say how the agent's backup ended, as a backup in this process would; its exit code."""
    result = finished.result
    if result.cancelled:
        print("backup cancelled; nothing was lost", file=sys.stderr)
        return result.exit_code
    if result.snapshot is None and result.ok and result.skipped:
        print_skipped(result.skipped, as_json, quiet, {"destination": result.destination})
        return 0
    if result.snapshot is None:
        print(f"timekeep: {result.message or 'the backup failed'}", file=sys.stderr)
        return result.exit_code or 1  # a failed job that stored nothing is no backup
    errors = list(result.errors)
    away = finished.info.kind == "away"
    if away and not quiet:
        print("timekeep: the backup drive is not connected: this snapshot is kept on this computer and moves onto "
              "the drive when it returns", file=sys.stderr)
    print_backup(result.snapshot, errors, as_json, quiet,
                 {"destination": result.destination, **({"kept_on_this_computer": True} if away else {})})
    return backup_exit(result.snapshot, failures(errors))
