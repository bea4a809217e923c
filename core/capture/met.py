"""What a scan meets of a folder's children: each one's `lstat` and the packed record it compares with the
index's, or, from the prefetch's listing, those its digests vouch for. Its own module, light to import, so the
scan's prefetch (core/capture/prefetch.py) meets them the same way in a process that loads none of the index."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from timekeep.core.index.records import FILE, FOLDER, LINK, RECORD, pack

if TYPE_CHECKING:
    from timekeep.core.capture.excludes import Excludes
    from timekeep.core.capture.prefetch import Listing
    from timekeep.core.index.bucket_digests import Bucket, Met


def open_folder(path: bytes) -> int | None:
    """A descriptor of the folder just listed, so each child's `lstat` walks one name rather than the whole path
    (a fifth less of a 10,000-file folder's `lstat` time); None when it cannot be opened (the whole path then)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None


def children_met(path: bytes, names: list[bytes], folder: int | None, excludes: Excludes, cut: int) -> list[Met]:
    """Each child a scan compares (excluded names left out; `cut` strips the protected root from a path), with
    its `lstat` through the `folder` descriptor (or the error that stopped it) and its packed record as
    core/index/records.py packs it (a folder's size as 0; None for a socket, FIFO or device): made once, for the
    folder's digests and each comparison."""
    lstat, stat_at = os.lstat, os.stat
    kind_of_mode = {stat.S_IFREG: FILE, stat.S_IFDIR: FOLDER, stat.S_IFLNK: LINK}.get
    excluded = excludes.excluded if excludes.patterns else None
    prefix = path + b"/"
    met: list[Met] = []
    for name in names:
        child = prefix + name
        if excluded is not None and excluded(name, child[cut:]):
            continue
        try:
            st = lstat(child) if folder is None else stat_at(name, dir_fd=folder, follow_symlinks=False)
        except OSError as err:
            met.append((name, child, err, None))
            continue
        mode = st.st_mode
        what = kind_of_mode(mode & 0o170000)
        record = None if what is None else pack(
            0 if what == FOLDER else st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, mode, what)
        met.append((name, child, st, record))
    return met


def met_in(path: bytes, excludes: Excludes, cut: int) -> list[Met]:
    """`children_met` of the folder at `path`, listed now, by name; OSError when it cannot be listed."""
    names = sorted(os.listdir(path))
    folder = open_folder(path)
    try:
        return children_met(path, names, folder, excludes, cut)
    finally:
        if folder is not None:
            os.close(folder)


def met_vouched(path: bytes, listed: Listing, kept: dict[int, bytes], excludes: Excludes, cut: int,
                exclusions: bytes, repository: tuple[int, int] | None) -> tuple[list[Met], dict[int, Bucket]] | None:
    """A folder's children and buckets from the prefetch's listing (core/capture/prefetch.py): a bucket whose
    children, as listed, digest to the digest `kept` for it is as stored, met by the prefetch and not `lstat`ed
    again; every other bucket's children are met again here, by the names listed, and digested anew. None, for
    the folder to be met whole, when a child met again is not as a digest wants (gone, excluded, unreadable, a
    socket, the repository)."""
    from timekeep.core.index.bucket_digests import bucket_digest, buckets_of, digestible

    names, records = listed
    prefix, size = path + b"/", RECORD.size
    listing: list[Met] = [(name, prefix + name, None, records[i * size:(i + 1) * size]) for i, name in enumerate(names)]
    buckets = buckets_of(listing, exclusions, None)
    if buckets is None:  # (not with a listing that parsed: every child listed has its record)
        return None
    again = [b for b, (digest, _) in buckets.items() if kept.get(b) != digest]
    if not again:
        return listing, buckets
    met_here: dict[bytes, Met] = {}
    folder = open_folder(path)
    try:
        for bucket in again:
            members = children_met(path, [m[0] for m in buckets[bucket][1]], folder, excludes, cut)
            if len(members) != len(buckets[bucket][1]) or not digestible(members, repository):
                return None
            buckets[bucket] = (bucket_digest(exclusions, bucket, members), members)
            met_here.update((m[0], m) for m in members)
    finally:
        if folder is not None:
            os.close(folder)
    return [met_here.get(m[0], m) for m in listing], buckets  # by name, as met here
