"""A fixture's value built once per test run, however many xdist workers ask for it.

A session- or module-scoped fixture is built once per worker: an expensive one that tests only read (the
installer's bundle, a history that tests copy before they change it) would be built on both of CI's workers
whenever its tests land on both. The first worker to ask builds it in a folder beside the workers' own, under
a lock; the others wait on the lock and read what it left (pickled). Without xdist it is built as before.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def once_per_run(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """`build(folder)` in a fresh folder, once per run of the suite; every later caller gets its value."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return build(factory.mktemp(name))
    shared = factory.getbasetemp().parent / f"once-{name}"  # the run's root, removed with it
    shared.mkdir(exist_ok=True)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, also when the build fails
        value = shared / "value.pickle"
        if not value.exists():  # first here, or the worker before failed: build afresh in a folder of its own
            folder = Path(tempfile.mkdtemp(prefix=f"{worker}-", dir=shared))
            value.with_suffix(".tmp").write_bytes(pickle.dumps(build(folder)))
            value.with_suffix(".tmp").rename(value)
        made: T = pickle.loads(value.read_bytes())
        return made
