"""How a list of times reads: to the minute, unless two of them share a minute; then every one of them to
the second, so the list keeps one format and the two can be told apart."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from timekeep.gui import wording


def need_seconds(times_ns: Sequence[int]) -> bool:
    """Whether two of the times fall in the same minute (as the window shows minutes: local time)."""
    minutes = [wording.when(ns) for ns in times_ns]
    return len(set(minutes)) < len(minutes)


def formatter(times_ns: Sequence[int]) -> Callable[[int], str]:
    """The one format for this list of times."""
    return wording.when_precise if need_seconds(times_ns) else wording.when
