"""Parse a person's time argument (`latest`, `12`, `2026-11-20 14:03`, `2 hours ago`) into a TimeSpec.

Pure: the current time is passed in. An ISO time names its whole unit and resolves to the unit's last
nanosecond, so `2026-11-20 14:03` includes a snapshot taken at 14:03:41 and the times `timekeep snapshots`
prints select their own snapshot; a bare date means the end of that day. Naive times are local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from timekeep.core.errors import UsageError

ACCEPTED_FORMS = (
    "use 'latest', a snapshot id (12), an ISO date or time (2026-11-20, 2026-11-20 14:03, "
    "2026-11-20T14:03:05Z) or a relative time (90 minutes ago, 2h ago, 3 days ago, yesterday)"
)

MAX_ID = 2**63 - 1  # snapshot ids and times (nanoseconds since 1970) are SQLite's signed 64-bit integers
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_UNIT_WORDS: dict[str, str] = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
}  # fmt: skip

_RELATIVE = re.compile(r"(\d{1,6})\s*([a-z]+)\s+ago", re.ASCII)
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<frac>[.,]\d{1,9})?)?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class TimeSpec:
    """What a time argument asks for: the latest snapshot, one by id, or the one in force at a time."""

    kind: Literal["latest", "snapshot", "time"]
    snapshot_id: int | None = None
    time_ns: int | None = None


def parse_time_spec(spec: str, now: datetime) -> TimeSpec:
    """Read `spec`; `now` is an aware UTC datetime. Raises UsageError naming the accepted forms."""
    text = " ".join(spec.strip().lower().split())
    if text in ("latest", "now"):
        return TimeSpec("latest")
    if text.isascii() and text.isdigit():
        if int(text) > MAX_ID:
            raise UsageError(f"there is no snapshot {text}; `timekeep snapshots` lists them")
        return TimeSpec("snapshot", snapshot_id=int(text))
    try:
        time_ns = _time_ns(text, spec.strip(), now)
    except OverflowError:
        raise UsageError(f"the time {spec!r} is out of range") from None
    if time_ns is None:
        raise UsageError(f"cannot read the time {spec!r}: {ACCEPTED_FORMS}")
    if time_ns < -(2**63):  # a time later than 2262 is simply after every snapshot
        raise UsageError(f"the time {spec!r} is out of range: Timekeep's times begin in September 1677")
    return TimeSpec("time", time_ns=time_ns)


def datetime_to_ns(moment: datetime) -> int:
    """Exact nanoseconds since the epoch of an aware datetime (no float rounding)."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


def _time_ns(text: str, original: str, now: datetime) -> int | None:
    """The instant a relative (`text`, normalised) or ISO (`original`) time names, or None if neither."""
    if text == "yesterday":
        return datetime_to_ns(now - timedelta(days=1))
    relative = _RELATIVE.fullmatch(text)
    if relative and relative.group(2) in _UNIT_WORDS:
        return datetime_to_ns(now - int(relative.group(1)) * _UNITS[_UNIT_WORDS[relative.group(2)]])
    iso = _ISO.fullmatch(original)
    return datetime_to_ns(_iso_end(original, iso)) - 1 if iso else None


def _iso_end(text: str, match: re.Match[str]) -> datetime:
    """The instant just after the span the ISO text names, aware (naive text is in the local time zone)."""
    frac = match.group("frac")
    cleaned = (text if frac is None else text.replace(frac, _micro(frac), 1)).upper()
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError as err:
        raise UsageError(f"cannot read the time {text!r}: {err}") from None
    end = moment + _unit_of(match)  # wall-clock arithmetic for local times, so a DST day is still a day
    try:
        return end if end.tzinfo else end.astimezone()
    except ValueError:  # year 1 or 9999 in a time zone that moves it out of the calendar
        raise OverflowError from None


def _micro(frac: str) -> str:
    """Python reads at most microseconds; keep the first six digits (the rest cannot name a snapshot)."""
    return "." + frac[1:7].ljust(6, "0")


def _unit_of(match: re.Match[str]) -> timedelta:
    """The span the text names: a day, an hour, a minute, a second, or exactly a microsecond."""
    if match.group("frac"):
        return timedelta(microseconds=1)
    if match.group("second"):
        return timedelta(seconds=1)
    if match.group("minute"):
        return timedelta(minutes=1)
    if match.group("hour"):
        return timedelta(hours=1)
    return timedelta(days=1)
