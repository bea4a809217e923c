"""Changed locations: compare a file's new chunk summary with its previous version.

A new chunk is unchanged when the previous version held the very same chunk (same digest, same length)
at the same offset; every other chunk is a changed location to store. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from timekeep.core.types import Piece

# (offset, length, digest) of one content-defined chunk of the new content.
NewChunk = tuple[int, int, bytes]


def changed_chunks(new: Sequence[NewChunk], previous: Sequence[Piece]) -> list[int]:
    """Indexes into `new` of the chunks that differ from what `previous` held at their location."""
    before = {p.offset: (p.length, p.digest) for p in previous if p.chunk_offset == 0}
    return [i for i, (offset, length, digest) in enumerate(new) if before.get(offset) != (length, digest)]
