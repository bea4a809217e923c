"""The garbage collector while a command starts: its young collections put off until start-up is over.

A command's start (the engine's modules, their classes and functions, the repository opened) makes some 40,000
objects that live as long as the process; the collector examined them about 56 times over before a backup's scan
began (11-15 ms of a one-touched-file backup, bench/README.md "Startup and imports"). Put off, the first
collection instead freezes whatever lives then (`gc.freeze`: never examined again, still freed when no longer
referenced) and the usual thresholds come back, so a long command (the agent, a first backup) collects as before.
"""

from __future__ import annotations

import gc

START_GEN0 = 50_000  # more than a command's start makes (about 40,000 objects before a full scan), yet bounded


def defer_young_collections() -> None:
    """Put the first young collection off until START_GEN0 objects are made; it then freezes them instead."""
    usual = gc.get_threshold()
    fired = False

    def first(phase: str, info: dict[str, int]) -> None:
        nonlocal fired
        if phase == "start" and not fired:
            fired = True
            gc.freeze()
            gc.set_threshold(*usual)

    gc.callbacks.append(first)
    gc.set_threshold(START_GEN0, *usual[1:])
