"""Which destination a storage time goes to: rotation among the connected repositories, each one a memory
distinct from the one before.

Each destination keeps a complete history of its own; picking the connected one stored to least recently
makes consecutive storage times land on different drives whenever more than one is connected, with no
state beyond what each repository already records (its latest snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    key: str
    connected: bool
    last_ns: int | None  # its latest snapshot, None if it holds none yet


def pick_destination(candidates: Sequence[Candidate]) -> str | None:
    """The connected destination stored to least recently (never-used ones first; ties in listed order)."""
    connected = [(c.last_ns if c.last_ns is not None else -1, i, c.key)
                 for i, c in enumerate(candidates) if c.connected]
    return min(connected)[2] if connected else None
