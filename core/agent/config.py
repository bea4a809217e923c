"""The agent's settings: its destinations (repositories, rotated among) and its schedule, from settings.json
(the file the window and the CLI share, `timekeep.core.settings`):

    {"destinations": ["/media/usb/Timekeep/home", "s3://backups/laptop"],
     "interval_minutes": 60, "clock_times": ["13:00"], "back_up_on_battery": false,
     "at_shutdown": true, "journal_max_paths": 10000, "journal_max_bytes": 1073741824,
     "quiet_seconds": 2}

A missing file means defaults; a repository given with --repo or $TIMEKEEP_REPO is a destination too. A
destination in a bucket (`s3://bucket/prefix`) is reached at the endpoint remembered for it in the same file.
The running agent reads the file again whenever it changes (`SettingsFile`): no restart is needed.
"""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from timekeep.core import settings
from timekeep.core.agent.where import Where, destination_of
from timekeep.core.errors import UsageError
from timekeep.core.schedule.policy import DEFAULT_INTERVAL_S, Policy, parse_clock_times


@dataclass(frozen=True)
class AgentConfig:
    destinations: tuple[Where, ...] = ()
    policy: Policy = field(default_factory=Policy)
    quiet_s: float = 2.0  # debounce: a path waits this long after its last event before a scheduled read
    max_wait_s: float = 30.0  # ...but a storage time never waits longer than this for quiet
    tick_s: float = 0.25  # how often the agent flushes events to the journals and looks at the clock
    drive_poll_s: float = 2.0
    folders_poll_s: float = 5.0
    shutdown_budget_s: float = 20.0  # time allowed at shutdown for a running or final storage time
    udisks_bus: str | None = "SYSTEM"  # where udisks signals wake the drive poll; None: polling alone
    remote_poll_s: float = 60.0  # how often a reachable bucket is looked at again (one request)
    remote_backoff_max_s: float = 300.0  # the longest wait between two looks at an unreachable one
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def local_zone() -> tzinfo:
    """The machine's time zone for clock times, with its daylight-saving rules when it can be named."""
    for key in (os.environ.get("TZ", "").lstrip(":"), _read_key("/etc/timezone"), _localtime_key()):
        if key:
            try:
                return zoneinfo.ZoneInfo(key)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def _read_key(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _localtime_key() -> str:
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return ""
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""


def policy_from(data: dict[str, Any], zone: tzinfo) -> Policy:
    defaults = Policy()
    try:
        return Policy(
            interval_s=int(float(data.get("interval_minutes", DEFAULT_INTERVAL_S / 60)) * 60),
            clock_times=parse_clock_times(data.get("clock_times", [])),
            zone=zone,
            on_battery=bool(data.get("back_up_on_battery", defaults.on_battery)),
            journal_paths=int(data.get("journal_max_paths", defaults.journal_paths)),
            journal_bytes=int(data.get("journal_max_bytes", defaults.journal_bytes)),
            at_shutdown=bool(data.get("at_shutdown", defaults.at_shutdown)),
        )
    except (TypeError, ValueError) as err:
        raise UsageError(f"agent settings: {err}") from None


def parse_config(data: dict[str, Any], extra: str | None = None, zone: tzinfo | None = None) -> AgentConfig:
    """Settings from settings.json's contents; `extra` (--repo) is put first among the destinations."""
    listed = [destination_of(p) for p in data.get("destinations", [])]
    if extra is not None and destination_of(extra) not in listed:
        listed.insert(0, destination_of(extra))
    try:
        quiet = float(data.get("quiet_seconds", 2.0))
        remote_poll = float(data.get("remote_poll_seconds", 60.0))
        remote_max = float(data.get("remote_backoff_max_seconds", 300.0))
        tick = float(data.get("tick_seconds", 0.25))
    except (TypeError, ValueError) as err:
        raise UsageError(f"agent settings: {err}") from None
    return AgentConfig(tuple(listed), policy_from(data, zone or local_zone()), quiet_s=quiet, tick_s=tick,
                       remote_poll_s=remote_poll, remote_backoff_max_s=remote_max, raw=data)


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings file's contents ({} when there is none); a UsageError in one line when it is unusable."""
    return settings.read(path)


def load_config(path: Path, extra: str | None = None) -> AgentConfig:
    config = parse_config(read_config_file(path), extra)
    if not config.destinations:
        raise UsageError("the agent has no destination: finish the welcome flow in the Timekeep window, "
                         "give --repo PATH (or set TIMEKEEP_REPO), "
                         f"or list repositories under \"destinations\" in {path}")
    return config


def has_destination(path: Path) -> bool:
    """Whether settings name a repository for the agent (`timekeep agent --if-configured` asks)."""
    return bool(settings.destinations(read_config_file(path)))


def add_destination(path: Path, repo: str) -> None:
    """Remember a repository among the agent's destinations (what `timekeep agent --install --repo` does)."""
    settings.add_destination(path, repo)


class SettingsFile:
    """settings.json as the running agent follows it: read again whenever it changes (mtime, size or inode),
    so an edit takes effect within seconds, without restarting the agent."""

    def __init__(self, path: Path, extra: str | None = None) -> None:
        self.path = path
        self.extra = extra  # --repo: a destination whatever the file says
        self._seen: tuple[int, int, int] | None = None

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def load(self) -> AgentConfig:
        """The settings now (a UsageError when they are unusable); later `changed` calls compare with these."""
        self._seen = self._signature()
        return load_config(self.path, self.extra)

    def changed(self) -> AgentConfig | None:
        """The new settings if the file changed since last read, else None; UsageError if they are unusable
        (the caller keeps the settings in force, and the file is not read again until it changes again)."""
        now = self._signature()
        if now == self._seen:
            return None
        self._seen = now
        return load_config(self.path, self.extra)
