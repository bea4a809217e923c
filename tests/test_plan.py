"""The version builder's painter: latest storage time wins where locations coincide."""

from __future__ import annotations

import random

import pytest

from timekeep.core.errors import CorruptData
from timekeep.core.restore import plan
from timekeep.core.restore.plan import paint
from timekeep.core.types import Piece

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


@pytest.mark.parametrize(
    ("extents", "size", "expected"),
    [
        # one full version
        ([(1, 0, 10, A, 0)], 10, [Piece(0, 10, A, 0)]),
        # a later extent replaces the middle: the older one shows on both sides
        ([(1, 0, 10, A, 0), (2, 4, 2, B, 0)], 10, [Piece(0, 4, A, 0), Piece(4, 2, B, 0), Piece(6, 4, A, 6)]),
        # same location at two storage times: the latest wins, whatever the input order
        ([(3, 0, 5, C, 0), (1, 0, 5, A, 0), (2, 0, 5, B, 0)], 5, [Piece(0, 5, C, 0)]),
        # a shrunk file is cut to its size
        ([(1, 0, 10, A, 0)], 4, [Piece(0, 4, A, 0)]),
        # growth: a newer extent past the old end
        ([(1, 0, 4, A, 0), (2, 4, 4, B, 0)], 8, [Piece(0, 4, A, 0), Piece(4, 4, B, 0)]),
        # an older extent overlapping a newer one's edge keeps only its uncovered part
        ([(2, 0, 6, B, 0), (1, 4, 6, A, 0)], 10, [Piece(0, 6, B, 0), Piece(6, 4, A, 2)]),
        # an extent that starts inside its chunk (a coalesced version keeps only the bytes still seen)
        ([(1, 0, 4, A, 0), (1, 4, 6, B, 10)], 10, [Piece(0, 4, A, 0), Piece(4, 6, B, 10)]),
        ([(2, 2, 6, B, 3), (1, 0, 10, A, 0)], 10, [Piece(0, 2, A, 0), Piece(2, 6, B, 3), Piece(8, 2, A, 8)]),
        # empty version
        ([], 0, []),
    ],
)
def test_paint_latest_wins(extents: list[tuple[int, int, int, bytes, int]], size: int, expected: list[Piece]) -> None:
    assert paint(extents, size) == expected


def test_paint_refuses_a_gap() -> None:
    with pytest.raises(CorruptData):
        paint([(1, 0, 4, A, 0), (1, 6, 4, B, 0)], 10)


def test_paint_refuses_a_version_whose_end_has_no_data() -> None:
    with pytest.raises(CorruptData, match="bytes 8–10"):
        paint([(1, 0, 4, A, 0), (1, 4, 4, B, 0)], 10)  # side by side, in order: the shortcut's path
    with pytest.raises(CorruptData, match="bytes 0–10"):
        paint([], 10)


def test_paint_side_by_side_joins_the_parts_of_one_chunk_in_any_order() -> None:
    parts = [(1, 0, 4, A, 0), (1, 4, 4, A, 4), (1, 8, 2, B, 0), (1, 10, 4, A, 8)]
    joined = [Piece(0, 8, A, 0), Piece(8, 2, B, 0), Piece(10, 4, A, 8)]
    assert paint(parts, 14) == joined
    assert paint(parts[::-1], 14) == joined  # the index's order is not promised: sorted when it is not by offset


def test_paint_merges_adjacent_parts_of_one_chunk() -> None:
    # the chunk A is split by B's boundary points in the sweep but covered by A on both ends
    pieces = paint([(2, 0, 10, A, 0), (1, 3, 2, B, 0)], 10)
    assert pieces == [Piece(0, 10, A, 0)]


@pytest.mark.parametrize("seed", range(40))
def test_extents_side_by_side_paint_as_the_general_overlay_does(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut for extents that do not overlap gives what laying them over each other gives."""
    rnd = random.Random(seed)
    extents, at = [], 0
    for _ in range(rnd.randrange(1, 30)):
        at += rnd.choice((0, 0, 0, 3))  # mostly adjacent, sometimes a gap
        length = rnd.randrange(1, 9)
        extents.append((rnd.randrange(1, 4), at, length, rnd.choice((A, B, C)), rnd.choice((0, 0, 5))))
        at += length
    rnd.shuffle(extents)
    size = rnd.choice((at, at - 2, at + 3, 1))
    shortcut = plan.overlay(extents, size)
    assert plan._side_by_side(extents, size) == shortcut
    monkeypatch.setattr(plan, "_side_by_side", lambda *args: None)  # the general path, heap and boundaries
    assert plan.overlay(extents, size) == shortcut
    overlapping = [*extents, (9, 0, at, A, 0)]
    assert plan._side_by_side(overlapping, size) is None
