"""Destinations in a bucket coming and going: for them "present" means reachable, not mounted.

A bucket is looked at with one cheap request (reading its config.json, which also proves the repository is
the one first seen there), on a thread of its own so a slow or silent network never holds up the agent's
ticks. A reachable bucket is looked at again every `every_s`; one that cannot be reached after growing
waits (doubling up to `max_wait_s`), so a laptop offline for a day neither spends its battery on requests
nor fills the log: the log says a destination went and came back, once each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from timekeep.core.drives import Presence

log = logging.getLogger(__name__)
Probe = Callable[[str, str | None], Presence]  # (location, the repository id it must hold) -> presence


@dataclass
class _Looks:
    """What is known of one bucket: its last presence, when to look next, and the wait after a failure."""

    state: Presence | None = None
    due: float = 0.0
    wait: float = 0.0
    pending: Future[Presence] | None = None
    repository_id: str | None = None  # the repository first seen there


class RemotePoller:
    """Reports which buckets became reachable or unreachable since the last `poll`, probing each when due."""

    def __init__(self, locations: Sequence[str], probe: Probe, clock: Callable[[], float], *,
                 every_s: float = 60.0, first_wait_s: float = 2.0, max_wait_s: float = 300.0) -> None:
        self.probe, self.clock = probe, clock
        self.every_s, self.first_wait_s, self.max_wait_s = every_s, first_wait_s, max(max_wait_s, first_wait_s)
        self.looks: dict[str, _Looks] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.set_locations(locations)

    def set_locations(self, locations: Sequence[str]) -> None:
        """Follow these buckets from now on; a new one is looked at at the next poll."""
        self.looks = {where: self.looks.get(where) or _Looks() for where in locations}

    def look_soon(self, location: str) -> None:
        """Something failed on the way to `location` (a storage time could not reach it): look again now."""
        looks = self.looks.get(location)
        if looks is not None:
            looks.due = 0.0

    def failed(self, location: str, reason: str) -> Presence:
        """Reached, but it could not be used (its index, its key): absent, and looked at again after a wait."""
        gone = Presence(False, reason)
        looks = self.looks.get(location)
        if looks is not None:
            self._answered(location, looks, gone, self.clock())
        return gone

    def present(self, location: str) -> bool:
        looks = self.looks.get(location)
        return looks is not None and looks.state is not None and looks.state.present

    def poll(self) -> list[tuple[str, Presence]]:
        """The buckets whose presence changed since the last poll (a looked-at bucket's first answer counts
        as a change); starts the looks that are due, never waits for one."""
        changes = []
        now = self.clock()
        for where, looks in self.looks.items():
            if looks.pending is not None and looks.pending.done():
                changed = self._answered(where, looks, self._result(where, looks.pending), now)
                looks.pending = None
                if changed:
                    changes.append((where, looks.state or Presence(False)))
            if looks.pending is None and now >= looks.due:
                looks.pending = self._executor().submit(self.probe, where, looks.repository_id)
        return changes

    def _result(self, where: str, done: Future[Presence]) -> Presence:
        try:
            return done.result()
        except Exception as err:  # a probe's own failure is an absence, said in its words
            log.warning("%s could not be looked at: %s", where, err)
            return Presence(False, f"it could not be looked at: {err}")

    def _answered(self, where: str, looks: _Looks, now_state: Presence, now: float) -> bool:
        before = looks.state
        looks.state = now_state
        if now_state.present:
            looks.wait = 0.0
            looks.due = now + self.every_s
            looks.repository_id = looks.repository_id or now_state.repository_id
        else:
            looks.wait = min(self.max_wait_s, looks.wait * 2 if looks.wait else self.first_wait_s)
            looks.due = now + looks.wait
            if before is not None and before.reason != now_state.reason and not before.present:
                log.info("%s is still unreachable: %s", where, now_state.reason)
        return before is None or before.present != now_state.present

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="timekeep-reach")
        return self._pool

    def close(self) -> None:
        """Let go of the probing threads (a look under way finishes on its own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
