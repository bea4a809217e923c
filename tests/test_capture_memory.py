"""A backup does not hold every digest it stored: once a commit puts chunks in the index, the store forgets them
and asks the index when it meets one again (through a fixed-size filter). Nothing is stored twice for it,
across commits and across backups, plain and encrypted."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.helpers import make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.capture import backup as backup_module
from timekeep.core.capture.backup import Backup, FolderSpec
from timekeep.core.capture.handed import HandedDigests
from timekeep.core.folders import folders
from timekeep.core.storage.pack import read_footer, stored_packs


def test_the_filter_holds_what_was_added_and_rarely_what_was_not() -> None:
    rnd = random.Random(15)
    handed = HandedDigests()
    added = [rnd.randbytes(32) for _ in range(30_000)]
    assert not any(d in handed for d in added[:100]) and handed.size() == 0  # empty: holds nothing, costs nothing
    for digest in added:
        handed.add(digest)
    assert all(d in handed for d in added)
    false = sum(rnd.randbytes(32) in handed for _ in range(10_000))
    assert false < 100  # about 0.3% at this count
    assert handed.size() <= 30_000 * 16 // 8 * 4  # grows with what it holds: at most 16 bits a digest, four times


def _backup(repo: Path) -> tuple[int, int]:
    """(new bytes stored, digests the store still held at the end)."""
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
        job = Backup(inner.db, inner.layout, inner.config, specs, workers=2)
        job.store.writer.target_size = 8 * 1024  # a pack sealed every few files: many commits forget chunks
        info = job.run()
        return info.bytes_new, job.store.held()


def _stored_ids(repo: Path) -> list[bytes]:
    with Timekeep.open(repo) as tk:
        store = tk._repo.layout.store
        return [e.digest for pack in stored_packs(store) for e in read_footer(store, pack, tk._repo.layout.sealing)]


def test_forgotten_chunks_are_never_stored_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 plain_and_encrypted: str) -> None:
    monkeypatch.setattr(backup_module, "COMMIT_ROWS", 5)
    monkeypatch.setattr(backup_module, "BATCH_FILES", 1)  # readers run a few files ahead of commits, not a batch
    rnd = random.Random(21)
    contents = [rnd.randbytes(rnd.randint(100, 3000)) for _ in range(30)]
    source = tmp_path / "source"
    # each content three times, far apart in the walk: the copies meet it after its commit forgot it
    make_tree(source, {f"d{k}": {f"f{i:02}": contents[i] for i in range(30)} for k in range(3)})
    repo = new_repo(tmp_path, source)
    new, held = _backup(repo)
    assert held == 0 and new > 0
    first = _stored_ids(repo)
    assert len(first) == len(set(first)) == 30
    make_tree(source / "more", {f"g{i:02}": contents[i] for i in range(0, 30, 2)})
    new, held = _backup(repo)  # the index had chunks when it began: it asks about every digest
    assert new == 0 and held == 0
    assert _stored_ids(repo) == first
