"""`timekeep guard restore FOLDER [--at T] [--to PLACE]` and `timekeep guard clear`: the one action offered after
a suspected incident (restore a folder as it was just before, to a new place by default) and the all-clear.

The incident is the running agent's (its status), or, with no agent running, the one it left in its state
folder. Restoring is the engine's restore: nothing is overwritten (a differing file already at the place is
kept and the restored one written beside it).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from timekeep.core.errors import UsageError

if TYPE_CHECKING:
    from timekeep.core.agent.messages import GuardIncident, GuardStatus
    from timekeep.core.cli.parser import Subparsers


def add_guard_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from timekeep.core.cli.parser import TIME_HELP, lazy

    guard = sub.add_parser("guard", help="after suspected mass damage: restore a folder as it was, or say all clear",
                           description="The agent's guard against mass damage (ransomware-like bursts of changes).")
    verbs = guard.add_subparsers(dest="guard_command", metavar="ACTION", required=True)
    restore = verbs.add_parser("restore", parents=[common], help="restore FOLDER as it was before the incident, "
                               "to a new place", description="Restore FOLDER as it was at T (default: the last "
                               "snapshot before the suspected incident) into a new folder beside it, or into PLACE. "
                               "Nothing is overwritten.")
    restore.set_defaults(func=lazy("guard_cmd", "cmd_guard_restore"))
    restore.add_argument("folder", metavar="FOLDER")
    restore.add_argument("--at", metavar="T", help=TIME_HELP + "; default: the snapshot before the incident")
    restore.add_argument("--to", metavar="PLACE", help="restore into PLACE/<name> (default: a new folder beside "
                         "FOLDER, named after the time)")
    restore.add_argument("--json", action="store_true", help="print JSON for scripts")
    clear = verbs.add_parser("clear", parents=[common], help="it was me: end the incident, resume thinning and "
                             "automatic backups", description="End the suspected incident: thinning and "
                             "automatic backups resume.")
    clear.set_defaults(func=lazy("guard_cmd", "cmd_guard_clear"))


def guard_lines(guard: GuardStatus | None) -> list[str]:
    """What `timekeep status` says of the guard."""
    if guard is None:
        return []
    if not guard.enabled:
        return ["Guard against mass damage: off."]
    incident = guard.incident
    if incident is None:
        return ["Guard against mass damage: on, nothing suspected."]
    lines = [f"GUARD: suspected mass damage since {_local(incident.started)} in "
             f"{', '.join(incident.folders) or 'the protected folders'}; thinning and automatic backups are paused."]
    lines += [f"  {reason}" for reason in incident.reasons]
    for before in incident.before:
        when = f"snapshot {before.snapshot} ({_local(before.time)})" if before.snapshot is not None else "none"
        lines.append(f"  Before it on {before.destination}: {when}")
    lines.append("  Restore a folder as it was: timekeep guard restore FOLDER [--to PLACE]; "
                 "if it was you: timekeep guard clear")
    return lines


def _local(iso: str | None) -> str:
    if not iso:
        return "an unknown time"
    from timekeep.core.agent.messages import iso_ns
    from timekeep.core.cli.output import local_time

    ns = iso_ns(iso)
    return iso if ns is None else local_time(ns)


def left_incident() -> GuardStatus | None:
    """The incident a stopped agent left in its state folder, as the guard's status; None when there is none."""
    from timekeep.core.agent.messages import GuardStatus
    from timekeep.core.api import left_incident as left

    incident = left()
    return None if incident is None else GuardStatus(True, incident)


def current_incident() -> GuardIncident | None:
    """The running agent's incident; with no agent, the one its state folder holds."""
    from timekeep.core.agent.client import AgentClient, agent_socket
    from timekeep.core.api import left_incident as left

    client = AgentClient.connect(agent_socket(), timeout=15)
    if client is None:
        return left()
    with client:
        guard = client.status().guard
    return None if guard is None else guard.incident


def cmd_guard_clear(args: argparse.Namespace) -> int:
    from timekeep.core.agent.client import AgentClient, agent_socket
    from timekeep.core.api import forget_incident

    client = AgentClient.connect(agent_socket(), timeout=15)
    if client is None:
        had = forget_incident()
    else:
        with client:
            guard = client.status().guard
            had = guard is not None and guard.incident is not None
            client.guard_clear()
    print("All clear: thinning and automatic backups resume." if had else "No incident was open; nothing changed.")
    return 0


def _restore_point(args: argparse.Namespace) -> str:
    """T as given, else the snapshot before the incident on this repository."""
    if args.at:
        return str(args.at)
    incident = current_incident()
    if incident is None:
        raise UsageError("no suspected incident is open; say which moment to restore with --at T")
    from timekeep.core.cli.repo import repo_path

    repo = str(repo_path(args))
    before = incident.before_on(repo)
    if before is None:
        raise UsageError(f"the incident names no snapshot before it on {repo}; say which moment with --at T")
    return str(before.snapshot)


def cmd_guard_restore(args: argparse.Namespace) -> int:
    from timekeep.core.api import restore_place
    from timekeep.core.cli.browse import restore_json, restore_sentences
    from timekeep.core.cli.output import error_lines, local_time, print_json
    from timekeep.core.cli.repo import open_repo, user_path

    folder = user_path(args.folder)
    at = _restore_point(args)
    with open_repo(args) as tk:
        snap = tk.resolve_time(at)
        found = tk.locate(folder, snap.id)
        when = local_time(found.snapshot.time_ns, seconds=False)
        place = os.fsencode(os.path.abspath(args.to)) if args.to else restore_place(folder, when)
        os.makedirs(place, exist_ok=True)
        result = tk.restore(folder, found.snapshot.id, dest=place, overwrite=False)
    if args.json:
        print_json({**restore_json(result, found.snapshot), "place": os.fsdecode(place)})
    else:
        print("\n".join(restore_sentences(result, folder, found.snapshot)))
        print(f"It is in {os.fsdecode(os.path.join(place, os.path.basename(folder.rstrip(b'/'))))}.")
    for line in error_lines(result.errors):
        print(f"timekeep: could not restore {line.strip()}", file=sys.stderr)
    for warning in result.warnings:
        print(f"timekeep: {warning}", file=sys.stderr)
    return 1 if result.errors or result.warnings else 0
