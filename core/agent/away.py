"""The agent's away stores: history kept on this computer while a destination's drive is absent.

While a drive the agent has seen is away, the folders it protects stay watched; their changes are journaled
in that destination's away store (timekeep.core.away), and the storage times the schedule makes due go there
(job kind "away", trigger "away"). When the drive is back, a "move" job puts the away snapshots onto it, in
time order, before any other storage time of it; the store is then removed.

A destination gets an away store only when it can be kept as safely as the drive: an unencrypted one, or an
encrypted one whose key this agent holds (it unlocked the drive since it started). Otherwise its changes wait
for the drive as before, and the status says why. A bucket out of reach is away as an unplugged drive is: its
store is found by the repository id last seen there (by this agent, else as this computer remembers it,
timekeep.core.offline), and its key slots are copied from the bucket when it is reached.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core.agent.destination import Destination, protected_by
from timekeep.core.agent.executor import FAILURES
from timekeep.core.agent.jobs import Job
from timekeep.core.agent.messages import JobProgress, JobResult
from timekeep.core.api import Timekeep, is_encrypted, locate
from timekeep.core.away import keeping, moving, store
from timekeep.core.capture.excludes import Excludes
from timekeep.core.crypto.sealing import unlocked
from timekeep.core.index.journal import JournalEntry

if TYPE_CHECKING:
    from timekeep.core.agent.agent import Agent

log = logging.getLogger(__name__)


def last_seen_in_bucket(agent: Agent, location: str) -> str | None:
    """The id of the repository last seen in the bucket at `location`: by this agent's looks, else by any
    open this computer made there."""
    from timekeep.core.offline.record import recall

    looks = agent.comings.buckets.looks.get(location)
    if looks is not None and looks.repository_id is not None:
        return looks.repository_id
    found = recall(location)
    return None if found is None else found.config.repository_id


class AwayStores:
    """Follows each destination's away store (a drive's or a bucket's): journals into it, queues its storage
    times and its move."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.encrypted: dict[str, bool] = {}  # learned while the drive was there
        self.pending: dict[str, int] = {}  # paths journaled in each store, as last counted
        self.folders: dict[str, dict[bytes, Excludes]] = {}  # each away destination's, as last known
        self.why_not: dict[str, str] = {}  # why a destination away keeps no history here
        self._move_tried: set[str] = set()  # moved (or tried) since it came back
        self._roots: set[bytes] = set()  # the folders watched for the away stores
        self._looked: set[str] = set()  # drives looked at (encrypted? their key slots copied) since they came
        agent.executor.extra.update({"away": self._store, "move": self._move})
        agent.executor.before_storage = self.move_first

    def path_of(self, dest: Destination) -> Path | None:
        """The destination's away store, by its repository id (as last seen on the drive)."""
        rid = dest.presence.repository_id if dest.present else None  # absent: another repository may be there
        if rid is None and dest.remote:
            rid = last_seen_in_bucket(self.agent, dest.key)
        elif rid is None:
            known = self.agent.poller.known.get(Path(dest.key))
            rid = known[0] if known else None
        return None if rid is None else store.path_for(rid)

    def cap(self, path: Path) -> int:
        return store.cap_from(self.agent.config.raw, path)

    # following the destinations
    def check(self) -> None:
        """After each drive poll: learn what the drives present are, queue the move of a drive come back."""
        for dest in self.agent.destinations.values():
            if not dest.present:
                self._move_tried.discard(dest.key)
                self._looked.discard(dest.key)
                continue
            if dest.folders:
                self.folders[dest.key] = dict(dest.folders)
            path = self.path_of(dest)
            if dest.key not in self._looked:  # once each time it comes: it may have been encrypted meanwhile
                try:  # as the poll that found it read it: the drive may be gone again by now
                    known = dest.presence.encrypted
                    self.encrypted[dest.key] = is_encrypted(dest.path) if known is None else known
                except FAILURES:
                    continue
                if self.encrypted[dest.key] and path is not None:
                    self._mirror(dest, path)
                self._looked.add(dest.key)
            if dest.locked is None and dest.key not in self._move_tried and path is not None \
                    and store.exists(path):
                self._move_tried.add(dest.key)
                self.agent.runner.submit("move", dest.key, "drive-returned")
        roots = self.roots()
        if roots != self._roots:  # a drive went before this learned what it was: watch its folders now
            self._roots = roots
            self.agent._rewatch()

    def _mirror(self, dest: Destination, path: Path) -> None:
        """Keep a copy of an encrypted drive's key slots, so its passphrase opens the away store (the CLI, the
        window) while the drive is away."""
        try:
            store.mirror_slots(locate(dest.path), path.name)
        except FAILURES as err:
            log.warning("%s: cannot copy its key slots for its away store: %s", dest.key, err)

    def away(self) -> list[tuple[Destination, Path]]:
        """The destinations away now that may keep history here, with their stores."""
        found = []
        for dest in self.agent.destinations.values():
            path = None if dest.present else self.path_of(dest)
            if path is not None and self._may_keep(dest, path):
                found.append((dest, path))
        return found

    def _may_keep(self, dest: Destination, path: Path) -> bool:
        unseen = not store.exists(path) and dest.key not in self.encrypted
        self.why_not.pop(dest.key, None)
        try:
            if store.exists(path):  # never one in the clear for a drive that is encrypted now
                ok = store.unlock(path) and (is_encrypted(path) or not self.encrypted.get(dest.key, False))
            else:
                ok = not unseen and (not self.encrypted[dest.key] or unlocked(path.name) is not None)
        except FAILURES as err:  # a store this computer cannot read keeps nothing more; the drive gets it all
            self.why_not[dest.key] = f"none kept here: its away store cannot be read ({err})"
            return False
        if not ok:
            self.why_not[dest.key] = (
                "none kept here: the drive was not seen since the agent started" if unseen else
                "none kept here: encrypted, and its key was not given since the agent started"
            ) + "; its changes wait for the drive"
        return ok

    def takes(self, dest: Destination) -> bool:
        """Whether "Back up now" naming `dest` goes to its away store now (as `Agent.request_backup` decides): it
        is away, no drive is connected and usable, and its history may be kept here."""
        if dest.present or any(d.present and d.locked is None for d in self.agent.destinations.values()):
            return False
        return any(found is dest for found, _path in self.away())

    def roots(self) -> set[bytes]:
        """The folders to keep watching while their drive is away."""
        return {root for dest, path in self.away() for root in self._folders(dest, path)}

    def _folders(self, dest: Destination, path: Path) -> Mapping[bytes, Excludes]:
        known = self.folders.get(dest.key) or dest.folders
        if not known and store.exists(path):
            try:
                known = self.folders[dest.key] = keeping.folders_of(path)
            except FAILURES as err:
                log.warning("%s: cannot read its away store's folders: %s", dest.key, err)
        return known

    def record(self, sizes: Mapping[bytes, int], now_ns: int, origins: Mapping[bytes, bytes]) -> None:
        """Journal changed paths in the away store of each destination away (made on the first change)."""
        for dest, path in self.away():
            folders = self._folders(dest, path)
            entries = [JournalEntry(root, p, n, origins.get(p)) for p, n in sizes.items()
                       if (root := protected_by(p, folders)) is not None]
            if not entries:
                continue
            try:
                if not store.exists(path):
                    store.create(path, path.name, unlocked(path.name), dest.key)
                    log.info("%s is away: its changes are kept on this computer, in %s", dest.key, path)
                self.pending[dest.key] = self.pending.get(dest.key, 0) + keeping.record(path, entries, now_ns)
            except FAILURES as err:
                log.warning("%s: cannot journal in its away store (%s); the drive gets them when back", dest.key, err)

    def request(self, trigger: str, key: str | None = None, explicit: bool = False) -> list[Job]:
        """A storage time is due (or asked for: `explicit`, "Back up now") and its destination is away: queue
        one into the away store of each destination away (only `key`'s, when given) that has changes waiting,
        or, asked for, into any it keeps (which says itself when nothing changed)."""
        jobs = []
        for dest, path in self.away():
            if key is not None and dest.key != key:
                continue
            if dest.key not in self.pending:  # the agent started while the drive was away
                self.pending[dest.key] = self._count(path) if store.exists(path) else 0
            if self.pending.get(dest.key) or explicit:
                jobs.append(self.agent.runner.submit("away", dest.key, trigger, explicit))
        return jobs

    # the jobs
    def _store(self, dest: Destination, job: Job) -> JobResult:
        self.agent.flush()  # first: what the watcher holds may be what makes the store
        path = self.path_of(dest)
        if dest.present or path is None or not store.exists(path):
            return JobResult(destination=dest.key, skipped="the drive is connected, or nothing waits here")
        try:
            with Timekeep.open(path, writer=True) as tk:
                keeping.sync_folders(tk, self._folders(dest, path))
            outcome = keeping.storage_time(path, self.cap(path), "away", lambda p: self._progress(job, p), job.cancel)
        finally:
            self.agent.executor.last_storage = self.agent.wall()
            self.pending[dest.key] = self._count(path)
        snap = outcome.snapshot
        said = outcome.skipped if snap is None else f"away snapshot {snap.id} kept on this computer"
        log.info("%s done: %s", job.describe(), said)
        return JobResult(destination=dest.key, snapshot=snap, errors=tuple(outcome.errors), skipped=outcome.skipped)

    def _move(self, dest: Destination, job: Job) -> JobResult:
        path = self.path_of(dest)
        if path is None:
            return JobResult(destination=dest.key, skipped="no away store")
        try:
            moved = moving.move(path, dest.path, job.cancel, lambda p: self._progress(job, p))
        finally:
            dest.needs_reconcile = True
            self.agent.executor._refresh(dest)
        self.pending.pop(dest.key, None)
        for error in moved.errors:
            log.warning("%s: %s could not be moved from this computer: %s", dest.key, os.fsdecode(error.path),
                        error.message)
        log.info("%s done: %d away snapshots moved onto the drive", job.describe(), len(moved.snapshots))
        last = moved.snapshots[-1] if moved.snapshots else None
        return JobResult(destination=dest.key, snapshot=last, errors=tuple(moved.errors),
                         skipped="" if last else "nothing was kept away")

    def move_first(self, dest: Destination, job: Job) -> None:
        """A storage time of a drive come back stores after its away snapshots, whose times come first (a move
        job queued later finds nothing left); a move that fails is tried again when the drive next comes."""
        path = self.path_of(dest)
        if path is None or not store.exists(path):
            return
        try:
            self._move(dest, job)
        except FAILURES as err:
            log.warning("%s: its away snapshots could not be moved onto it first: %s", dest.key, err)

    def _progress(self, job: Job, progress: object) -> None:
        from timekeep.core.types import Progress

        if isinstance(progress, Progress):
            self.agent.executor.publish(JobProgress(job.id, progress))

    def _count(self, path: Path) -> int:
        try:
            with Timekeep.open(path) as tk:
                return tk.journal.stats().paths
        except FAILURES:
            return 0

    # what the status shows
    def describe(self, dest: Destination) -> str | None:
        """The destination's away store in words: its snapshots, size and cap; or why it keeps none."""
        path = self.path_of(dest)
        if path is None:
            return None
        if not dest.present and dest.key in self.why_not:
            return self.why_not[dest.key]
        if not store.exists(path):
            return None
        try:
            return store.sentence(store.describe(path, self.cap(path)))
        except FAILURES as err:
            return f"kept on this computer, unreadable now: {err}"
