"""Walk one protected folder and compare it, directory by directory, with the index: a metadata scan.

Only what differs comes out. Symlinks are recorded, never followed; sockets, FIFOs and devices are
skipped with a note. A directory that vanishes yields deletions for everything stored beneath it,
taken from the index, without touching the disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from peewee import SqliteDatabase

from timekeep.core.capture import prefetch
from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.met import met_in, met_vouched
from timekeep.core.capture.observe import Observed, classify, observe
from timekeep.core.capture.prefetch import Listing
from timekeep.core.index import queries, scanned
from timekeep.core.index.bucket_digests import ONE_BUCKET, WHOLE, Met, bucket_of, buckets_of
from timekeep.core.index.folder_digests import FolderDigests, unvouched
from timekeep.core.index.listing import live_held
from timekeep.core.index.queries import VersionRow
from timekeep.core.index.records import FILE, FOLDER
from timekeep.core.paths import is_inside
from timekeep.core.types import SKIPPED, FileError, kind_of

Report = Callable[[FileError], None]


@dataclass(frozen=True)
class ScanItem:
    """One path whose stored state must change: `action` is a version state, or 'read' for content.
    `origin`: the path it was renamed from, when a watcher saw the rename (see timekeep.core.capture.arrivals)."""

    path: bytes
    observed: Observed | None
    prev: VersionRow | None
    action: str
    origin: bytes | None = None


@dataclass
class ScanCounts:
    files: int = 0
    dirs: int = 0


class Unreadable(Exception):
    """The path exists but cannot be examined: keep its stored state rather than call it deleted."""


def _lstat(path: bytes, report: Report) -> tuple[os.stat_result, str, bytes | None] | None:
    """(stat, kind, link target), or None when the path is gone or is not something we store."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        report(FileError(path, "unreadable", err.strerror or str(err)))
        raise Unreadable from err
    found = _kind(path, st, report)
    return None if found is None else (st, *found)


def _kind(path: bytes, st: os.stat_result, report: Report) -> tuple[str, bytes | None] | None:
    """(kind, link target) of a path already stat'ed, or None when it is not something we store."""
    kind = kind_of(st.st_mode)
    if kind is None:
        report(FileError(path, SKIPPED, "not a regular file, folder or link (socket, FIFO or device)"))
        return None
    try:
        return kind, os.readlink(path) if kind == "symlink" else None
    except FileNotFoundError:
        return None
    except OSError as err:
        report(FileError(path, "unreadable", err.strerror or str(err)))
        raise Unreadable from err


def protects(root: bytes, excludes: Excludes, path: bytes) -> bool:
    """Whether `path` is inside the protected folder `root` and excluded nowhere on the way down."""
    if not is_inside(path, root):
        return False
    rel = path[len(root) + 1 :]
    parts = rel.split(b"/") if rel else []
    return not any(excludes.excluded(name, b"/".join(parts[: i + 1])) for i, name in enumerate(parts))


def as_stored(met: list[Met], stack: list[bytes], counts: ScanCounts) -> None:
    """Children a digest vouches for: each as stored, counted; the sub-folders pushed to be walked as usual."""
    folders, a_folder = 0, FOLDER
    for _, child, _, record in met:
        if record is not None and record[-1] == a_folder:
            folders += 1
            stack.append(child)
    counts.dirs += folders
    counts.files += len(met) - folders


class FolderScan:
    def __init__(self, db: SqliteDatabase, root: bytes, excludes: Excludes, report: Report,
                 reread: Collection[bytes] = (), repository: tuple[int, int] | None = None,
                 exact: bool = False, digests: FolderDigests | None = None) -> None:
        self.db = db
        self.root = root
        self.excludes = excludes
        self._reports = 0  # how many problems were reported: a folder with one gets no digest
        self._report_to = report
        self.report: Report = self._counted
        self.digests = digests  # the full scan's folder digests (core/index/folder_digests.py)
        self._exclusions = b"\0".join((root, *(os.fsencode(p) for p in excludes.patterns)))
        self._reread_parents = {os.path.dirname(p) for p in reread}  # folders whose digest is not used
        # files read even when unchanged: pieces of their stored versions were lost, or (a run from the journal)
        # they were stored racy last time
        self.reread = reread
        self.repository = repository  # (device, inode) of the repository folder: never walked into
        self.counts = ScanCounts()
        self.exact = exact  # journaled paths only: no folder walked (see `exact_items`)
        self._seen: set[bytes] | None = None  # paths already compared, when journaled paths may overlap
        self._prefetched: dict[bytes, Listing] = {}  # a full scan's folders as a prefetch met them (prefetch.py)

    def _counted(self, error: FileError) -> None:
        self._reports += 1
        self._report_to(error)

    def items(self) -> Iterator[ScanItem]:
        """Everything under the folder that differs from the index: the full metadata scan."""
        root = self._root()
        if root is not None:
            if self.digests is not None and self.digests.keeps_any():
                self._prefetched = prefetch.listings(self.root)
            else:  # no digest to hold a listing to (a first backup): the prefetch is no use
                prefetch.stop()
            yield from self._compare(*root)
            yield from self._walk(self.root)
            self._prefetched = {}

    def dirty_items(self, dirty: Iterable[bytes]) -> Iterator[ScanItem]:
        """Only what a watcher journaled: each path, and a folder's direct children. A folder the index
        does not hold as a folder (new, or a file before) is walked whole, and so is the highest such
        ancestor of a path, so nothing new is ever left without a version to list it by."""
        root = self._root()
        if root is None:
            return
        if self.exact:
            yield from self.exact_items(dirty, root)
            return
        walked: list[bytes] = []
        self._seen = set()
        for path in sorted({self._first_unknown(p) for p in dirty if protects(self.root, self.excludes, p)}):
            if any(is_inside(path, done) for done in walked):
                continue
            if path == self.root:
                yield from self._compare(*root)
            yield from self._dirty(path, walked)

    def subtree_items(self, tops: Iterable[bytes]) -> Iterator[ScanItem]:
        """Everything at and below each of `tops` (folders inside the root) that differs from the index: the
        metadata scan of the parts of a folder that no watch covers."""
        if self._root() is None:
            return
        self._seen = set()
        for top in sorted(t for t in tops if protects(self.root, self.excludes, t) and t != self.root):
            yield from self._exact(top)
            if os.path.isdir(top) and not os.path.islink(top):
                yield from self._walk(top)

    def exact_items(self, dirty: Iterable[bytes], root: tuple[Observed, VersionRow | None]) -> Iterator[ScanItem]:
        """Each journaled path and the folders above it, compared one by one; no folder is walked, whatever
        the index holds: an away store (timekeep.core.away) keeps what changed, never a copy of the rest."""
        self._seen = set()
        yield from self._compare(*root)
        for path in sorted(p for p in dirty if protects(self.root, self.excludes, p) and p != self.root):
            parent, above = os.path.dirname(path), []
            while parent != self.root and is_inside(parent, self.root):
                above.append(parent)
                parent = os.path.dirname(parent)
            for folder in [*reversed(above), path]:
                yield from self._exact(folder)

    def _exact(self, path: bytes) -> Iterator[ScanItem]:
        prev = self._latest(path)
        try:
            found = _lstat(path, self.report)
        except Unreadable:
            return
        if found is None:
            if prev is not None and prev.state != "deleted":
                yield from self._deleted(path, prev)
            return
        yield from self._compare(observe(path, found[0], found[1], found[2]), prev)

    def _root(self) -> tuple[Observed, VersionRow | None] | None:
        try:
            found = _lstat(self.root, self.report)
        except Unreadable:
            return None
        if found is None or found[1] != "dir":
            self.report(FileError(self.root, "missing", "protected folder is missing; its history is kept"))
            return None
        return observe(self.root, found[0], "dir"), self._latest(self.root)

    def _latest(self, path: bytes) -> VersionRow | None:
        fid = queries.file_id(self.db, path)
        return queries.latest_version(self.db, fid) if fid is not None else None

    def _first_unknown(self, path: bytes) -> bytes:
        """`path`, or its highest ancestor below the root that the index does not hold as a live folder."""
        highest = path
        parent = os.path.dirname(path)
        while is_inside(parent, self.root) and parent != self.root:
            prev = self._latest(parent)
            if prev is None or prev.state == "deleted" or prev.kind != "dir":
                highest = parent
            parent = os.path.dirname(parent)
        return highest

    def _dirty(self, path: bytes, walked: list[bytes]) -> Iterator[ScanItem]:
        prev = self._latest(path)
        try:
            found = _lstat(path, self.report) if path != self.root else None
        except Unreadable:
            return
        if path != self.root:
            if found is None:
                if prev is not None and prev.state != "deleted":
                    yield from self._deleted(path, prev)
                return
            yield from self._compare(observe(path, found[0], found[1], found[2]), prev)
            if found[1] != "dir":
                return
        if prev is None or prev.state == "deleted" or prev.kind != "dir":
            walked.append(path)
            yield from self._walk(path)
        else:
            new_folders: list[bytes] = []
            yield from self._directory(path, new_folders, only_new=True)
            for folder in new_folders:
                walked.append(folder)
                yield from self._walk(folder)

    def _walk(self, top: bytes) -> Iterator[ScanItem]:
        stack = [top]
        while stack:
            yield from self._directory(stack.pop(), stack)

    def _first_time(self, path: bytes) -> bool:
        """False for a path this scan already compared (a journaled folder and its journaled child)."""
        if self._seen is None:
            return True
        if path in self._seen:
            return False
        self._seen.add(path)
        return True

    def _compare(self, obs: Observed, prev: VersionRow | None) -> Iterator[ScanItem]:
        if not self._first_time(obs.path):
            return
        if obs.kind == "dir":
            self.counts.dirs += 1
        else:
            self.counts.files += 1
        action = classify(obs, prev)
        if action is None and obs.kind == "file" and obs.path in self.reread:
            action = "read"
        if action is not None:
            yield ScanItem(obs.path, obs, prev, action)
        if prev is not None and prev.kind == "dir" and obs.kind != "dir" and prev.state != "deleted":
            yield from self._deleted_beneath(prev)

    def _directory(self, path: bytes, stack: list[bytes], only_new: bool = False) -> Iterator[ScanItem]:
        """Compare one folder's children; push the sub-folders to descend into (with `only_new`, just
        those the index does not hold as folders yet). Most children are files as stored: they cost one
        `lstat` and one comparison here (`_changed` takes the rest), since a full scan's time is per file. In a
        full scan with `digests`, a folder whose children's digest is the one kept for it costs only the
        `lstat`s (core/index/folder_digests.py), and one found as stored gets its digest kept."""
        fid = queries.file_id(self.db, path)
        digests = self.digests if self._seen is None and not only_new and path not in self._reread_parents else None
        kept = {} if fid is None or digests is None else digests.holding(fid, path)
        listed = self._prefetched.pop(path, None) if kept else None
        below = len(self.root) + 1  # (what `children_met` strips from a path for the exclusions)
        vouched = None if listed is None else met_vouched(path, listed, kept, self.excludes, below, self._exclusions,
                                                          self.repository)
        met, buckets = vouched if vouched is not None else ([], None)
        if vouched is None:
            try:
                met = met_in(path, self.excludes, below)
            except OSError as err:
                self.report(FileError(path, "unreadable", f"cannot list folder: {err.strerror or err}"))
                return
            buckets = None if digests is None else buckets_of(met, self._exclusions, self.repository)
        if digests is None or buckets is None:
            yield from self._children(met, {} if fid is None else scanned.latest(self.db, fid), stack, only_new)
            return
        same = {b for b, (digest, _) in buckets.items() if kept.get(b) == digest}
        if fid is not None and same and len(buckets) == 1 and len(met) <= WHOLE:  # the whole folder as kept
            live_held(self.db.connection(), fid)  # its live set checked, as reading its rows would: damage is named
            as_stored(met, stack, self.counts)
            return
        reports, changed, stored = self._reports, set(), []
        checked = None if fid is None or not same else unvouched(self.db, fid, buckets, same)
        if checked is None and vouched is not None and same:  # row by row, but some children were not met here:
            yield from self._directory(path, stack, only_new)  # met whole (the listing is taken), then compared
            return
        if checked is None:  # every row read (no digest holds, or the folder has lost or hidden children)
            same = set()
            found = self._children(met, {} if fid is None else scanned.latest(self.db, fid), stack, only_new)
        else:
            for b in same:
                as_stored(buckets[b][1], stack, self.counts)
            found = self._children(checked[0], checked[1], stack, only_new)
        cut, whole = len(path) + 1, len(met) <= WHOLE
        records: dict[bytes, bytes | None] | None = None
        for item in found:
            name = item.path[cut:].split(b"/", 1)
            changed.add(ONE_BUCKET if whole else bucket_of(name[0]))
            if len(name) == 1:  # a change of a child met (a child gone has no record: the count says it is gone)
                if records is None:
                    records = {child: record for _, child, _, record in met}
                if (record := records.get(item.path)) is not None:
                    stored.append((item.path, record))
                    digests.expect(item.path, record)  # before the backup can commit it
            yield item
        if self._reports != reports:
            return
        if fid is not None:
            digests.found_as_stored(fid, path, {b: d for b, (d, _) in buckets.items() if b not in changed | same})
        # the changed buckets' digests, kept once the backup has stored each change with the record the scan made
        digests.pending(path, len(met), {b: buckets[b][0] for b in changed if b in buckets}, stored)

    def _children(self, met: list[Met], left: dict[bytes, scanned.Stored], stack: list[bytes],
                  only_new: bool) -> Iterator[ScanItem]:
        """`_directory`'s loop over the children met. A file or folder as stored is one whose packed (size, mtime,
        inode, ctime, mode, kind) is the stored record's, byte for byte (core/index/scanned.py): what `classify`
        would call unchanged, without the whole row."""
        take, a_file, a_folder, reread = left.pop, FILE, FOLDER, self.reread
        repository = self.repository
        quick = self._seen is None
        unchanged, folders = 0, 0
        for _, child, st, record in met:
            prev = take(child, None)
            if isinstance(st, OSError):
                if isinstance(st, FileNotFoundError):
                    if prev is not None:
                        left[child] = prev
                    continue
                # kept as stored: it exists, and may be readable next time
                self.report(FileError(child, "unreadable", st.strerror or str(st)))
                continue
            if st is None:  # a child vouched for by its bucket's digest is never compared (see `met_vouched`)
                raise AssertionError(f"{child!r} was not met by this scan")
            if quick and prev is not None and not prev[1] and record is not None and prev[0] == record:
                # stored, not racy, and the same record byte for byte
                if record[-1] == a_file and child not in reread:  # a file as stored
                    unchanged += 1
                    continue
                if record[-1] == a_folder and (st.st_dev, st.st_ino) != repository:
                    folders += 1  # a folder as stored: descended into, as below
                    stack.append(child)
                    continue
            yield from self._changed(child, st, None if prev is None else scanned.version(self.db, prev), stack,
                                     only_new)
        self.counts.files += unchanged
        self.counts.dirs += folders
        for child, gone in scanned.versions(self.db, left).items():
            if gone.state != "deleted":
                yield from self._deleted(child, gone)

    def _changed(self, child: bytes, st: os.stat_result, prev: VersionRow | None, stack: list[bytes],
                 only_new: bool) -> Iterator[ScanItem]:
        """One child that is not simply a file as stored."""
        try:
            found = _kind(child, st, self.report)
        except Unreadable:
            return
        if found is None:  # no longer something we store: as if gone
            if prev is not None and prev.state != "deleted":
                yield from self._deleted(child, prev)
            return
        kind, target = found
        if kind == "dir" and (st.st_dev, st.st_ino) == self.repository:
            self.report(FileError(child, SKIPPED, "the backup repository itself (a backup never stores itself)"))
            return
        yield from self._compare(observe(child, st, kind, target), prev)
        if kind == "dir" and (not only_new or prev is None or prev.state == "deleted" or prev.kind != "dir"):
            stack.append(child)

    def _deleted(self, path: bytes, prev: VersionRow) -> Iterator[ScanItem]:
        """Deletions of `path` and, from the index alone, of everything stored beneath it."""
        if not self._first_time(path):
            return
        yield ScanItem(path, None, prev, "deleted")
        if prev.kind == "dir":
            yield from self._deleted_beneath(prev)

    def _deleted_beneath(self, prev: VersionRow) -> Iterator[ScanItem]:
        for child, child_prev in queries.latest_children(self.db, prev.file_id).items():
            if child_prev.state != "deleted":
                yield from self._deleted(child, child_prev)
