"""`timekeep agent [--install | --uninstall | --if-configured]` and `timekeep status [--json]`.

`status` asks the running agent; without one it says so and reads what it can from the repository.
Engine and agent modules load inside the commands, so other commands do not pay for them.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from timekeep.core import units
from timekeep.core.cli.guard_cmd import guard_lines, left_incident
from timekeep.core.cli.output import plural, print_json, show_path
from timekeep.core.cli.repo import REPO_ENV

if TYPE_CHECKING:
    from timekeep.core.agent.messages import DestinationStatus, FolderStatus, Status
    from timekeep.core.errors import DriveGone


LOCKED_WITHOUT_AGENT = ("encrypted: give its passphrase ($TIMEKEEP_PASSPHRASE or --passphrase-file), or keep it in "
                        "the keyring with `timekeep unlock --remember`")


def _repo_arg(args: argparse.Namespace) -> str | None:
    return getattr(args, "repo", None) or os.environ.get(REPO_ENV) or None


def cmd_agent(args: argparse.Namespace) -> int:
    """Run the agent; --install remembers --repo (else the configured repository) among its destinations and
    writes the session entries; --if-configured runs it only when settings name a destination."""
    from timekeep.core.agent import launch

    if args.uninstall:
        print("\n".join(launch.uninstall()))
        return 0
    if args.install:
        print("\n".join(launch.install(_repo_arg(args))))
        return 0
    if getattr(args, "if_configured", False) and _repo_arg(args) is None and not launch.configured():
        launch.note_not_configured()  # a session that never set Timekeep up: nothing to protect, nothing shown
        return 0
    return launch.run(_repo_arg(args))


def cmd_status(args: argparse.Namespace) -> int:
    from timekeep.core.agent.client import AgentClient, agent_socket

    client = AgentClient.connect(agent_socket(), timeout=15)
    if client is None:
        return _status_without_agent(args)
    with client:
        status = client.status()
    if args.json:
        print_json({"agent": True, **status.to_wire()})
    else:
        print("\n".join(status_lines(status)))
    return 0


def _status_without_agent(args: argparse.Namespace) -> int:
    from timekeep.core.cli.repo import configured_repository

    repo = _repo_arg(args) or configured_repository()
    found: dict[str, Any] = {"agent": False}
    if repo is not None:
        found.update(_repository_status(repo))
    incident = left_incident()  # an incident the agent held when it stopped still pauses thinning
    if incident is not None:
        found["guard"] = incident.to_wire()
    if args.json:
        print_json(found)
        return 0
    print("The agent is not running; start it with `timekeep agent` (or `timekeep agent --install`).")
    if incident is not None:
        print("\n".join(guard_lines(incident)))
    if repo is not None:
        from timekeep.core.agent.messages import DestinationStatus

        print(_destination_line(DestinationStatus(found["repository"], found.get("present", True),
                                                  found.get("reason", ""), snapshots=found["snapshots"] or 0,
                                                  latest=found["latest"], pending_paths=found["pending_paths"],
                                                  pending_bytes=found["pending_bytes"], locked=found.get("locked"),
                                                  away=found.get("away"))))
    return 0


def _repository_status(repo: str) -> dict[str, Any]:
    from timekeep.core.api import is_remote
    from timekeep.core.errors import DriveGone

    try:
        return _reached_status(repo)
    except DriveGone as gone:
        if not is_remote(repo):
            raise
        return _offline_status(repo, gone)


def _offline_status(repo: str, gone: DriveGone) -> dict[str, Any]:
    """A bucket out of reach: its snapshots as this computer's index knows them (when no key is needed or one
    is at hand without asking), and its away store."""
    from timekeep.core.api import away_summary, open_offline
    from timekeep.core.errors import TimekeepError
    from timekeep.core.types import iso_utc

    try:
        reader = open_offline(repo)
    except TimekeepError:
        reader = None
    snaps = []
    if reader is not None:
        with reader:
            snaps = reader.snapshots()
    return {"repository": repo, "present": False, "reason": str(gone), "away": away_summary(repo),
            "snapshots": len(snaps) if reader is not None else None,
            "latest": iso_utc(snaps[-1].time_ns) if snaps else None, "pending_paths": 0, "pending_bytes": 0}


def _reached_status(repo: str) -> dict[str, Any]:
    from timekeep.core.api import Timekeep, away_summary, missing_drive, unlock
    from timekeep.core.errors import NotARepository, PassphraseUnavailable, WrongKey
    from timekeep.core.types import iso_utc

    try:
        unlock(repo, interactive=False)  # never asks: a status is no reason to type a passphrase
    except (PassphraseUnavailable, WrongKey):
        return {"repository": os.path.abspath(repo), "locked": LOCKED_WITHOUT_AGENT, "snapshots": None, "latest": None,
                "pending_paths": 0, "pending_bytes": 0}
    except NotARepository:
        pass  # said below, with the drive that is away
    try:
        with Timekeep.open(repo) as tk:
            snaps = tk.snapshots()
            stats = tk.journal.stats()
    except NotARepository:
        absent = missing_drive(repo)
        kept = away_summary(os.path.abspath(repo))  # what the agent kept on this computer while it is away
        if kept is not None:
            return {"repository": os.path.abspath(repo), "present": False, "reason": absent or "not there",
                    "away": kept, "snapshots": None, "latest": None, "pending_paths": 0, "pending_bytes": 0}
        if absent is None:
            raise
        raise NotARepository(absent) from None
    return {"repository": str(tk.root), "snapshots": len(snaps),
            "latest": iso_utc(snaps[-1].time_ns) if snaps else None,
            "pending_paths": stats.paths, "pending_bytes": stats.bytes}


def status_lines(status: Status) -> list[str]:
    """The agent's status for people: what it does, where it stores, what it watches, what waits."""
    held = f" (held back: {status.held_back})" if status.held_back else ""
    lines = [f"Agent running (process {status.pid}): {status.state}{held}.", _next_line(status), "Destinations:"]
    lines += ["  " + _destination_line(d) for d in status.destinations]
    if status.drive_detection:
        lines.append(f"Drive detection: {status.drive_detection}.")
    lines += _folder_lines(status.folders, any(d.present for d in status.destinations))
    lines += guard_lines(status.guard)
    last = status.last_result
    if last is not None and last.snapshot is not None:
        snap = last.snapshot
        lines.append(f"Last backup: snapshot {snap.id} on {last.destination} ({snap.trigger}): "
                     f"{plural(snap.files_read, 'file')} read, {snap.files_changed} changed.")
    return lines


def _next_line(status: Status) -> str:
    where = status.next_destination
    locked = [d.path for d in status.destinations if d.present and d.locked]
    if not where and locked:
        return f"Next backup: once {locked[0]} is unlocked."
    if not where:
        return "Next backup: when a backup drive is connected."
    why = {"first": " (its first snapshot)", "drive-connected": " (it was just connected)",
           "journal-bound": " (many changes wait)"}.get(status.next_trigger or "", "")
    return f"Next backup: {_local(status.next_storage_time)} on {where}{why}."


def _folder_lines(folders: tuple[FolderStatus, ...], connected: bool) -> list[str]:
    if not folders and connected:
        return ["Folders: none yet: protect one with `timekeep add FOLDER`."]
    if not folders:
        return ["Folders: none known yet: each backup drive records the folders it protects, and none has "
                "been connected since the agent started."]
    lines = ["Folders:"]
    for folder in folders:
        if folder.watched and not folder.connected:
            how = f"watched: {folder.note}"
        elif folder.watched:
            how = "watched"
        elif not folder.connected:
            how = f"not watched: {folder.note}"
        else:
            how = f"scanned at each backup: {folder.note}"
        lines.append(f"  {show_path(os.fsencode(folder.path))}  {how}")
    return lines


def _destination_line(dest: DestinationStatus) -> str:
    away = f"; away history: {dest.away}" if dest.away else ""
    if not dest.present:
        return f"{dest.path}  absent: {dest.reason}{away}"
    latest = f", latest {_local(dest.latest)}" if dest.latest else ""
    waiting = f"; {plural(dest.pending_paths, 'change')} ({units.size(dest.pending_bytes)}) waiting for the next backup"
    if dest.locked:
        return f"{dest.path}  locked: {dest.locked}{waiting}{away}"
    return f"{dest.path}  connected: {plural(dest.snapshots, 'snapshot')}{latest}{waiting}{away}"


def _local(iso: str | None) -> str:
    from datetime import datetime

    if not iso:
        return "not planned"
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M:%S")
