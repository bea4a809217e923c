"""The faster paths of the trust checks decide exactly as the plain ones: the same seal bytes, the same refusals
of values a damaged index holds with the wrong type, a whole-file digest hashed a block at a time equal to
the digest of the file, one pass of `check` over every file's versions finding what `history` finds per file,
and the pack filter of the digest lookup keeping what the old one kept."""

from __future__ import annotations

import os
import random
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from tests.helpers import backup, make_tree, new_repo
from tests.treeops import index_db, payload
from timekeep.core.api import Timekeep
from timekeep.core.capture.chunker import iter_chunks
from timekeep.core.errors import CorruptData
from timekeep.core.index import chain, queries, seal
from timekeep.core.storage.layout import ChunkerParams


def plain_seal(path: Any, snapshot_id: Any, prev: Any, state: Any, kind: Any, size: Any, mode: Any, mtime_ns: Any,
               uid: Any, gid: Any, full: Any, digest: Any, link_target: Any, xattrs: Any, xhash: Any) -> bytes:
    """The seal as FORMAT.md lays it out, one field at a time."""
    def field(data: Any) -> bytes:
        return b"\xff\xff\xff\xff" if data is None else struct.pack("<I", len(data)) + data

    ints = struct.pack("<qqqqqqqq", snapshot_id, prev, size, mode, mtime_ns, -1 if uid is None else uid,
                       -1 if gid is None else gid, 1 if full else 0)
    return blake3.blake3(b"".join((
        b"timekeep version seal 1\0", ints, state.encode(), b"\0", kind.encode(), b"\0", field(path), field(digest),
        field(link_target), field(xattrs), field(xhash)))).digest(length=16)


def plain_holds(sealed: Any, *values: Any) -> bool:
    try:
        return bool(sealed == plain_seal(*values))
    except (struct.error, TypeError, ValueError, OverflowError, AttributeError):
        return False


def rows(n: int) -> list[tuple[Any, ...]]:
    rnd = random.Random(9)
    out = []
    for _ in range(n):
        out.append((os.urandom(rnd.randint(0, 40)), rnd.randint(1, 2**40), rnd.randint(0, 2**40),
                    rnd.choice(["created", "modified", "metadata", "deleted", "", "é"]),
                    rnd.choice(["file", "dir", "symlink"]), rnd.randint(0, 2**62), rnd.randint(0, 2**32),
                    rnd.randint(-2**63, 2**63 - 1), rnd.choice([None, 0, 1000]), rnd.choice([None, 0, 1000]),
                    rnd.choice([True, False, 0, 1]), rnd.choice([None, b"", os.urandom(32)]),
                    rnd.choice([None, b"", b"target"]), rnd.choice([None, os.urandom(12)]),
                    rnd.choice([None, os.urandom(16)])))
    return out


HOSTILE = ["text", 1.5, 2**64, -2**64, None, b"bytes", bytearray(b"ba"), 7, True]


def hostile_rows(position: int) -> Iterator[tuple[tuple[Any, ...], bytes]]:
    """A row with each HOSTILE value in field `position`, and its plain seal (zeros where none can be made)."""
    base = rows(1)[0]
    for hostile in HOSTILE:
        values = (*base[:position], hostile, *base[position + 1 :])
        try:
            sealed = plain_seal(*values)
        except (struct.error, TypeError, ValueError, OverflowError, AttributeError):
            sealed = b"\0" * 16
        yield values, sealed


def test_the_seal_bytes_are_those_of_the_format() -> None:
    for values in rows(500):
        assert seal.version_seal(*values) == plain_seal(*values)
        good = plain_seal(*values)
        assert seal.version_holds(good, *values) and not seal.version_holds(good[::-1], *values)


@pytest.mark.parametrize("position", range(15))
def test_a_value_of_the_wrong_type_is_judged_as_before(position: int) -> None:
    """Whatever a damaged index puts in any one field, the fast check says what the plain one says (and
    never raises): text where a number belongs, a float, numbers out of range, None, bytes for text."""
    for values, sealed in hostile_rows(position):
        assert seal.version_holds(sealed, *values) == plain_holds(sealed, *values)


def test_a_block_span_is_its_chunks(tmp_path: Path) -> None:
    params = ChunkerParams()
    data = payload(3, 9_000_000) + bytes(300_000) + payload(4, 123_457)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    whole = blake3.blake3()
    try:
        for block in iter_chunks(fd, params, block_size=1 << 20):
            assert bytes(block.span) == b"".join(block)  # type: ignore[attr-defined]
            whole.update(block.span)  # type: ignore[attr-defined]
    finally:
        os.close(fd)
    assert whole.digest() == blake3.blake3(data).digest()


def test_a_backup_records_the_digest_of_a_file_of_many_blocks(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    big = payload(5, 9_500_000)
    make_tree(src, {"big.bin": big, "small.txt": b"small\n"})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with Timekeep.open(repo) as tk:
        assert tk.plan(os.fsencode(src / "big.bin"), sid).digest == blake3.blake3(big).digest()
        assert tk.plan(os.fsencode(src / "small.txt"), sid).digest == blake3.blake3(b"small\n").digest()


def per_file(tk: Timekeep) -> list[str]:
    found = []
    for (path,) in tk._repo.db.execute_sql("SELECT path FROM file WHERE head != 0 ORDER BY id"):
        try:
            chain.history(tk._repo.db, bytes(path))
        except CorruptData as err:
            found.append(str(err))
    return found


def test_one_pass_over_the_versions_finds_what_history_finds(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {f"f{n}.txt": b"v1 %d\n" % n for n in range(12)} | {"sub": {"g.txt": b"g\n"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    for n in range(0, 12, 2):
        (src / f"f{n}.txt").write_bytes(b"v2 %d\n" % n)
    backup(repo)
    with Timekeep.open(repo) as tk:
        assert [str(e) for e in chain.damaged_histories(tk._repo.db)] == per_file(tk) == []
    damage = [
        "UPDATE version SET snapshot_id = snapshot_id + 40 WHERE id = (SELECT max(id) FROM version)",
        "UPDATE version SET size = size + 1 WHERE id = (SELECT min(id) FROM version WHERE kind = 'file')",
        "UPDATE version SET prev = 0 WHERE id IN (SELECT id FROM version WHERE prev != 0 LIMIT 1)",
        "DELETE FROM version WHERE id IN (SELECT id FROM version WHERE prev != 0 LIMIT 1 OFFSET 1)",
        "UPDATE file SET head = head + 1 WHERE id = (SELECT max(file_id) FROM version)",
        "UPDATE file SET seal = x'00' WHERE id = (SELECT min(file_id) FROM version)",
        "UPDATE file SET head = 'text' WHERE id = (SELECT min(file_id) + 1 FROM version)",
        "UPDATE version SET mode = 'text' WHERE id = (SELECT min(id) + 2 FROM version)",
        "UPDATE version SET file_id = 'text' WHERE id = (SELECT min(id) + 3 FROM version)",
        "UPDATE version SET file_id = (SELECT max(id) FROM file) + 100 WHERE id = (SELECT min(id) + 4 FROM version)",
    ]
    with index_db(repo) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        for sql in damage:
            conn.execute(sql)
    with Timekeep.open(repo) as tk:
        found = [str(e) for e in chain.damaged_histories(tk._repo.db)]
        assert found == per_file(tk) and len(found) >= 6


def test_the_pack_filter_keeps_what_it_kept(tmp_path: Path) -> None:
    """`known_digests` leaves out chunks of a pack not 'ok', and keeps chunks of any other pack."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.bin": payload(1, 200_000), "b.bin": payload(2, 200_000)})
    repo = new_repo(tmp_path, src)
    backup(repo)
    conn = sqlite3.connect(repo / "index.db")
    digests = [bytes(d) for (d,) in conn.execute("SELECT digest FROM chunk")]
    old = ("SELECT digest FROM chunk WHERE digest IN ({}) AND pack_id NOT IN (SELECT id FROM pack WHERE "
           "state != 'ok')")
    with conn:
        conn.execute("UPDATE pack SET state = 'damaged' WHERE id = (SELECT min(id) FROM pack)")
    conn.close()
    with Timekeep.open(repo) as tk:
        for batch in (digests, digests[:1], digests[1:], [os.urandom(32)]):
            expected = {bytes(r[0]) for r in tk._repo.db.execute_sql(old.format(",".join("?" * len(batch))), batch)}
            assert queries.known_digests(tk._repo.db, batch) == expected
