"""What the drive has lost, by snapshot and path: the versions that need a chunk of a pack the drive lost or
damaged, and what a rebuild found lost with a manifest (the `loss` table). Read from the index alone.
"""

from __future__ import annotations

import bisect
import os

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index import chain
from timekeep.core.index.batches import batches
from timekeep.core.index.chain import Link
from timekeep.core.index.queries import ChunkLocation
from timekeep.core.restore.combine import ChunkSource
from timekeep.core.restore.plan import overlay
from timekeep.core.types import Lost


def lost(db: SqliteDatabase, bad: dict[bytes, str]) -> list[Lost]:
    """Everything lost, oldest snapshot first: whole snapshots, then each file's versions that cannot be
    built for want of the chunks in `bad` (see `bad_chunks`), with the snapshots at which that version is
    the file as it was."""
    complete = [int(r[0]) for r in db.execute_sql("SELECT id FROM snapshot WHERE state = 'complete' ORDER BY id")]
    found: list[Lost] = []
    for sid, path, reason in db.execute_sql("SELECT snapshot_id, path, reason FROM loss ORDER BY snapshot_id, id"):
        if path is None:
            found.append(Lost((int(sid),), None, str(reason)))
        else:
            found.extend(_lost_version(db, bytes(path), int(sid), str(reason), complete))
    found.extend(_unbuildable(db, bad, complete))
    return sorted(found, key=lambda item: (item.snapshots[:1], item.path or b""))


def _lost_version(db: SqliteDatabase, path: bytes, sid: int, reason: str, complete: list[int]) -> list[Lost]:
    """A file whose version at a lost snapshot is gone: the later snapshots until its next version show it as
    it was before (or not at all), which may not be how it was."""
    try:
        history = chain.history(db, path) or []
    except CorruptData:
        history = []
    after = [link.snapshot_id for link in history if link.snapshot_id > sid]
    until = min(after, default=None)
    shown = tuple(s for s in complete if s >= sid and (until is None or s < until))
    return [Lost(shown or (sid,), path, reason)]


def to_store_again(db: SqliteDatabase) -> set[bytes]:
    """Files some stored version of which needs a chunk of a pack the drive lost or damaged: the next backup
    reads them even if unchanged, and what is still the same on this computer is stored again, which heals
    every version that needed it."""
    # the few packs first: joined from the pack table, SQLite read every extent row of the repository to find
    # them, at every backup (15 ms at 10,000 files, growing with the repository, not the work)
    lost = [int(i) for (i,) in db.execute_sql("SELECT id FROM pack WHERE state != 'ok'")]
    paths: set[bytes] = set()
    for batch in batches(lost):
        paths.update(bytes(p) for (p,) in db.execute_sql(
            "SELECT DISTINCT f.path FROM chunk c JOIN extent e ON e.chunk_id = c.id JOIN version v ON v.id = "
            f"e.version_id JOIN file f ON f.id = v.file_id WHERE c.pack_id IN ({','.join('?' * len(batch))})",
            batch))
    return paths


def bad_chunks(db: SqliteDatabase, source: ChunkSource) -> dict[bytes, str]:
    """Each chunk that cannot be read back, with why: every chunk of a pack the drive lost, and the chunks of
    a damaged pack that fail their digest when read (the rest of it is still good)."""
    bad: dict[bytes, str] = {}
    rows = db.execute_sql(
        "SELECT c.digest, p.name, p.state, c.offset, c.length, c.inner, c.raw_length FROM chunk c "
        "JOIN pack p ON p.id = c.pack_id WHERE p.state != 'ok' ORDER BY p.name, c.offset")
    for digest, name, state, *place in rows:
        if state == "missing":
            bad[bytes(digest)] = f"pack {name} is missing from the drive" if name else "no pack on the drive holds it"
            continue
        try:
            source.chunk_at(bytes(digest), ChunkLocation(name, *place))
        except CorruptData:
            bad[bytes(digest)] = f"pack {name} is damaged"
    return bad


def _unbuildable(db: SqliteDatabase, bad: dict[bytes, str], complete: list[int]) -> list[Lost]:
    if not bad:
        return []
    paths: set[bytes] = set()
    for batch in batches(list(bad)):
        marks = ",".join("?" * len(batch))
        paths.update(bytes(p) for (p,) in db.execute_sql(
            "SELECT DISTINCT f.path FROM extent e JOIN chunk c ON c.id = e.chunk_id JOIN version v ON v.id = "
            f"e.version_id JOIN file f ON f.id = v.file_id WHERE c.digest IN ({marks})", batch))
    found: list[Lost] = []
    for path in sorted(paths):
        found.extend(_file_losses(db, path, bad, complete))
    return found


def _file_losses(db: SqliteDatabase, path: bytes, bad: dict[bytes, str], complete: list[int]) -> list[Lost]:
    """Each version of the file that needs a bad chunk, with the snapshots showing that version."""
    try:
        history = chain.history(db, path) or []
    except CorruptData as err:
        return [Lost(tuple(complete[-1:]), path, str(err))]
    found = []
    for at, link in enumerate(history):
        if link.kind != "file" or link.state == "deleted":
            continue
        missing = _missing_pieces(db, history, at, bad)
        if missing is not None:
            shown = _shown_at(history, at, complete)
            if shown:
                found.append(Lost(shown, path, f"its pieces are lost: {missing}"))
    return found


def _missing_pieces(db: SqliteDatabase, history: list[Link], at: int, bad: dict[bytes, str]) -> str | None:
    try:
        links = chain.chain_of(history, at)
    except CorruptData as err:
        return str(err)
    order = {link.id: n for n, link in enumerate(links)}
    marks = ",".join("?" * len(order))
    extents = [(order[vid], o, n, bytes(d), k) for vid, o, n, d, k in db.execute_sql(
        "SELECT e.version_id, e.offset, e.length, c.digest, e.skip FROM extent e JOIN chunk c ON c.id = e.chunk_id "
        f"WHERE e.version_id IN ({marks})", list(order))]
    for piece in overlay(extents, history[at].size):
        if piece.digest in bad:
            return bad[piece.digest]
    return None


def _shown_at(history: list[Link], at: int, complete: list[int]) -> tuple[int, ...]:
    """The complete snapshots at which version `at` is the file as it was."""
    start = history[at].snapshot_id
    end = history[at + 1].snapshot_id if at + 1 < len(history) else None
    first = bisect.bisect_left(complete, start)
    return tuple(s for s in complete[first:] if end is None or s < end)


def describe(item: Lost) -> str:
    """One line for a person."""
    when = _span(item.snapshots)
    if item.path is None:
        return f"{when} is lost: {item.reason}"
    return f"{os.fsdecode(item.path)} at {when}: {item.reason}"


def _span(ids: tuple[int, ...]) -> str:
    if len(ids) == 1:
        return f"snapshot {ids[0]}"
    if list(ids) == list(range(ids[0], ids[-1] + 1)):
        return f"snapshots {ids[0]}–{ids[-1]}"
    return "snapshots " + ", ".join(str(i) for i in ids)
