"""`check`: does the index agree with the drive? Optionally re-read and re-hash every chunk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from peewee import SqliteDatabase

from core.errors import CorruptData
from core.index.queries import ChunkLocation
from core.restore.combine import ChunkSource, verified_slice
from core.storage.layout import Layout
from core.storage.lock import writer_running
from core.storage.manifest import manifest_ids
from core.storage.pack import PackReader, iter_pack_files, read_footer
from core.types import CheckReport, Progress


class Checker:
    def __init__(self, db: SqliteDatabase, layout: Layout) -> None:
        self.db = db
        self.layout = layout
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.writing = False  # a live writer holds the lock: its unfinished work is not a leftover

    def run(self, read_data: bool, progress: Callable[[Progress], None] | None = None) -> CheckReport:
        self.writing = writer_running(self.layout.lock)
        with self.db.atomic():  # one view of the index, however a running writer commits meanwhile
            packs = {name: pid for pid, name in self.db.execute_sql("SELECT id, name FROM pack")}
            # listed after the view is taken: a backup's pack is on the drive before the index names it
            on_drive = {p.stem: p for p in iter_pack_files(self.layout)}
            missing = self._packs(packs, on_drive)
            running = self._references()
            snapshots = self._manifests(running)
            chunks = self.db.execute_sql("SELECT count(*) FROM chunk").fetchone()[0]
        self.writing = self.writing or writer_running(self.layout.lock)
        self._missing(missing)
        self._unfinished(sorted(on_drive.keys() - packs.keys()), running)
        read = self._read_all(progress) if read_data else 0
        return CheckReport(len(packs), chunks, snapshots, read, tuple(self.problems), tuple(self.notes))

    def _unfinished(self, unindexed: list[str], running: list[int]) -> None:
        """Packs the index does not name and snapshots still 'running': a live backup's work in progress,
        or what an interrupted one left for the next backup to reuse and clean up."""
        if self.writing:
            self.notes.insert(0, "a backup is running: its unfinished snapshot and the packs it has written "
                                 "so far are not checked")
            return
        for name in unindexed:
            self.notes.append(f"pack {name} is not in the index (left by an interrupted backup; reusable)")
        if running:
            count = f"{len(running)} interrupted snapshot{'s' if len(running) != 1 else ''}"
            self.notes.append(f"{count} will be cleaned up by the next backup")

    def _packs(self, packs: dict[str, int], on_drive: dict[str, Path]) -> list[str]:
        """Check each indexed pack's footer against the index; returns the packs not found on the drive."""
        missing = []
        for name, pid in sorted(packs.items()):
            if name not in on_drive or not self._pack_footer(name, pid, on_drive[name]):
                missing.append(name)
        return missing

    def _missing(self, names: list[str]) -> None:
        """A running thinning deletes the packs it rewrote once the index no longer names them: a pack is
        missing only if the index, read afresh, still names it."""
        if self.writing and names:
            named = {row[0] for row in self.db.execute_sql("SELECT name FROM pack")}
            names = [n for n in names if n in named and not self.layout.pack_path(n).exists()]
        self.problems.extend(f"pack {name} is missing from the drive" for name in names)

    def _pack_footer(self, name: str, pid: int, path: Path) -> bool:
        """False if the pack is gone; a damaged footer or a chunk out of place is a problem."""
        try:
            footer = {e.digest: (e.offset, e.length, e.inner, e.raw_length) for e in read_footer(path)}
        except CorruptData as err:
            self.problems.append(str(err))
            return True
        except FileNotFoundError:
            return False
        rows = self.db.execute_sql("SELECT digest, offset, length, inner, raw_length FROM chunk WHERE pack_id = ?",
                                   (pid,))
        for digest, *place in rows:
            if footer.get(digest) != tuple(place):
                self.problems.append(f"chunk {digest.hex()[:16]} is not where the index says in pack {name}")
        return True

    def _references(self) -> list[int]:
        """Extents point at known chunks; returns the snapshots still marked running."""
        (dangling,) = self.db.execute_sql(
            "SELECT count(*) FROM extent e LEFT JOIN chunk c ON c.id = e.chunk_id WHERE c.id IS NULL").fetchone()
        if dangling:
            self.problems.append(f"{dangling} extent(s) refer to chunks the index does not have")
        running = [row[0] for row in self.db.execute_sql("SELECT id FROM snapshot WHERE state = 'running'")]
        (unused,) = self.db.execute_sql(
            "SELECT count(*) FROM chunk c WHERE NOT EXISTS (SELECT 1 FROM extent e WHERE e.chunk_id = c.id)").fetchone()
        if unused and not self.writing:  # a running backup indexes its chunks before the versions using them
            self.notes.append(f"{unused} stored chunk(s) no snapshot uses; `timekeep coalesce` gives their space back")
        return running

    def _manifests(self, running: list[int]) -> int:
        ids = [row[0] for row in self.db.execute_sql("SELECT id FROM snapshot WHERE state = 'complete'")]
        for sid in ids:
            if not self.layout.manifest_path(sid).exists():
                self.problems.append(f"snapshot {sid} has no manifest on the drive")
        # a backup writes its manifest just before it marks its snapshot complete
        extra = sorted(set(manifest_ids(self.layout)) - set(ids) - (set(running) if self.writing else set()))
        if self.layout.coalescing.exists():
            self.notes.append("a thinning is running" if self.writing
                              else "a thinning was interrupted; the next backup or thinning finishes it")
        elif extra:
            self.notes.append(f"manifests of snapshots the index does not have: {extra[:5]}")
        return len(ids)

    def _read_all(self, progress: Callable[[Progress], None] | None) -> int:
        """Decompress every frame once and check every chunk in it against its digest."""
        source = ChunkSource(self.db, PackReader(self.layout))
        rows = list(self.db.execute_sql(
            "SELECT c.digest, p.name, c.offset, c.length, c.inner, c.raw_length FROM chunk c "
            "JOIN pack p ON p.id = c.pack_id ORDER BY p.name, c.offset, c.inner"))
        done, key, raw = 0, None, b""
        try:
            for digest, *place in rows:
                where = ChunkLocation(*place)
                if where.frame != key:
                    key, raw = where.frame, self._frame(source, where)
                if raw:
                    self._verify(raw, digest, where)
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
            self.problems.append(f"frame at {where.offset} in pack {where.pack}: {err}")
            return b""

    def _verify(self, raw: bytes, digest: bytes, where: ChunkLocation) -> None:
        try:
            verified_slice(raw, digest, where)
        except CorruptData as err:
            self.problems.append(str(err))
