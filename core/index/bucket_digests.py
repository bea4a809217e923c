"""How a folder's children are digested, bucket by bucket, for its kept digests (core/index/folder_digests.py,
which keeps and checks them; FORMAT.md, "Seals"). Its own module, light to import, so the scan's prefetch
(core/capture/prefetch.py) makes the same digests in a process that loads none of the index."""

from __future__ import annotations

import os
import struct
import zlib

import blake3

from timekeep.core.index.records import FOLDER

_DIGEST_KEY = b"timekeep folder digest 1\0"
ID = struct.Struct("<q")
# A folder of more than WHOLE children is kept as BUCKETS digests, each over the children whose name's CRC-32
# falls in it, so one file changed in a folder of 10,000 costs the rows of its bucket only; a smaller folder is
# one digest, under a bucket number of its own (ONE_BUCKET), so that voiding it voids no bucket of a big folder.
WHOLE = 512
BUCKETS = 64
ONE_BUCKET = BUCKETS

# one child as a scan met it: its name, its path, its `lstat` (or why there is none; None for a child the scan
# did not `lstat` itself, vouched for by a prefetched digest: core/capture/prefetch.py) and its packed record as
# core/index/records.py packs it (None when it has none: a socket, FIFO or device)
Met = tuple[bytes, bytes, os.stat_result | OSError | None, bytes | None]
# a bucket's digest and its children
Bucket = tuple[bytes, list[Met]]


def bucket_of(name: bytes) -> int:
    return zlib.crc32(name) & (BUCKETS - 1)


def buckets_of(children: list[Met], exclusions: bytes, repository: tuple[int, int] | None) -> dict[int, Bucket] | None:
    """Each bucket's digest over its children's names and records (in the order met: by name) and the folder's
    exclusions; None when a scan of them always has something to say (a child it cannot `lstat`, a socket or
    device it reports, the repository itself)."""
    if not digestible(children, repository):
        return None
    if not children:  # an empty folder: no digest
        return {}
    if len(children) <= WHOLE:
        return {ONE_BUCKET: (bucket_digest(exclusions, ONE_BUCKET, children), children)}
    groups: list[list[Met]] = [[] for _ in range(BUCKETS)]
    crc32, mask = zlib.crc32, BUCKETS - 1  # bucket_of, inline: a 10,000-child folder calls it 10,000 times
    for met in children:
        groups[crc32(met[0]) & mask].append(met)
    return {bucket: (bucket_digest(exclusions, bucket, members), members)
            for bucket, members in enumerate(groups) if members}


def digestible(children: list[Met], repository: tuple[int, int] | None) -> bool:
    """Whether a scan of these children has nothing to say of any: each has its record (none a child it cannot
    `lstat`, a socket or device it reports), and none is the repository."""
    for _, _, st, record in children:
        if record is None:
            return False
        if record[-1] == FOLDER and repository is not None and isinstance(st, os.stat_result) and (
                st.st_dev, st.st_ino) == repository:
            return False
    return True


def bucket_digest(exclusions: bytes, bucket: int, members: list[Met]) -> bytes:
    """One bucket's digest: its children's names and records, in order (a name holds no NUL, and a record is of
    one size), after the folder's exclusions and the bucket's place (ONE_BUCKET: the whole folder's)."""
    laid = [_DIGEST_KEY, ID.pack(len(exclusions)), exclusions, ID.pack(1 if bucket == ONE_BUCKET else BUCKETS),
            ID.pack(bucket)]
    for name, _, _, record in members:
        laid += (name, b"\0", record or b"")  # never None here: see buckets_of
    return blake3.blake3(b"".join(laid)).digest()
