"""When a storage time is due: an interval, clock times, events, and what holds them back.

Pure policy: the agent passes in what it knows (the time now, the last storage time, the journal's size,
pause and battery state) and gets back a trigger name or None. No timers, no threads, no clock of its own.
Times are timezone-aware datetimes; clock times are wall-clock times in the policy's zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from timekeep.core.errors import UsageError

MIN_INTERVAL_S = 5 * 60
DEFAULT_INTERVAL_S = 60 * 60
DAY_S = 24 * 60 * 60
# Triggers an explicit request may start even when paused or on battery: the person asked for it.
EXPLICIT = frozenset({"backup-now"})
# "first": a destination holding no snapshot yet is stored to as soon as it is connected (and not held back).
TRIGGERS = frozenset({"interval", "clock", "first", "drive-connected", "backup-now", "journal-bound", "shutdown",
                      "before-coalesce"})


@dataclass(frozen=True)
class Policy:
    interval_s: int = DEFAULT_INTERVAL_S
    clock_times: tuple[time, ...] = ()
    zone: tzinfo = UTC
    on_battery: bool = False  # back up while running on battery?
    journal_paths: int = 10_000  # a storage time starts early once this many paths are dirty...
    journal_bytes: int = 1 << 30  # ...or this many bytes of changed files wait
    at_shutdown: bool = True  # take a storage time when the agent stops (logout, shutdown)
    reconcile_every_s: int = DAY_S  # a metadata scan finds what the watcher missed
    coalesce_every_s: int = DAY_S  # the coalescer thins history by the repository's retention rule
    coalesce_after_start_s: int = 60 * 60  # ...first an hour after the agent starts, not during log-in

    def __post_init__(self) -> None:
        if self.interval_s < MIN_INTERVAL_S:
            raise UsageError(f"the backup interval must be at least {MIN_INTERVAL_S // 60} minutes")


@dataclass(frozen=True)
class Situation:
    """What the agent knows at one moment."""

    now: datetime
    last_storage: datetime | None = None  # the last storage time attempted (stored, failed or nothing to do)
    paused: bool = False
    on_battery: bool | None = None  # None: the platform does not say
    journal_paths: int = 0
    journal_bytes: int = 0


def parse_clock_times(texts: Iterable[str]) -> tuple[time, ...]:
    """'13:00', '7:30' → times; a bad one is a usage error naming it."""
    found: list[time] = []
    for text in texts:
        try:
            hours, minutes = (int(part) for part in text.strip().split(":"))
            found.append(time(hours, minutes))
        except ValueError:
            raise UsageError(f"{text!r} is not a clock time (use HH:MM, e.g. 13:00)") from None
    return tuple(sorted(set(found)))


def next_clock_time(after: datetime, times: Iterable[time], zone: tzinfo) -> datetime | None:
    """The first of the daily `times` strictly after `after`, as an aware datetime (None without times)."""
    local = after.astimezone(zone)
    candidates = [
        datetime.combine(local.date() + timedelta(days=day), t, tzinfo=zone)
        for day in (0, 1) for t in times
    ]
    later = [c for c in candidates if c > local]
    return min(later) if later else None


def next_storage_time(policy: Policy, last: datetime | None, now: datetime) -> datetime:
    """When the schedule next asks for a storage time: the earlier of the interval and the next clock time."""
    if last is None:
        return now
    due = last + timedelta(seconds=policy.interval_s)
    clock = next_clock_time(last, policy.clock_times, policy.zone)
    return min(due, clock) if clock is not None else due


def held_back(policy: Policy, s: Situation, trigger: str = "interval") -> str | None:
    """Why a storage time may not start now (paused, on battery), or None. Explicit requests always may."""
    if trigger in EXPLICIT:
        return None
    if s.paused:
        return "paused"
    if s.on_battery and not policy.on_battery:
        return "on battery"
    return None


def over_bound(policy: Policy, s: Situation) -> bool:
    return s.journal_paths >= policy.journal_paths or s.journal_bytes >= policy.journal_bytes


def due(policy: Policy, s: Situation) -> str | None:
    """The trigger of a storage time due now, or None: the journal bound first, then clock times, then the
    interval. Events (drive connected, back up now, shutdown) are the agent's to raise, not the clock's."""
    if held_back(policy, s) is not None:
        return None
    if over_bound(policy, s):
        return "journal-bound"
    if s.last_storage is None:
        return "interval"
    clock = next_clock_time(s.last_storage, policy.clock_times, policy.zone)
    if clock is not None and clock <= s.now:
        return "clock"
    if s.now >= s.last_storage + timedelta(seconds=policy.interval_s):
        return "interval"
    return None


def coalesce_due(policy: Policy, last_coalesce: datetime, now: datetime) -> bool:
    """Whether the coalescer's run is due (the agent counts its first one from its start)."""
    return now >= last_coalesce + timedelta(seconds=policy.coalesce_every_s)


def reconcile_due(policy: Policy, last_reconcile: datetime | None, now: datetime) -> bool:
    """Whether the daily metadata scan is due (it also runs at start, after an overflow, when a drive returns)."""
    return last_reconcile is None or now >= last_reconcile + timedelta(seconds=policy.reconcile_every_s)
