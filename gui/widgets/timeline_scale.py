"""Where the timeline puts ticks and labels: pure functions of times, a width and the current time.

Every tick stands at its snapshot's true time: the scale is linear from a little before the first snapshot
(a margin of a twentieth of the span) to now, so a first hour, a first week and a year of history each fill
the line, and no tick is ever moved to make room. Snapshots closer than a few pixels stay where they are;
`close_to` finds them so the widget can tell them apart on hover and step through them by keyboard.
Labels adapt to the span shown: minutes when the history is a few minutes old, hours when it covers a day or
two, days, weeks or months beyond, with "Today" and "Yesterday" where they apply, and never more than fit
without overlapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
DAY_MIN = 24 * 60
STEPS_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, DAY_MIN, 2 * DAY_MIN, 3 * DAY_MIN, 7 * DAY_MIN,
                 14 * DAY_MIN, 30 * DAY_MIN, 91 * DAY_MIN, 365 * DAY_MIN)
MIN_SPAN_NS = MINUTE_NS  # a history of seconds still spreads over a minute of line
CLOSE_PX = 4.0  # ticks nearer each other than this read as one place: hover and the caption tell them apart
LABEL_PX = 96  # room one label needs, at the widget's font


@dataclass(frozen=True)
class Scale:
    """Maps times (ns) to x pixels between `left` and `right`."""

    start_ns: int
    end_ns: int
    left: float
    right: float

    def x(self, ns: int) -> float:
        span = max(1, self.end_ns - self.start_ns)
        return self.left + (ns - self.start_ns) / span * (self.right - self.left)

    def ns(self, x: float) -> int:
        width = max(1.0, self.right - self.left)
        return int(self.start_ns + (x - self.left) / width * (self.end_ns - self.start_ns))


def span_for(times: Sequence[int], now_ns: int) -> tuple[int, int]:
    """From a little before the first snapshot to now (at least a minute): the first snapshot sits near
    the left end whatever the history's age, with a twentieth of the span before it."""
    if not times:
        return now_ns - HOUR_NS, now_ns
    first = min(times[0], now_ns)
    span = max(MIN_SPAN_NS, now_ns - first)
    return now_ns - span - span // 20, now_ns


def close_to(xs: Sequence[float], i: int, gap: float = CLOSE_PX) -> range:
    """The run of ticks around tick `i` (sorted xs) each within `gap` of the next: one place on the line."""
    first = last = i
    while first > 0 and xs[first] - xs[first - 1] < gap:
        first -= 1
    while last + 1 < len(xs) and xs[last + 1] - xs[last] < gap:
        last += 1
    return range(first, last + 1)


def nearest(xs: Sequence[float], x: float) -> int:
    """Index of the tick closest to `x` (ties go to the later one, which is what a drag to the right means)."""
    best, best_dist = 0, float("inf")
    for i, tick in enumerate(xs):
        dist = abs(tick - x)
        if dist <= best_dist:
            best, best_dist = i, dist
    return best


def label_step_minutes(span_ns: int, width_px: float) -> int:
    """The smallest step whose labels fit in the width."""
    fit = max(1, int(width_px // LABEL_PX))
    for minutes in STEPS_MINUTES:
        if span_ns / (minutes * MINUTE_NS) <= fit:
            return minutes
    return STEPS_MINUTES[-1]


def labels(scale: Scale, now: datetime) -> list[tuple[float, str]]:
    """(x, text) for each label boundary inside the scale, in local time."""
    minutes = label_step_minutes(scale.end_ns - scale.start_ns, scale.right - scale.left)
    start = datetime.fromtimestamp(scale.start_ns / 1e9).astimezone()
    end = datetime.fromtimestamp(scale.end_ns / 1e9).astimezone()
    end_ns = scale.end_ns
    found = []
    for moment in _boundaries(start, end, minutes):
        ns = int(moment.timestamp() * 1e9)
        if ns > end_ns:
            break
        if ns >= scale.start_ns:
            found.append((scale.x(ns), label_text(moment, minutes, now)))
    return found


def _boundaries(start: datetime, end: datetime, minutes: int) -> Iterator[datetime]:
    """Aligned local boundaries from `start` on: minutes and hours of the day, midnights (counted back from
    today's, so "Today" is always one), Mondays, month starts, years."""
    if minutes < DAY_MIN:
        of_day = start.hour * 60 + start.minute
        base = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
            minutes=of_day - of_day % minutes)
        return (base + timedelta(minutes=minutes * i) for i in count())
    hours = minutes // 60
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if hours < 24 * 7:
        days = hours // 24
        today = end.replace(hour=0, minute=0, second=0, microsecond=0)
        back = -(-(today.date() - midnight.date()).days // days) * days  # whole steps back to before `start`
        return (_local_midnight(today, i * days - back) for i in count())
    if hours < 24 * 30:
        monday = midnight - timedelta(days=midnight.weekday())
        return (_local_midnight(monday, i * hours // 24) for i in count())
    months = {24 * 30: 1, 24 * 91: 3}.get(hours, 12)
    first = midnight.replace(day=1, month=1 if months == 12 else midnight.month - (midnight.month - 1) % months)
    return (_add_months(first, i * months) for i in count())


def _local_midnight(base: datetime, days: int) -> datetime:
    """`days` after `base`, still at local midnight across a daylight-saving change."""
    naive = base.replace(tzinfo=None) + timedelta(days=days)
    return naive.astimezone()


def _add_months(base: datetime, months: int) -> datetime:
    month0 = base.month - 1 + months
    naive = base.replace(tzinfo=None, year=base.year + month0 // 12, month=month0 % 12 + 1)
    return naive.astimezone()


def label_text(moment: datetime, step_minutes: int, now: datetime) -> str:
    """Times of day as 14:00 (the day's name at midnight); days as Today / Yesterday / ISO date; months as
    2026-11."""
    day = moment.date()
    if step_minutes < DAY_MIN and (moment.hour or moment.minute):
        return moment.strftime("%H:%M")
    if step_minutes >= 30 * DAY_MIN:
        return moment.strftime("%Y") if step_minutes >= 365 * DAY_MIN else moment.strftime("%Y-%m")
    if day == now.date():
        return "Today"
    if day == (now - timedelta(days=1)).date():
        return "Yesterday"
    return moment.strftime("%Y-%m-%d")
