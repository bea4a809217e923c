"""Which frames a restore reads together (core/restore/spans.py), as a table: neighbours in one pack join,
within a gap and a bound; anything else starts a new read."""

from __future__ import annotations

import pytest

from timekeep.core.restore.spans import Span, SpanLimits, spans

KIB = 1024
LIMITS = SpanLimits(max_gap=256 * KIB, max_span=8 << 20, max_frames=16)


def reads(frames: list[tuple[str, int, int]], limits: SpanLimits = LIMITS) -> list[tuple[str, list[int], int]]:
    """Each span as (pack, its ranged reads' bounds flattened, number of frames)."""
    return [(s.pack, [x for r in s.ranges for x in r], len(s.frames)) for s in spans(frames, limits)]


@pytest.mark.parametrize(("frames", "expected"), [
    ([], []),
    ([("a", 8, 100)], [("a", [8, 108], 1)]),
    # back to back in one pack: one read
    ([("a", 8, 100), ("a", 108, 50), ("a", 158, 10)], [("a", [8, 168], 3)]),
    # stored out of the order they are used in (compressed in parallel): still one read
    ([("a", 108, 50), ("a", 8, 100), ("a", 158, 10)], [("a", [8, 168], 3)]),
    # a gap within the bound is read through; one past it is a second read of the same span
    ([("a", 0, 100), ("a", 100 + 256 * KIB, 10)], [("a", [0, 110 + 256 * KIB], 2)]),
    ([("a", 0, 100), ("a", 101 + 256 * KIB, 10)], [("a", [0, 100, 101 + 256 * KIB, 111 + 256 * KIB], 2)]),
    # another pack starts a new span
    ([("a", 0, 100), ("b", 100, 100)], [("a", [0, 100], 1), ("b", [100, 200], 1)]),
    # one pack's run survives a frame of another between (a disk image's frame of zeros, used again and again)
    ([("a", 0, 100), ("z", 8, 10), ("a", 100, 100), ("z", 8, 10), ("a", 200, 100)],
     [("a", [0, 300], 3), ("z", [8, 18], 2)]),
    # but not two others: the span would stay open too long behind the ones fetched ahead
    ([("a", 0, 100), ("b", 8, 10), ("c", 8, 10), ("a", 100, 100)],
     [("a", [0, 100], 1), ("b", [8, 18], 1), ("c", [8, 18], 1), ("a", [100, 200], 1)]),
    # a frame used twice is read once
    ([("a", 0, 100), ("a", 100, 100), ("a", 0, 100)], [("a", [0, 200], 3)]),
    # the byte bound: a frame that would stretch the span past it starts a new one
    ([("a", 0, 5 << 20), ("a", 5 << 20, 3 << 20), ("a", 8 << 20, 1)],
     [("a", [0, 8 << 20], 2), ("a", [8 << 20, (8 << 20) + 1], 1)]),
    ([("a", 1 << 20, 1 << 20), ("a", 0, 1), ("a", 9 << 20, 1)],
     [("a", [0, 1, 1 << 20, 2 << 20], 2), ("a", [9 << 20, (9 << 20) + 1], 1)]),
])
def test_spans_join_neighbours_within_the_bounds(frames: list[tuple[str, int, int]],
                                                 expected: list[tuple[str, list[int], int]]) -> None:
    assert reads(frames) == expected


def test_the_frame_bound_caps_what_one_span_decodes_to() -> None:
    frames = [("a", i * 100, 100) for i in range(40)]
    assert [n for *_, n in reads(frames)] == [16, 16, 8]


def test_a_drive_reads_every_frame_alone() -> None:
    frames = [("a", 0, 100), ("a", 100, 100), ("a", 200, 100)]
    assert reads(frames, SpanLimits.one_frame()) == [("a", [0, 100], 1), ("a", [100, 200], 1), ("a", [200, 300], 1)]


def test_a_span_keeps_its_frames_in_the_order_they_are_used() -> None:
    used = (("p", 10, 5), ("p", 0, 10))
    assert spans(list(used), LIMITS) == [Span("p", ((0, 15),), used, (0, 1))]
