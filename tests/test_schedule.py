"""Storage-time policy and destination rotation, as tables with injected times."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from timekeep.core.errors import UsageError
from timekeep.core.schedule.policy import (
    Policy,
    Situation,
    due,
    held_back,
    next_clock_time,
    next_storage_time,
    parse_clock_times,
    reconcile_due,
)
from timekeep.core.schedule.rotation import Candidate, pick_destination

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


HOURLY = Policy()


@pytest.mark.parametrize(("situation", "expected"), [
    (Situation(at(0), None), "interval"),  # never stored
    (Situation(at(30), at(0)), None),
    (Situation(at(60), at(0)), "interval"),
    (Situation(at(90), at(0), paused=True), None),
    (Situation(at(90), at(0), on_battery=True), None),
    (Situation(at(90), at(0), on_battery=False), "interval"),
    (Situation(at(5), at(0), journal_paths=10_000), "journal-bound"),
    (Situation(at(5), at(0), journal_bytes=1 << 30), "journal-bound"),
    (Situation(at(5), at(0), paused=True, journal_paths=10_000), None),
])
def test_due_hourly(situation: Situation, expected: str | None) -> None:
    assert due(HOURLY, situation) == expected


def test_clock_times_in_the_local_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    policy = Policy(interval_s=24 * 3600, clock_times=parse_clock_times(["13:00", "7:30"]), zone=paris)
    last = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)  # 12:00 in Paris
    assert next_clock_time(last, policy.clock_times, paris) == datetime(2026, 11, 20, 13, 0, tzinfo=paris)
    assert due(policy, Situation(datetime(2026, 11, 20, 11, 59, tzinfo=UTC), last)) is None
    assert due(policy, Situation(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), last)) == "clock"
    after = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)  # 13:30 Paris: the next is 7:30 tomorrow
    assert next_clock_time(after, policy.clock_times, paris) == datetime(2026, 11, 21, 7, 30, tzinfo=paris)


def test_next_storage_time_is_the_earlier_of_interval_and_clock() -> None:
    policy = Policy(clock_times=(time(12, 20),), zone=UTC)
    assert next_storage_time(policy, at(0), at(1)) == at(20)
    assert next_storage_time(Policy(), at(0), at(1)) == at(60)
    assert next_storage_time(Policy(), None, at(1)) == at(1)


def test_interval_bounds_and_bad_clock_times() -> None:
    assert Policy(interval_s=300).interval_s == 300
    with pytest.raises(UsageError, match="at least 5 minutes"):
        Policy(interval_s=299)
    with pytest.raises(UsageError, match="not a clock time"):
        parse_clock_times(["25:00"])
    with pytest.raises(UsageError, match="not a clock time"):
        parse_clock_times(["noon"])


def test_explicit_requests_are_never_held_back() -> None:
    paused = Situation(at(0), paused=True, on_battery=True)
    assert held_back(HOURLY, paused, "backup-now") is None
    assert held_back(HOURLY, paused, "shutdown") == "paused"
    assert held_back(HOURLY, Situation(at(0), on_battery=True), "drive-connected") == "on battery"
    assert held_back(Policy(on_battery=True), Situation(at(0), on_battery=True)) is None


def test_reconciliation_once_a_day() -> None:
    assert reconcile_due(HOURLY, None, at(0))
    assert not reconcile_due(HOURLY, at(0), at(23 * 60))
    assert reconcile_due(HOURLY, at(0), at(24 * 60))


@pytest.mark.parametrize(("candidates", "expected"), [
    ([], None),
    ([Candidate("a", False, 1)], None),
    ([Candidate("a", True, 5), Candidate("b", True, 3)], "b"),  # least recently stored to
    ([Candidate("a", True, 5), Candidate("b", True, None)], "b"),  # never used first
    ([Candidate("a", True, 5), Candidate("b", False, 1)], "a"),  # only connected ones
    ([Candidate("a", True, None), Candidate("b", True, None)], "a"),  # ties: listed order
])
def test_rotation(candidates: list[Candidate], expected: str | None) -> None:
    assert pick_destination(candidates) == expected


def test_rotation_alternates_when_both_are_connected() -> None:
    last = {"a": None, "b": None}
    picked = []
    for step in range(4):
        key = pick_destination([Candidate(k, True, v) for k, v in last.items()])
        assert key is not None
        picked.append(key)
        last[key] = step  # type: ignore[assignment]
    assert picked == ["a", "b", "a", "b"]
