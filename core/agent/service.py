"""What the agent answers on its socket: one method per protocol op (see `timekeep.core.agent.protocol`), each answer
built from the typed records of `timekeep.core.agent.messages`.

`plan` and `chunk` are the agent as a first server: another process asks for a version, the plan names
every piece's chunk, the chunks come one by one, and the caller combines them itself (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from timekeep.core.agent.agent import Agent
from timekeep.core.agent.destination import Destination
from timekeep.core.agent.messages import Changed, DestinationStatus, FolderStatus, Status
from timekeep.core.agent.protocol import Wire, chunk_json, path_bytes, path_text, plan_json
from timekeep.core.agent.server import Connection
from timekeep.core.agent.where import key_of
from timekeep.core.errors import UsageError
from timekeep.core.schedule.policy import held_back
from timekeep.core.types import iso_utc

AWAY_NOTE = "its backup drive is not connected; what changes meanwhile is found by a scan when it is"
AWAY_KEPT = "its backup drive is not connected; what changes meanwhile is kept on this computer until it is"


def _iso(ns: int | None) -> str | None:
    return None if ns is None else iso_utc(ns)


def _iso_time(moment: datetime | None) -> str | None:
    """Every time the agent sends is UTC with a Z, to the second, like a snapshot's."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Service:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def dispatch(self, op: str, params: Wire, conn: Connection) -> Any:
        if op == "subscribe":  # the one op about the connection itself: events follow on it
            conn.subscribed = True
            return {"subscribed": True}
        if op == "backup_now" and params.pop("subscribe", False):
            conn.subscribed = True  # before the job is queued: none of its events can be missed
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise UsageError(f"unknown request {op!r}")
        return handler(**params)

    def op_status(self) -> Wire:
        return self.status().to_wire()

    def status(self) -> Status:
        agent = self.agent
        job = agent.runner.current()
        situation = agent.situation()
        when, where, why = agent.next_plan()
        return Status(
            pid=os.getpid(),
            state="paused" if agent.paused else ("idle" if job is None else f"{job.kind} running"),
            paused=agent.paused,
            on_battery=agent.on_battery,
            held_back=held_back(agent.policy, situation),
            job=None if job is None else job.info(),
            last_storage_time=_iso_time(agent.executor.last_storage),
            next_storage_time=_iso_time(when),  # null until a destination is connected
            next_destination=where,
            next_trigger=why,
            drive_detection=agent.drive_detection,
            destinations=tuple(self._destination(d) for d in agent.destinations.values()),
            folders=self._folders(),
            last_result=agent.executor.last_result,
            guard=agent.guard.status(),
        )

    def _destination(self, dest: Destination) -> DestinationStatus:
        return DestinationStatus(dest.key, dest.present, dest.presence.reason, dest.presence.repository_id,
                                 dest.snapshot_count, _iso(dest.last_ns), dest.stats.paths, dest.stats.bytes,
                                 dest.needs_reconcile, dest.locked, self.agent.away.describe(dest),
                                 self.agent.away.takes(dest))

    def _folders(self) -> tuple[FolderStatus, ...]:
        """The protected folders of every destination seen since the agent started, connected or not."""
        plan = self.agent.watcher.plan
        dests = list(self.agent.destinations.values())
        connected = {root for dest in dests if dest.present for root in dest.folders}
        roots = sorted({root for dest in dests for root in dest.folders})
        return tuple(FolderStatus(path_text(root), root in plan.watched, root in connected,
                                  plan.fallback.get(root) if root in connected
                                  else AWAY_KEPT if root in plan.watched else AWAY_NOTE,
                                  tuple(d.key for d in dests if root in d.folders))
                     for root in roots)

    def op_backup_now(self, destination: str | None = None, if_taken: bool = False) -> Wire:
        """Queue a storage time. `if_taken` (with `subscribe`, the command line's slim path in one round trip
        instead of status, subscribe and backup_now): `{"taken": false}`, nothing queued, when the named
        destination is neither connected nor kept on this computer while away."""
        key = _destination_key(destination)
        if if_taken and key is not None and not self.takes(key):
            return {"taken": False}
        job = self.agent.request_backup("backup-now", key, explicit=True)
        return job.info().to_wire()

    def takes(self, key: str) -> bool:
        """Whether a storage time of `key` is taken here: one of the destinations, connected or kept on this
        computer while away (as the status's `present` and `keeps_here` say)."""
        dest = self.agent.destinations.get(key)
        return dest is not None and (dest.present or self.agent.away.takes(dest))

    def op_coalesce_now(self) -> Wire:
        """Thin history on every connected destination now (after a storage time for what changed)."""
        jobs = self.agent.coalesce_all("requested")
        if not jobs:
            raise UsageError("no destination is connected; plug in the backup drive")
        return {"jobs": [job.info().to_wire() for job in jobs]}

    def op_guard_clear(self) -> Wire:
        """The person's all-clear after a suspected incident: thinning and automatic storage times resume."""
        return self.agent.guard.clear().to_wire()

    def op_cancel(self, job: int) -> Wire:
        return {"cancelled": self.agent.runner.cancel(int(job))}

    def op_pause(self) -> Wire:
        self.agent.paused = True
        return {"paused": True}

    def op_resume(self) -> Wire:
        self.agent.paused = False
        return {"paused": False}

    def op_unlock(self, path: str, secret: str) -> Wire:
        """Unlock an encrypted destination with the passphrase a person gave; the key stays in memory."""
        key = _destination_key(path)
        if key is None:
            raise UsageError("unlock needs the repository's path")
        self.agent.unlocks.give(key, secret)
        dest = self.agent.destinations[key]
        return {"path": key, "locked": dest.locked}

    def _pick(self, destination: str | None) -> Destination:
        """The named destination, or the connected one holding the latest snapshot."""
        key = _destination_key(destination)
        if key is not None:
            dest = self.agent.destinations.get(key)
            if dest is None or not dest.present:
                raise UsageError(f"{key} is not a connected destination of the agent")
            return dest
        present = sorted(self.agent.present(), key=lambda d: d.last_ns or 0)
        if not present:
            raise UsageError("no destination is connected")
        return present[-1]

    def op_plan(self, path: str, at: str = "latest", destination: str | None = None) -> Wire:
        dest = self._pick(destination)
        with dest.reader_lock:
            tk = dest.reader()
            snap = tk.resolve_time(str(at))
            plan = tk.plan(path_bytes(path), snap.id)
        return {"destination": dest.key, "snapshot": snap.to_json(), "plan": plan_json(plan)}

    def op_chunk(self, digest: str, destination: str | None = None) -> Wire:
        dest = self._pick(destination)
        with dest.reader_lock:
            data = dest.reader().read_chunk(bytes.fromhex(digest))
        return chunk_json(data)

    def op_changed(self, path: str, destination: str | None = None) -> Wire:
        """Paths under `path` changed since the destination's last storage time: the timeline's "now"."""
        dest = self._pick(destination)
        self.agent.flush()
        with dest.journal() as view:
            rows = view.changed_under(path_bytes(path))
        return {"destination": dest.key, "changed": [Changed(p, iso_utc(t)).to_wire() for p, t in rows]}


def _destination_key(destination: str | None) -> str | None:
    return None if not destination else key_of(destination)
