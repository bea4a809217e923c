"""Which snapshots a retention rule keeps: every one of the recent hours, then the last of
each day, then the last of each week. Days and weeks are the person's local calendar ones. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from timekeep.core.types import Retention

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def _day(time_ns: int) -> tuple[int, int, int]:
    moment = datetime.fromtimestamp(time_ns / 1e9)
    return moment.year, moment.month, moment.day


def _week(time_ns: int) -> tuple[int, int]:
    year, week, _ = datetime.fromtimestamp(time_ns / 1e9).isocalendar()
    return year, week


def kept(snapshots: Sequence[tuple[int, int]], rule: Retention, now_ns: int) -> set[int]:
    """Ids of the (id, time_ns) snapshots the rule keeps; the newest is always among them."""
    if not snapshots:
        return set()
    keep_all_from = now_ns - rule.keep_all_hours * HOUR_NS
    daily_from = keep_all_from - rule.daily_days * DAY_NS
    weekly_from = daily_from - rule.weekly_weeks * 7 * DAY_NS if rule.weekly_weeks else None
    keep = {max(snapshots, key=lambda s: (s[1], s[0]))[0]}
    last_of: dict[object, tuple[int, int]] = {}
    for sid, time_ns in snapshots:
        if time_ns >= keep_all_from:
            keep.add(sid)
            continue
        if time_ns >= daily_from:
            key: object = ("day", _day(time_ns))
        elif weekly_from is None or time_ns >= weekly_from:
            key = ("week", _week(time_ns))
        else:
            continue
        if key not in last_of or (time_ns, sid) > last_of[key]:
            last_of[key] = (time_ns, sid)
    keep.update(sid for _, sid in last_of.values())
    return keep
