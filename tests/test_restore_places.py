"""A folder restore finds its small files' chunks along the extents it reads for their plans
(histories.extents with `places`), not digest by digest: the places are the ones the digest lookup finds,
every file (deltas, shared chunks, both kinds of repository) comes back byte for byte, and a chunk whose
pack the drive lost is still only its own file's error."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from peewee import SqliteDatabase

from tests.helpers import backup, index_file, new_repo
from tests.restore_support import src as src
from timekeep.core.api import Timekeep
from timekeep.core.index import histories, queries


def _tree(src: Path, round_: int) -> dict[str, bytes]:
    rnd = random.Random(7)
    shared = rnd.randbytes(5_000)
    files = {f"f{n}.bin": rnd.randbytes(200 + 900 * n) for n in range(12)}
    files["twin-a"] = files["twin-b"] = shared  # one chunk, two files
    if round_:
        files["f3.bin"] = files["f3.bin"][:1000] + b"changed" + files["f3.bin"][1000:]
        files["f5.bin"] = rnd.randbytes(4_000)
    for name, data in files.items():
        (src / "docs" / name).write_bytes(data)
    return files


def test_places_read_along_extents_are_the_digest_lookups(src: Path, tmp_path: Path) -> None:
    (src / "docs").mkdir()
    _tree(src, 0)
    repo = new_repo(tmp_path, src)
    backup(repo)
    db = SqliteDatabase(str(index_file(repo)))
    ids = [vid for (vid,) in db.execute_sql("SELECT id FROM version WHERE kind = 'file'")]
    places: dict[bytes, queries.ChunkLocation] = {}
    stored = histories.extents(db, ids, places)
    digests = [extent[3] for found in stored.values() for extent in found]
    assert places and set(places) == set(digests)
    assert places == queries.chunk_locations(db, digests)
    assert histories.extents(db, ids) == stored
    db.close()


def test_a_folder_comes_back_without_a_digest_lookup(plain_and_encrypted: str, src: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (src / "docs").mkdir()
    repo = new_repo(tmp_path, src)
    rounds = []
    for round_ in range(2):
        rounds.append(backup_of(repo, src, round_))
    by_digest: list[Any] = []
    real = queries.chunk_locations
    monkeypatch.setattr(queries, "chunk_locations", lambda db, d: by_digest.append(d) or real(db, d))
    with Timekeep.open(repo) as tk:
        for n, (sid, files) in enumerate(rounds):
            dest = tmp_path / f"dest{n}"
            result = tk.restore(os.fsencode(src / "docs"), sid, dest=os.fsencode(dest))
            assert result.errors == ()
            assert {p.name: p.read_bytes() for p in (dest / "docs").iterdir()} == files
    assert by_digest == [], "the places came with the extents"


def backup_of(repo: Path, src: Path, round_: int) -> tuple[int, dict[str, bytes]]:
    files = _tree(src, round_)
    return backup(repo), files


def test_a_chunk_in_the_wrong_place_is_only_its_own_files_error(src: Path, tmp_path: Path) -> None:
    (src / "docs").mkdir()
    files = _tree(src, 0)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    damaged = os.fsencode(src / "docs" / "f2.bin")
    with sqlite3.connect(index_file(repo)) as db:  # its place, read along the extents, now names other bytes
        db.execute("UPDATE chunk SET inner = inner + 1 WHERE id = (SELECT e.chunk_id FROM extent e JOIN version v "
                   "ON v.id = e.version_id JOIN file f ON f.id = v.file_id WHERE f.path = ?)", (damaged,))
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src / "docs"), sid, dest=os.fsencode(tmp_path / "dest"))
    assert [e.path for e in result.errors] == [damaged]
    kept = {p.name: p.read_bytes() for p in (tmp_path / "dest" / "docs").iterdir()}
    assert kept == {n: d for n, d in files.items() if n != "f2.bin"}
