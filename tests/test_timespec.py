"""Table tests for timekeep.core.timespec: every accepted form, the local-time rule, and the refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from timekeep.core.errors import TimekeepError, UsageError
from timekeep.core.timespec import TimeSpec, datetime_to_ns, parse_time_spec

NOW = datetime(2026, 11, 20, 12, 30, 15, tzinfo=UTC)
SEC = 1_000_000_000


def ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       tz: timedelta = timedelta(0)) -> int:  # fmt: skip
    """Nanoseconds of a wall-clock time at a fixed UTC offset."""
    return datetime_to_ns(datetime(year, month, day, hour, minute, second, tzinfo=UTC) - tz)


def ago(delta: timedelta) -> TimeSpec:
    return TimeSpec("time", time_ns=datetime_to_ns(NOW - delta))


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local zone is UTC+3 (POSIX strings need no tz database)."""
    monkeypatch.setenv("TZ", "TKT-03")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", TimeSpec("latest")),
        ("  LATEST ", TimeSpec("latest")),
        ("now", TimeSpec("latest")),
        ("12", TimeSpec("snapshot", snapshot_id=12)),
        ("1", TimeSpec("snapshot", snapshot_id=1)),
        ("007", TimeSpec("snapshot", snapshot_id=7)),
    ],
)
def test_latest_and_snapshot_ids(spec: str, expected: TimeSpec) -> None:
    assert parse_time_spec(spec, NOW) == expected


@pytest.mark.parametrize(
    ("spec", "delta"),
    [
        ("2 hours ago", timedelta(hours=2)),
        ("1 hour ago", timedelta(hours=1)),
        ("90 minutes ago", timedelta(minutes=90)),
        ("1 day ago", timedelta(days=1)),
        ("3 weeks ago", timedelta(weeks=3)),
        ("30 seconds ago", timedelta(seconds=30)),
        ("5m ago", timedelta(minutes=5)),
        ("2h ago", timedelta(hours=2)),
        ("3d ago", timedelta(days=3)),
        ("1w ago", timedelta(weeks=1)),
        ("10 mins ago", timedelta(minutes=10)),
        ("2  Hours   AGO", timedelta(hours=2)),
        ("0 minutes ago", timedelta(0)),
        ("yesterday", timedelta(hours=24)),
        ("Yesterday", timedelta(hours=24)),
    ],
)
def test_relative_times_count_back_from_now(spec: str, delta: timedelta) -> None:
    assert parse_time_spec(spec, NOW) == ago(delta)


@pytest.mark.parametrize(
    ("spec", "last_ns"),
    [
        # An ISO time names its whole unit: the result is that unit's last nanosecond.
        ("2026-11-20T14:03:05Z", ns(2026, 11, 20, 14, 3, 6) - 1),
        ("2026-11-20T14:03:05z", ns(2026, 11, 20, 14, 3, 6) - 1),
        ("2026-11-20 14:03:05+00:00", ns(2026, 11, 20, 14, 3, 6) - 1),
        ("2026-11-20T14:03:05+01:00", ns(2026, 11, 20, 13, 3, 6) - 1),
        ("2026-11-20T14:03:05-0530", ns(2026, 11, 20, 19, 33, 6) - 1),
        ("2026-11-20T14:03Z", ns(2026, 11, 20, 14, 4) - 1),
        ("2026-11-20T14Z", ns(2026, 11, 20, 15) - 1),
        ("2026-11-20T14:03:05.250Z", ns(2026, 11, 20, 14, 3, 5) + SEC // 4 + 999),
        ("2026-11-20T14:03:05,5Z", ns(2026, 11, 20, 14, 3, 5) + SEC // 2 + 999),
        ("2026-11-20T14:03:05.123456789Z", ns(2026, 11, 20, 14, 3, 5) + 123_456_999),
    ],
)
def test_iso_times_with_an_offset(spec: str, last_ns: int) -> None:
    assert parse_time_spec(spec, NOW) == TimeSpec("time", time_ns=last_ns)


@pytest.mark.usefixtures("local_tz")
@pytest.mark.parametrize(
    ("spec", "last_ns"),
    [
        ("2026-11-20", ns(2026, 11, 21, tz=timedelta(hours=3)) - 1),
        ("2026-11-20T14:03", ns(2026, 11, 20, 14, 4, tz=timedelta(hours=3)) - 1),
        ("2026-11-20 14:03", ns(2026, 11, 20, 14, 4, tz=timedelta(hours=3)) - 1),
        ("2026-11-20 14:03:05", ns(2026, 11, 20, 14, 3, 6, tz=timedelta(hours=3)) - 1),
        ("2026-11-20T23:59:59", ns(2026, 11, 21, tz=timedelta(hours=3)) - 1),
    ],
)
def test_naive_iso_times_are_local_time(spec: str, last_ns: int) -> None:
    assert parse_time_spec(spec, NOW) == TimeSpec("time", time_ns=last_ns)


def test_a_date_on_a_daylight_saving_day_lasts_the_whole_local_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    try:
        spec = parse_time_spec("2026-10-25", NOW)  # clocks go back: a 25-hour day
    finally:
        monkeypatch.undo()
        time.tzset()
    assert spec == TimeSpec("time", time_ns=ns(2026, 10, 25, 23) - 1)


def test_the_time_snapshots_prints_selects_that_snapshot() -> None:
    """A snapshot taken at 14:03:05.7 is printed as 14:03:05; typing that back must not fall before it."""
    taken = ns(2026, 11, 20, 14, 3, 5) + 700_000_000
    spec = parse_time_spec("2026-11-20T14:03:05Z", NOW)
    assert spec.time_ns is not None and spec.time_ns >= taken


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "soon",
        "tomorrow",
        "2 hours",
        "ago",
        "two hours ago",
        "2 fortnights ago",
        "-1",
        "1.5",
        "12abc",
        "2026-11",
        "2026-13-01",
        "2026-02-30",
        "2026-11-20T25:00",
        "20/11/2026",
        "11/20/26",
        "2026-11-20 14:03 junk",
        "²",
        "١٢",
    ],
)
def test_anything_else_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time_spec(spec, NOW)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(spec) in message
    assert caught.value.exit_code == 2


def test_the_error_names_the_accepted_forms() -> None:
    with pytest.raises(TimekeepError, match=r"latest.*snapshot id.*ISO.*ago"):
        parse_time_spec("whenever", NOW)


@pytest.mark.parametrize("spec", ["999999 weeks ago", "9999-12-31"])
def test_times_out_of_range_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError, match="out of range"):
        parse_time_spec(spec, NOW)


def test_datetime_to_ns_is_exact() -> None:
    moment = datetime(2026, 11, 20, 14, 3, 5, 123456, tzinfo=UTC)
    assert datetime_to_ns(moment) == 1795183385123456000
    assert datetime_to_ns(datetime(1970, 1, 1, tzinfo=UTC)) == 0
