"""`check`: is the index whole, does it agree with the drive, and what has the drive lost? Optionally re-read
and re-hash every chunk.

Problems are what is wrong now (damage, disagreement); `lost` lists, by snapshot and path, what can no
longer be restored; notes are what is normal but worth knowing (a writer's unfinished work).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from peewee import SqliteDatabase

from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.errors import CorruptData, IndexDamaged, StorageError
from timekeep.core.index import chain, live, losses, trust
from timekeep.core.index.agreement import disagreement
from timekeep.core.index.queries import ChunkLocation
from timekeep.core.index.schema import check_integrity
from timekeep.core.index.survey import DriveView, compare, survey
from timekeep.core.restore.combine import ChunkSource, verified_slice
from timekeep.core.storage.failures import drive_errors
from timekeep.core.storage.layout import COALESCING_NAME, Layout, read_folders
from timekeep.core.storage.pack import PackReader, read_footer
from timekeep.core.types import CheckReport, Progress

if TYPE_CHECKING:
    from timekeep.core.repository import Repository

ProgressCallback = Callable[[Progress], None]


class Checker:
    def __init__(self, db: SqliteDatabase, layout: Layout) -> None:
        self.db = db
        self.layout = layout
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.writing = False  # a live writer holds the lock: its unfinished work is not a leftover
        self.unreadable: dict[bytes, str] = {}  # chunks --read-data found bad, with their pack

    def run(self, read_data: bool, progress: ProgressCallback | None = None) -> CheckReport:
        self.writing = self.layout.store.writer_running()
        try:
            check_integrity(self.db)
        except IndexDamaged as err:
            self.problems.append(f"{err}; run `timekeep rebuild-index`")
            return CheckReport(0, 0, 0, 0, tuple(self.problems), tuple(self.notes))
        with self.db.atomic():  # one view of the index, however a running writer commits meanwhile
            view = survey(self.layout)  # listed after the view is taken: packs reach the drive before the index
            self._drift(view)
            self._footers(view.packs)
            self._references()
            snapshots = self._manifests(view.manifests, progress)
            self._seals()
            self._folders()
            packs, chunks = self.db.execute_sql(
                "SELECT (SELECT count(*) FROM pack WHERE name != ''), (SELECT count(*) FROM chunk)").fetchone()
        self.writing = self.writing or self.layout.store.writer_running()
        read = self._read_all(progress) if read_data else 0
        source = ChunkSource(self.db, PackReader(self.layout))
        try:
            lost = tuple(losses.lost(self.db, {**losses.bad_chunks(self.db, source), **self.unreadable}))
        finally:
            source.reader.close()
        return CheckReport(packs, chunks, snapshots, read, tuple(self.problems), tuple(self.notes), lost)

    def damaged_packs(self) -> set[str]:
        """The packs in which --read-data found chunks that are not what was stored."""
        return {reason.split()[1] for reason in self.unreadable.values()}

    def _folders(self) -> None:
        try:
            read_folders(self.layout)
        except (OSError, ValueError, TypeError, CorruptData) as err:
            self.problems.append(f"folders.json is damaged ({err}); the next backup writes it again from the index")

    def _drift(self, view: DriveView) -> None:
        drift = compare(self.db, view)
        for what in drift.behind:
            if not self.writing:
                self.problems.append(f"the index is behind the drive: {what}; the next backup rebuilds it "
                                     "(or run `timekeep rebuild-index`)")
        for name in drift.missing_packs:
            if not self.writing or self.db.execute_sql("SELECT 1 FROM pack WHERE name = ?", (name,)).fetchone():
                self.problems.append(f"pack {name} is missing from the drive")
        for name in drift.resized_packs:
            self.problems.append(f"pack {name} is not the size the index says (cut short or damaged)")
        for name, state in self.db.execute_sql("SELECT name, state FROM pack WHERE state != 'ok' AND name != ''"):
            self.problems.append(f"pack {name} is {state} (found so before)")
        for sid in drift.missing_manifests:
            self.problems.append(f"snapshot {sid} has no manifest on the drive; the next backup writes it again "
                                 "from the index")
        self._unfinished(drift.unknown_packs)

    def _unfinished(self, unindexed: list[str]) -> None:
        """Packs the index does not name and snapshots still 'running': a live backup's work in progress,
        or what an interrupted one left for the next backup to reuse and clean up."""
        if self.writing:
            self.notes.insert(0, "a backup is running: its unfinished snapshot and the packs it has written "
                                 "so far are not checked")
            return
        for name in unindexed:
            self.notes.append(f"pack {name} is not in the index (left by an interrupted backup; reusable)")
        running = self.db.execute_sql("SELECT count(*) FROM snapshot WHERE state = 'running'").fetchone()[0]
        if running:
            self.notes.append(f"{running} interrupted snapshot{'s' if running != 1 else ''} will be cleaned up "
                              "by the next backup")
        if self.layout.store.stat(COALESCING_NAME) is not None:
            self.notes.append("a thinning was interrupted; the next backup or thinning finishes it")

    def _footers(self, on_drive: dict[str, int]) -> None:
        """Each indexed pack's footer against the index."""
        for pid, name in self.db.execute_sql("SELECT id, name FROM pack WHERE state = 'ok' AND name != ''"):
            if name in on_drive:
                self._pack_footer(name, pid)

    def _pack_footer(self, name: str, pid: int) -> None:
        try:
            entries = read_footer(self.layout.store, name, self.layout.sealing)
            footer = {e.digest: (e.offset, e.length, e.inner, e.raw_length) for e in entries}
        except (CorruptData, StorageError) as err:
            self.problems.append(str(err))
            return
        rows = self.db.execute_sql("SELECT digest, offset, length, inner, raw_length FROM chunk WHERE pack_id = ?",
                                   (pid,))
        for digest, *place in rows:
            if footer.get(digest) != tuple(place):
                self.problems.append(f"chunk {digest.hex()[:16]} is not where the index says in pack {name}")

    def _references(self) -> None:
        (dangling,) = self.db.execute_sql(
            "SELECT count(*) FROM extent e LEFT JOIN chunk c ON c.id = e.chunk_id WHERE c.id IS NULL").fetchone()
        if dangling:
            self.problems.append(f"{dangling} extent(s) refer to chunks the index does not have")
        (unused,) = self.db.execute_sql(
            "SELECT count(*) FROM chunk c WHERE NOT EXISTS (SELECT 1 FROM extent e WHERE e.chunk_id = c.id)").fetchone()
        if unused and not self.writing:  # a running backup indexes its chunks before the versions using them
            self.notes.append(f"{unused} stored chunk(s) no snapshot uses; `timekeep coalesce` gives their space back")

    def _manifests(self, on_drive: dict[int, dict[int, str]], progress: ProgressCallback | None) -> int:
        """Every complete snapshot's newest manifest, read whole, against the index."""
        rows = [(int(i), int(g)) for i, g in self.db.execute_sql(
            "SELECT id, gen FROM snapshot WHERE state = 'complete' ORDER BY id")]
        for n, (sid, gen) in enumerate(rows):
            gens = on_drive.get(sid)
            if gens and gen in gens:
                problem = disagreement(self.db, sid, self.layout.store, gens[gen], self.layout.sealing)
                if problem is not None:
                    self.problems.append(f"{problem}; run `timekeep rebuild-index`")
            elif gens and self.layout.store.stat(COALESCING_NAME) is None:  # an unfinished thinning writes it next
                self.problems.append(f"the drive lacks the manifest of snapshot {sid} the index knows "
                                     f"(generation {gen}); the next backup writes it again from the index")
            if progress is not None:
                progress(Progress("check", n + 1, len(rows), 0, 0, 0.0))
        return len(rows)

    def _seals(self) -> None:
        """Every file's versions against their seals (see core/index/seal.py)."""
        self.problems.extend(str(err) for err in chain.damaged_histories(self.db))
        self.problems.extend(f"the index is damaged at {os.fsdecode(folder)}: the names it holds alive are not "
                             "those written; run `timekeep rebuild-index`" for folder in live.unheld_sets(self.db))

    def _read_all(self, progress: ProgressCallback | None) -> int:
        """Decompress every frame once and check every chunk in it against its digest."""
        source = ChunkSource(self.db, PackReader(self.layout))
        rows = list(self.db.execute_sql(
            "SELECT c.digest, p.name, c.offset, c.length, c.inner, c.raw_length FROM chunk c "
            "JOIN pack p ON p.id = c.pack_id WHERE p.state = 'ok' ORDER BY p.name, c.offset, c.inner"))
        done, key, raw = 0, None, b""
        try:
            for digest, *place in rows:
                where = ChunkLocation(*place)
                if where.frame != key:
                    key, raw = where.frame, self._frame(source, where)
                self._verify(raw, digest, where, source.ids)
                done += 1
                if progress is not None and done % 256 == 0:
                    progress(Progress("check", done, len(rows), 0, 0, 0.0))
        finally:
            source.reader.close()
        return done

    def _frame(self, source: ChunkSource, where: ChunkLocation) -> bytes:
        try:
            return source.frame(where.frame)
        except CorruptData as err:
            self.problems.append(f"pack {where.pack}: the frame at {where.offset} is damaged ({err})")
            return b""

    def _verify(self, raw: bytes, digest: bytes, where: ChunkLocation, ids: ChunkIds) -> None:
        try:
            if not raw:
                raise CorruptData("its frame is damaged")
            verified_slice(raw, digest, where, ids)
        except CorruptData as err:
            if raw:
                self.problems.append(str(err))
            self.unreadable[digest] = f"pack {where.pack} is damaged"


def check(repo: Repository, read_data: bool = False, progress: ProgressCallback | None = None) -> CheckReport:
    """Check an open repository; packs --read-data finds damaged are noted in the index (when no writer runs),
    so the next backup stores their chunks again."""
    checker = Checker(repo.db, repo.layout)
    report = checker.run(read_data, progress)
    damaged = checker.damaged_packs()
    if damaged and repo.index_copy is None:
        with drive_errors(repo.root):
            said = trust.record_damage(repo.layout, repo.db, damaged, repo.writable)
        report = dataclasses.replace(report, notes=(*report.notes, *said))
    if repo.index_copy is not None:
        note = ("the index could not be read in place on the drive (full, read-only, or of an older schema), so "
                "a local copy was checked")
        report = dataclasses.replace(report, notes=(note, *report.notes))
    return report
