"""A big file's new chunks go to packs of their own (core/capture/read.py OWN_PACK_BYTES), in its order: two
big files read at once by two readers never share a pack, so restoring one reads a few long ranges; small
files still share one pack, so a small backup still writes one pack."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.treeops import index_db, restore_into
from timekeep.core.api import Timekeep

FILES_OF_PACKS = (
    "SELECT p.name, f.path, MIN(c.offset), MAX(c.offset) FROM pack p JOIN chunk c ON c.pack_id = p.id "
    "JOIN extent e ON e.chunk_id = c.id JOIN version v ON v.id = e.version_id JOIN file f ON f.id = v.file_id "
    "GROUP BY p.name, f.path")


def test_two_big_files_read_at_once_never_share_a_pack(tmp_path: Path, plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    spec: dict[str, bytes | dict | str] = {"one.bin": os.urandom(10 << 20), "two.bin": os.urandom(10 << 20)}
    spec.update({f"note{n}.txt": f"small file {n}\n".encode() * 50 for n in range(20)})
    make_tree(src, spec)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with index_db(repo) as conn:
        rows = conn.execute(FILES_OF_PACKS).fetchall()
    owners: dict[str, set[str]] = {}
    for pack, path, _, _ in rows:
        owners.setdefault(pack, set()).add(os.path.basename(os.fsdecode(path)))
    big_packs = {pack for pack, names in owners.items() if names & {"one.bin", "two.bin"}}
    assert big_packs and all(len(owners[p]) == 1 for p in big_packs), owners
    small_packs = {pack for pack, names in owners.items() if any(n.startswith("note") for n in names)}
    assert len(small_packs) == 1, "the small files share one pack"
    with Timekeep.open(repo) as tk:
        restored, _ = restore_into(tk, os.fsencode(src), sid, tmp_path / "out")
    assert restored == read_tree(src)
