"""Changed locations from two chunk summaries: where a file's new chunk list differs from its last one."""

from __future__ import annotations

from timekeep.core.capture.delta import changed_chunks
from timekeep.core.types import Piece

A, B, C, D = (bytes([n]) * 32 for n in range(4))


def test_unchanged_chunks_at_same_offset_are_not_stored() -> None:
    previous = [Piece(0, 10, A), Piece(10, 10, B)]
    assert changed_chunks([(0, 10, A), (10, 10, B)], previous) == []


def test_changed_chunk_is_stored() -> None:
    previous = [Piece(0, 10, A), Piece(10, 10, B)]
    assert changed_chunks([(0, 10, A), (10, 10, C)], previous) == [1]


def test_shifted_chunks_are_changed_locations_even_if_content_is_known() -> None:
    # an insertion moves B; its content dedups later, but its location changed
    previous = [Piece(0, 10, A), Piece(10, 10, B)]
    assert changed_chunks([(0, 12, D), (12, 10, B)], previous) == [0, 1]


def test_same_digest_different_length_is_changed() -> None:
    assert changed_chunks([(0, 5, A)], [Piece(0, 10, A)]) == [0]


def test_partial_piece_never_counts_as_the_same_chunk() -> None:
    assert changed_chunks([(0, 4, A)], [Piece(0, 4, A, chunk_offset=2)]) == [0]
