"""Destinations coming and going: drives found by their mount points, buckets by looking at them over the
network (`reachable.py`), and what the agent does when one arrives (unlock it, scan it, owe it a storage
time) or leaves (let go of it)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core import settings
from timekeep.core.agent.bucket import BucketProbe
from timekeep.core.agent.config import AgentConfig
from timekeep.core.agent.destination import Destination
from timekeep.core.agent.executor import FAILURES
from timekeep.core.agent.messages import DestinationChanged
from timekeep.core.agent.reachable import RemotePoller
from timekeep.core.drives import MOUNTINFO, DrivePoller, Presence

if TYPE_CHECKING:
    from timekeep.core.agent.agent import Agent

log = logging.getLogger(__name__)


def drives(config: AgentConfig) -> list[Path]:
    """The destinations on this computer's drives (found by mount points)."""
    return [p for p in config.destinations if isinstance(p, Path)]


def buckets(config: AgentConfig) -> list[str]:
    """The destinations in buckets (found by looking at them over the network)."""
    return [p for p in config.destinations if isinstance(p, str)]


class Comings:
    def __init__(self, agent: Agent, mountinfo: Path = MOUNTINFO,
                 known: dict[Path, tuple[str, str]] | None = None) -> None:
        self.agent = agent
        config = agent.config
        self.drives = DrivePoller(drives(config), mountinfo, known)
        self.buckets = RemotePoller(buckets(config), BucketProbe(self._endpoint), agent.clock,
                                    every_s=config.remote_poll_s, first_wait_s=config.drive_poll_s,
                                    max_wait_s=config.remote_backoff_max_s)

    def _endpoint(self, location: str) -> str | None:
        """The endpoint remembered for `location` in the settings in force (None: boto3's own, or AWS)."""
        return settings.endpoint_for(self.agent.config.raw, location)

    def follow(self, config: AgentConfig) -> None:
        """Follow the destinations of new settings; one added is looked for at the next poll."""
        self.drives.set_paths(drives(config))
        self.buckets.set_locations(buckets(config))

    def poll(self) -> bool:
        """Look for destinations that came or went (buckets only when due); True when any did."""
        changes = [(str(c.path), c.appeared, c.presence) for c in self.drives.poll()]
        changes += [(key, presence.present, presence) for key, presence in self.buckets.poll()]
        for key, appeared, presence in changes:
            dest = self.agent.destinations.get(key)
            if dest is not None:
                self.changed(dest, appeared, presence)
        return bool(changes)

    def changed(self, dest: Destination, appeared: bool, presence: Presence) -> None:
        agent = self.agent
        if not appeared:
            log.info("%s is gone: %s", dest.key, presence.reason)
            dest.detach(presence)
            agent._publish(DestinationChanged(dest.key, False))
            return
        try:
            dest.attach(presence)
        except FAILURES as err:
            log.warning("%s is there but cannot be used: %s", dest.key, err)
            if dest.remote:  # looked at again later, as an unreachable one is
                dest.detach(self.buckets.failed(dest.key, str(err)))
            return
        log.info("%s is connected (snapshots: %d)", dest.key, dest.snapshot_count)
        agent._publish(DestinationChanged(dest.key, True))
        if agent.unlocks.attached(dest):
            return
        agent.runner.submit("reconcile", dest.key, "drive-connected")
        dest.owed = self.owed_on_connect(dest)

    def owed_on_connect(self, dest: Destination) -> str | None:
        """A drive holding no snapshot yet gets its first one soon, whenever it is seen; a drive with a
        history plugged in while the agent runs gets a catch-up, as does a bucket back within reach (not the
        first time the agent reaches it: that is its start). All wait for the schedule: not paused, not held
        back by the battery, after the reconciliation scan."""
        first_sight, dest.seen = not dest.seen, True
        executor = self.agent.executor
        if executor.last_storage is None and dest.last_ns is not None:  # a bucket reached after the start
            executor.last_storage = datetime.fromtimestamp(dest.last_ns / 1e9, tz=UTC)
        if dest.snapshot_count == 0:
            return "first" if dest.folders else None
        if dest.remote and first_sight:
            return None
        return "drive-connected" if self.agent.started else None

