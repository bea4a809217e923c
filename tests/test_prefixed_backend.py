"""A backend seen through a prefix (core/storage/prefixed.py), as `timekeep encrypt` stages a bucket's copy:
names map both ways, nothing outside the prefix shows, and it has no writer lock of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from timekeep.core.errors import ObjectExists, ObjectMissing
from timekeep.core.storage.local_backend import LocalBackend
from timekeep.core.storage.prefixed import Prefixed


def test_names_map_to_the_prefix_and_nothing_outside_it_shows(tmp_path: Path) -> None:
    inner = LocalBackend(tmp_path)
    inner.write("packs/ab/outside.pack", b"old")
    staged = Prefixed(inner, "encrypting/")
    staged.write("packs/ab/inside.pack", b"new bytes")
    assert inner.read("encrypting/packs/ab/inside.pack") == b"new bytes"
    assert [(o.name, o.size) for o in staged.list("packs/")] == [("packs/ab/inside.pack", 9)]
    assert staged.stat("packs/ab/inside.pack") is not None and staged.stat("packs/ab/outside.pack") is None
    assert staged.read("packs/ab/inside.pack", 4, 3) == b"byt"
    with pytest.raises(ObjectExists):
        staged.write("packs/ab/inside.pack", b"again")
    staged.delete("packs/ab/inside.pack")
    with pytest.raises(ObjectMissing):
        staged.read("packs/ab/inside.pack")
    assert inner.read("packs/ab/outside.pack") == b"old"
    assert staged.where.endswith("/encrypting") and staged.local_folder == tmp_path / "encrypting"


def test_it_takes_no_lock_of_its_own(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="writer lock is the repository's"):
        Prefixed(LocalBackend(tmp_path), "encrypting/").writer_lock()
    with pytest.raises(ValueError, match="not a folder prefix"):
        Prefixed(LocalBackend(tmp_path), "encrypting")
