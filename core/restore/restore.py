"""Restore a file or a folder as it stood at a snapshot, in place or into another folder.

Nothing is overwritten without asking: a file that differs from the stored version is kept, and the
stored one is written beside it as 'name (restored YYYY-MM-DD HHMM).ext' (the snapshot's local time),
unless `overwrite` is set. Files that exist now but did not then are left alone, and so is whatever already
holds the stored content: never renamed, and without `overwrite` not chmodded, chowned or touched either
(its permissions, owner, attributes and times are the person's now, and a new inode or ctime would make
the next backup store a version of a file nobody changed). With `overwrite` they are set back in place.

A folder is walked without recursion, from directory descriptors (core/restore/dirs.py), and every entry
succeeds or fails on its own: a damaged or hostile one costs that entry and a one-line error, never its
siblings.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData, TimekeepError, UnsafePath
from timekeep.core.index import queries
from timekeep.core.index.histories import IMPOSSIBLE_VALUES
from timekeep.core.index.queries import ChunkLocation
from timekeep.core.restore import build, checks, existing, leftovers, metadata, names, small_files
from timekeep.core.restore import safe_write as sw
from timekeep.core.restore.combine import ChunkSource, stream_version
from timekeep.core.restore.dirs import DirStack
from timekeep.core.restore.folder_plans import Ahead, FolderPlans
from timekeep.core.restore.links import HardLinks
from timekeep.core.restore.small_files import Handover, Job, Made, SmallFiles
from timekeep.core.restore.sparse import SparseFile
from timekeep.core.types import Entry, FileError, Plan, RestoreResult, SnapshotInfo

if TYPE_CHECKING:  # the processes' side loads only where a folder restore is shared
    from timekeep.core.restore.shares import Share

OWN_WRITER = 4 << 20  # a file bigger than this is written by a thread of its own (sparse.py)
# stored values of the wrong type or size where no check foresaw them (in a seal's computation, a system
# call's arguments: IMPOSSIBLE_VALUES): a damaged or hostile index must still cost one entry alone, with one line
ENTRY_ERRORS = (OSError, TimekeepError, *IMPOSSIBLE_VALUES)
beside_name = names.beside_name
Where = dict[bytes, ChunkLocation]


def new_mode(plan: Plan) -> int:
    """A new file's bits as it is created: the stored ones where the umask lets them (so most files need no
    chmod after), always writable and readable by whoever restores it, never a set-id bit."""
    return plan.mode & 0o777 | 0o600


def checked_plan(db: SqliteDatabase, path: bytes, snapshot_id: int) -> Plan:
    """The plan of `path`, with impossible stored values turned into CorruptData (one line, exit 1)."""
    try:
        return build.plan(db, path, snapshot_id)
    except IMPOSSIBLE_VALUES as err:
        raise build.impossible(path, err) from None


def checked_placed(db: SqliteDatabase, path: bytes, snapshot_id: int) -> tuple[Plan, Where]:
    """`checked_plan`, and its chunks' places read with its extents (build.placed)."""
    try:
        return build.placed(db, path, snapshot_id)
    except IMPOSSIBLE_VALUES as err:
        raise build.impossible(path, err) from None


def _usable(plan: Plan, places: Where) -> Where | None:
    """`places`, when a pack the drive holds has every chunk of `plan`; else None: looked up again as the file
    is written, where what is missing is named."""
    try:
        return ChunkSource.usable([piece.digest for piece in plan.pieces], places)
    except CorruptData:
        return None


def warnings(db: SqliteDatabase, snapshot_id: int, first: Plan, doubts: list[str]) -> tuple[str, ...]:
    """What a lost snapshot before this one may have cost the restore of `first`, said once: a folder may miss
    what was made there, and a file not changed since may be older than it was (`doubts`: the files' own)."""
    lost = build.lost_between(db, 0, snapshot_id)
    if not lost or (first.kind != "dir" and not doubts):
        return ()
    said = [f"snapshot {', '.join(map(str, lost))} {'is' if len(lost) == 1 else 'are'} lost (manifest and index "
            "both gone): what was created or changed there and not changed since is missing or older here"]
    if len(doubts) == 1:
        said.append(doubts[0])
    elif doubts:
        said.append(f"{len(doubts)} of the files restored may have changed in a lost snapshot")
    return tuple(said)


def damaged(path: bytes) -> FileError:
    """A child whose row fails its seal: named and left out; its siblings go on."""
    return FileError(path, "restore", "its record in the index is not what was written (damaged); "
                     "run `timekeep rebuild-index`")


class _Step(NamedTuple):
    """One entry of a folder restore still to do, or (`leaving`) a folder whose entries are all done."""

    path: bytes
    parts: tuple[bytes, ...]  # where it goes, from the target's root
    plan: Plan | None = None  # planned near when it is reached (a batch ahead), so a big folder holds few plans
    leaving: bool = False
    created: bool = False  # the folder was made by this restore
    siblings: tuple[bytes, ...] = ()  # the paths of its folder's entries, planned a batch at a time
    place: int = 0  # its place among them


def failure(path: bytes, err: BaseException) -> FileError:
    """A file's restore error as the result lists it: the OS's words for OS errors."""
    return FileError(path, "restore", err.strerror if isinstance(err, OSError) and err.strerror else str(err))


def child_steps(step: _Step, entries: list[Entry], failed: Callable[[bytes, BaseException], None]) -> list[_Step]:
    """A folder's steps for its entries; a stored name that is not one plain name is refused (`failed`)."""
    found = []
    for entry in entries:
        rel = entry.path[len(step.path) + 1 :] if entry.path.startswith(step.path + b"/") else entry.path
        try:
            parts = sw.split_relative(rel)
            if len(parts) != 1:
                raise UnsafePath(f"refusing stored path {os.fsdecode(entry.path)!r}: it is not a child of "
                                 "its folder")
        except TimekeepError as err:
            failed(entry.path, err)
            continue
        found.append((entry.path, step.parts + parts))
    siblings = tuple(path for path, _ in found)
    return [_Step(path, parts, siblings=siblings, place=n) for n, (path, parts) in enumerate(found)]


class Restorer:
    target: sw.ConfinedDir  # while `restore` runs

    def __init__(self, db: SqliteDatabase, source: ChunkSource, snapshot: SnapshotInfo, overwrite: bool,
                 on_bytes: Callable[[int], None] | None = None, share: Share | None = None) -> None:
        self.db, self.source, self.snapshot, self.overwrite, self.on_bytes = db, source, snapshot, overwrite, on_bytes
        self.share = share  # a folder restore in several processes: the files this one writes (shares.py)
        self.as_root = metadata.is_root()
        self.started_ns = time.time_ns()
        self.pid = os.getpid()  # names this restore's temporaries
        self.unnamed = True  # new small files are made without a name until the filesystem says it cannot
        self._damaged = lambda path: self.errors.append(damaged(path))  # a child whose row fails its seal
        self.links: HardLinks | None = None
        self.written: list[bytes] = []
        self.beside: list[tuple[bytes, bytes]] = []
        self.unchanged = self.metadata_kept = 0
        self.already_beside: list[tuple[bytes, bytes]] = []
        self.errors: list[FileError] = []
        self.doubts: list[str] = []  # files that may have changed in a lost snapshot (Plan.doubt)
        self.small: SmallFiles | None = None  # while a folder is restored
        self.plans: FolderPlans | None = None  # the same
        self.first_places: Where = {}  # of the chunks of the file or folder asked for, read with its plan
        self.leaving: set[int] = set()  # descriptors of folders left, their files not all settled yet

    def restore(self, path: bytes, dest: bytes | None) -> RestoreResult:
        first, self.first_places = checked_placed(self.db, path, self.snapshot.id)
        first = self._note_doubt(first)
        root = dest if dest is not None else os.path.dirname(path)
        with sw.ConfinedDir(root) as self.target:
            step = _Step(path, (os.path.basename(path),), first)
            if first.kind == "dir":
                self.links = HardLinks()
                self.plans = FolderPlans(self.db, self.snapshot.id, None if self.share is None else self.share.owns)
                self._tree(step)
                if self.share is not None:  # the other shares' files are in too: the folders' metadata last
                    self.share.done(self)
            else:
                leftovers.sweep(self.target.fd, self.started_ns)
                self._entry(self.target.fd, step)
        return RestoreResult(tuple(self.written), tuple(self.beside), self.unchanged, tuple(self.errors),
                             tuple(self.already_beside), self.metadata_kept,
                             warnings(self.db, self.snapshot.id, first, self.doubts))

    def _note_doubt(self, plan: Plan) -> Plan:
        if plan.doubt is not None:
            self.doubts.append(plan.doubt)
        return plan

    def _failed(self, path: bytes, err: BaseException) -> None:
        self.errors.append(failure(path, err))

    def _shown(self, parts: tuple[bytes, ...]) -> bytes:
        return os.path.join(self.target.root, *parts)

    # --- folders ---------------------------------------------------------------------------------------

    def _tree(self, first: _Step) -> None:
        """Restore a folder and everything in it, depth first, a folder's own metadata after its entries."""
        dirs = DirStack(self.target.fd)
        self.small = SmallFiles(self._settle) if small_files.WORKERS else None
        todo = [first]
        try:
            while todo:
                step = todo.pop()
                if step.leaving:
                    self._leave(dirs, step)
                else:
                    self._visit(dirs, todo, step)
        finally:
            try:
                if self.small is not None:
                    self.small.close()
            finally:
                self.small = None
                dirs.close()
                for fd in self.leaving:  # left unsettled by an error that ended the restore
                    os.close(fd)
                self.leaving.clear()

    def _visit(self, dirs: DirStack, todo: list[_Step], step: _Step) -> None:
        try:
            ahead = self._ahead(step)
            plan = ahead.plan
            checks.check(plan)
            if plan.kind != "dir":
                self._in_folder(dirs.top(), ahead, step.parts, dirs.fresh(), dirs.starts_bare())
                return
            if dirs.full():  # entering closes a descriptor above, maybe one that files being written are in
                self._settle_small()
            # made with the stored permission bits (and room for this restore to work in it), so a
            # restore killed before its last touch to the folder still leaves them close to right
            created = dirs.enter(step.parts[-1], plan.mode & 0o777 | 0o700)
        except ENTRY_ERRORS as err:
            self._failed(step.path, err)
            return
        todo.append(step._replace(plan=plan, leaving=True, created=created))
        try:
            leftovers.sweep(dirs.top(), self.started_ns)
            todo.extend(reversed(self._children(step)))
        except ENTRY_ERRORS as err:
            self._failed(step.path, err)

    def _ahead(self, step: _Step) -> Ahead:
        """The step's plan: the folder's first one is given; its entries' are made a batch at a time."""
        if step.plan is not None:
            return Ahead(step.plan)
        assert self.plans is not None  # a folder restore makes it before its first step
        ahead = self.plans.take(step.siblings, step.place)
        self._note_doubt(ahead.plan)
        return ahead

    def _children(self, step: _Step) -> list[_Step]:
        """The folder's entries at the snapshot (of a restore in shares, this one's: core/restore/shares.py)."""
        fid = queries.file_id(self.db, step.path)
        entries = [] if fid is None or self.plans is None else self.plans.children(fid, self._damaged)
        return child_steps(step, entries, self._failed)

    def _leave(self, dirs: DirStack, step: _Step) -> None:
        """A folder's entries are all handed over: once they are settled (small_files.then), give it its metadata
        if this restore made it, or if asked to, and close it."""
        try:
            fd = dirs.detach()
        except ENTRY_ERRORS as err:
            self._failed(step.path, err)
            return
        self.leaving.add(fd)
        if self.small is None:
            self._finish_folder(fd, step)
        else:
            self.small.then(lambda: self._finish_folder(fd, step))

    def _finish_folder(self, fd: int, step: _Step) -> None:
        try:
            if self.share is not None and step.plan is not None:  # once every share is done (Share.done)
                self.share.left(step.parts, step.plan, step.created)
            elif step.plan is not None and (step.created or self.overwrite):
                metadata.apply(fd, step.plan, self.as_root)
        except ENTRY_ERRORS as err:
            self._failed(step.path, err)
        finally:
            self.leaving.discard(fd)
            os.close(fd)

    # --- files and links -------------------------------------------------------------------------------

    def _entry(self, dir_fd: int, step: _Step) -> None:
        try:
            assert step.plan is not None
            checks.check(step.plan)
            self._leaf(dir_fd, Ahead(step.plan, where=_usable(step.plan, self.first_places)), step.parts)
        except ENTRY_ERRORS as err:
            self._failed(step.path, err)

    def _in_folder(self, dir_fd: int, ahead: Ahead, parts: tuple[bytes, ...], fresh: bool, bare: bool) -> None:
        """A file or link of a folder restore: a new small file goes to small_files.py (written here, or by its
        workers once they pay); anything else is done here, after the files handed over before it. In a folder
        this restore made (`fresh`) no name is looked at first: a name taken meanwhile fails the rename, and is
        handled then. `bare`: a file created in the folder starts with no attribute (metadata.apply)."""
        name, plan, key = parts[-1], ahead.plan, ahead.key
        if self.small is None or plan.kind != "file" or plan.size > small_files.SMALL or (
                not fresh and sw.lstat_at(dir_fd, name)):
            self._settle_small()
            self._leaf(dir_fd, ahead, parts, fresh)
            return
        if self.small.waiting_for(key) or (self.links is not None and key in self.links.copies):
            self.small.settle_all()  # a second name of one file: linked to the first copy once it is named
            self._leaf(dir_fd, ahead, parts, fresh)
            return
        where = ahead.where if ahead.where is not None else self.source.locate([p.digest for p in plan.pieces])
        tmp = names.temp_name(name, self.pid)
        self.small.submit(lambda handover: self._write_new(dir_fd, tmp, name, plan, where, bare, handover), plan,
                          parts, dir_fd, tmp, key)

    def _write_new(self, dir_fd: int, tmp: bytes, name: bytes, plan: Plan, where: Where, bare: bool,
                   handover: Handover | None) -> Made:
        """On a worker (no `handover`) or this thread: the version written whole, named `name` if free, else `tmp`."""
        if self.unnamed:
            made = small_files.write_unnamed(dir_fd, tmp, name, new_mode(plan), handover,
                                             lambda fd: self._fill(fd, plan, where, progress=False, bare=bare))
            if made is not None:
                return made
            self.unnamed = False  # asked once: this filesystem has none
        st = self._new_file(dir_fd, tmp, plan, where, progress=False, bare=bare, handover=handover)
        try:
            sw.rename_noreplace(dir_fd, tmp, name)
            return Made(True, st)
        except FileExistsError:
            return Made(False, st)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise

    def _settle_small(self) -> None:
        if self.small is not None:
            self.small.settle_all()

    def _settle(self, job: Job) -> None:
        """On the main thread, in order: count a file a worker wrote, or place it beside one that appeared."""
        try:
            final, made = job.parts[-1], job.placed.result()
            if made.placed:
                self.written.append(self._shown(job.parts))
            else:
                final = self._place_temp(job.dir_fd, job.tmp, job.parts, sw.lstat_at(job.dir_fd, final))
            if self.links is not None:
                self.links.remember(job.key, (*job.parts[:-1], final), job.dir_fd, made.st)
            if self.on_bytes is not None:
                self.on_bytes(job.plan.size)
        except ENTRY_ERRORS as err:
            self._failed(job.plan.path, err)

    def _leaf(self, dir_fd: int, ahead: Ahead, parts: tuple[bytes, ...], fresh: bool = False) -> None:
        name, plan = parts[-1], ahead.plan
        there = None if fresh else sw.lstat_at(dir_fd, name)
        found = None if there is None else existing.already_there(
            self.source, dir_fd, name, plan, there, self.overwrite, self.as_root, self.on_bytes)
        if found is not None:
            self.unchanged += 1
            self.metadata_kept += found == "metadata kept"
            return
        if there is not None and not self.overwrite:
            earlier = existing.restored_beside(self.source, dir_fd, name, plan, self.snapshot.time_ns,
                                               self.on_bytes)
            if earlier is not None:  # restored beside before: a second identical copy helps nobody
                self.already_beside.append((self._shown(parts), self._shown((*parts[:-1], earlier))))
                return
        tmp = names.temp_name(name, self.pid)
        self._write_temp(dir_fd, tmp, ahead)
        final = self._place_temp(dir_fd, tmp, parts, there)
        if self.links is not None:
            self.links.remember(ahead.key, (*parts[:-1], final), dir_fd)

    def _place_temp(self, dir_fd: int, tmp: bytes, parts: tuple[bytes, ...], there: os.stat_result | None) -> bytes:
        """`_place`, and the temporary removed if that fails."""
        try:
            return self._place(dir_fd, tmp, parts, there)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise

    def _write_temp(self, dir_fd: int, tmp: bytes, ahead: Ahead) -> None:
        """The stored version, whole and with its metadata, under the temporary name `tmp`."""
        plan = ahead.plan
        if plan.kind == "symlink":
            assert plan.link_target is not None
            os.symlink(plan.link_target, tmp, dir_fd=dir_fd)
            existing.or_remove(dir_fd, tmp, lambda: metadata.apply_link(dir_fd, tmp, plan, self.as_root))
            return
        if self.links is not None and self.links.link(ahead.key, self.target, dir_fd, tmp):
            return
        self._new_file(dir_fd, tmp, plan, ahead.where)

    def _new_file(self, dir_fd: int, tmp: bytes, plan: Plan, where: Where | None = None,
                  progress: bool = True, bare: bool = False, handover: Handover | None = None) -> os.stat_result:
        """The file `tmp` created (timed for `handover`) and filled (`_fill`), and its status; removed if that fails."""
        fd = small_files.timed(handover, lambda: sw.create_file(dir_fd, tmp, new_mode(plan)))
        try:
            return existing.or_remove(dir_fd, tmp, lambda: self._fill(fd, plan, where, progress, bare))
        finally:
            os.close(fd)

    def _fill(self, fd: int, plan: Plan, where: Where | None = None, progress: bool = True,
              bare: bool = False) -> os.stat_result:
        """Write the version into the new file `fd` and give it its metadata (returns its status); `progress`
        off on a worker (its bytes are counted when it is settled)."""
        with SparseFile(fd, threaded=plan.size > OWN_WRITER) as sink:
            stream_version(self.source, plan, sink.put, self.on_bytes if progress else None, where, provisional=True)
            sink.finish()
        st = metadata.apply(fd, plan, self.as_root, bare)
        checks.written(st, plan)
        if self.overwrite:  # it may take the name of a file it replaces: on the disk first (see sw.replace)
            os.fsync(fd)
        return st

    def _place(self, dir_fd: int, tmp: bytes, parts: tuple[bytes, ...], there: os.stat_result | None) -> bytes:
        """Move the temporary to its name, or beside what is there (see the module docstring); returns the
        name it took. A name that appears meanwhile is never replaced without `overwrite`."""
        name = parts[-1]
        if there is None:
            try:
                sw.rename_noreplace(dir_fd, tmp, name)
                self.written.append(self._shown(parts))
                return name
            except FileExistsError:
                there = sw.lstat_at(dir_fd, name)
        if self.overwrite and there is not None and not stat.S_ISDIR(there.st_mode):
            sw.replace(dir_fd, tmp, name)
            self.written.append(self._shown(parts))
            return name
        beside = existing.move_beside(dir_fd, tmp, name, self.snapshot.time_ns)
        self.beside.append((self._shown(parts), self._shown((*parts[:-1], beside))))
        return beside
