"""Values bound to one statement at a time: the one size every reader and writer of the index batches by.
Below the index's other modules (listing.py and queries.py both use it), so none keeps its own copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

SQL_BATCH = 500  # values bound in one statement: under SQLite's oldest limit (999)
T = TypeVar("T")


def batches(items: list[T]) -> Iterator[list[T]]:
    """`items` SQL_BATCH at a time: as many values as one statement binds."""
    for start in range(0, len(items), SQL_BATCH):
        yield items[start : start + SQL_BATCH]
