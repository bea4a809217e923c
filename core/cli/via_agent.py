"""`timekeep backup` while the agent runs: ask it for a storage time and follow its progress to the end.

The agent already knows what changed (its journal), so this reads only those files. When no agent runs,
or it does not serve the repository named with --repo, the caller backs up directly instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from core.cli.exits import CANCELLED, FAILED, backup_exit
from core.cli.output import failures, print_backup
from core.cli.progress import Reporter
from core.cli.repo import REPO_ENV
from core.types import FileError, SnapshotInfo

SNAPSHOT_FIELDS = {f.name for f in dataclasses.fields(SnapshotInfo)}


def backup_via_agent(args: argparse.Namespace, reporter: Reporter) -> int | None:
    """The exit code of a storage time the agent took, or None when the agent cannot take it."""
    from core.agent.paths import AgentPaths
    from core.agent.protocol import AgentClient

    client = AgentClient.connect(AgentPaths.from_platform().socket)
    if client is None:
        return None
    with client:
        repo = getattr(args, "repo", None) or os.environ.get(REPO_ENV) or None
        if repo is not None and not _serves(client.request("status"), repo):
            return None
        client.request("subscribe")
        job = client.request("backup_now", destination=repo)
        return _follow(client, int(job["job"]), args, reporter)


def _serves(status: dict[str, Any], repo: str) -> bool:
    wanted = os.path.abspath(repo)
    return any(d["path"] == wanted and d["present"] for d in status.get("destinations", []))


def _follow(client: Any, job_id: int, args: argparse.Namespace, reporter: Reporter) -> int:
    """Show the job's progress until it ends; a first Ctrl-C asks the agent to cancel it, a second one
    leaves at once (the agent finishes or cancels on its own)."""
    from core.agent.protocol import progress_from

    asked = False
    while True:
        try:
            for event in client.events():
                if event.get("job") != job_id:
                    continue
                if event.get("event") == "progress":
                    reporter(progress_from(event))
                elif event.get("event") == "job_finished":
                    reporter.close()
                    return _finished(event, args)
        except KeyboardInterrupt:
            if asked:
                raise
            asked = True
            client.request("cancel", job=job_id)


def _finished(event: dict[str, Any], args: argparse.Namespace) -> int:
    if event.get("cancelled"):
        print("backup cancelled; nothing was lost", file=sys.stderr)
        return CANCELLED
    if not event.get("ok") or not event.get("snapshot"):
        print(f"timekeep: {event.get('error') or event.get('skipped') or 'the storage time failed'}",
              file=sys.stderr)
        return FAILED
    snap = SnapshotInfo(**{k: v for k, v in event["snapshot"].items() if k in SNAPSHOT_FIELDS})
    errors = [FileError(os.fsencode(e["path"]), e["kind"], e["message"]) for e in event.get("errors", [])]
    print_backup(snap, errors, args.json, args.quiet, {"destination": event.get("destination")})
    return backup_exit(snap, failures(errors))
