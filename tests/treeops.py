"""More test helpers: content recipes, tree mutations with a forward-only mtime clock, the three ways of
getting a snapshot back (restore, listing, plan + combine) compared against a recorded tree, faults injected
at a backup's file-reading boundary, and damage done to a repository on purpose."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import random
import sqlite3
import stat
import struct
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import pytest
import zstandard

import timekeep.core.capture.read as read_mod
from tests.helpers import Tree, index_file, make_tree, read_tree
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.capture.chunker import iter_chunks
from timekeep.core.index import seal
from timekeep.core.storage.layout import ChunkerParams
from timekeep.core.types import RestoreResult

Listing = dict[bytes, tuple[str, int, int, bytes | None]]  # relative path -> (kind, size, mode, link target)


def payload(seed: int, size: int, style: str = "random") -> bytes:
    """`size` bytes: random, highly repetitive (a short motif over and over) or text-like."""
    rng = random.Random(seed)
    if style == "repeat":
        motif = rng.randbytes(rng.randint(1, 64)) or b"x"
        return (motif * (size // len(motif) + 1))[:size]
    if style == "text":
        words = [rng.randbytes(rng.randint(1, 8)).hex().encode() for _ in range(50)]
        text = b" ".join(rng.choice(words) for _ in range(size // 4 + 1))
        return text[:size]
    return rng.randbytes(size)


class MtimeClock:
    """Stamps every mutated path with a later mtime than any before, so an edit can never look unchanged."""

    def __init__(self, start_ns: int = 1_600_000_000 * 10**9) -> None:
        self.now_ns = start_ns

    def bump(self, path: str | bytes | Path) -> None:
        self.now_ns += 1_000_003
        os.utime(path, ns=(self.now_ns, self.now_ns), follow_symlinks=False)


def kinds_under(root: str | Path) -> dict[str, str]:
    """Relative path -> 'file', 'dir' or 'symlink' for everything beneath `root` (links not followed)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            kind = "symlink" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "file"
            found[os.path.relpath(full, root)] = kind
    return found


def overwrite(path: str | bytes | Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def insert(path: str | bytes | Path, offset: int, data: bytes) -> None:
    with open(path, "rb") as fh:
        old = fh.read()
    with open(path, "wb") as fh:
        fh.write(old[:offset] + data + old[offset:])


def append(path: str | bytes | Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def fresh_dir(base: Path, prefix: str = "restore-") -> Path:
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def restore_into(tk: Timekeep, folder: bytes, sid: int, base: Path) -> tuple[Tree, RestoreResult]:
    """Restore `folder` at `sid` into a fresh empty folder; the restored tree (below the folder) and the result."""
    dest = fresh_dir(base)
    result = tk.restore(folder, sid, dest=os.fsencode(dest))
    return read_tree(dest / os.fsdecode(os.path.basename(folder))), result


def listed(tk: Timekeep, folder: bytes, sid: int) -> Listing:
    """The folder at `sid` as list_dir shows it, recursively, keyed by path relative to the folder."""
    found: Listing = {}
    pending = [folder]
    while pending:
        for entry in tk.list_dir(pending.pop(), sid):
            mode = 0 if entry.kind == "symlink" else stat.S_IMODE(entry.mode)
            found[entry.path[len(folder) + 1 :]] = (entry.kind, entry.size, mode, entry.link_target)
            if entry.kind == "dir":
                pending.append(entry.path)
    return found


def expected_listing(tree: Tree) -> Listing:
    """What `listed` should show for a recorded tree: files have sizes, links targets, the rest zero/None."""
    out: Listing = {}
    for rel, (kind, data, mode) in tree.items():
        size = len(data) if kind == "file" else 0
        out[rel] = (kind, size, mode, data if kind == "symlink" else None)
    return out


def built(tk: Timekeep, path: bytes, sid: int) -> bytes:
    """A file's bytes at `sid` through the version builder: plan, then combine."""
    out = io.BytesIO()
    tk.write_version(tk.plan(path, sid), out)
    return out.getvalue()


def assert_snapshot_matches(tk: Timekeep, folder: bytes, sid: int, tree: Tree, scratch: Path) -> None:
    """Restore, listing and plan + combine at `sid` all give back exactly `tree`."""
    restored, result = restore_into(tk, folder, sid, scratch)
    assert result.errors == (), f"snapshot {sid}: {result.errors}"
    assert restored == tree, f"snapshot {sid}: restore differs: {tree_diff(tree, restored)}"
    assert listed(tk, folder, sid) == expected_listing(tree), f"snapshot {sid}: listing differs"
    for rel, (kind, data, _) in tree.items():
        if kind == "file":
            assert built(tk, folder + b"/" + rel, sid) == data, f"snapshot {sid}: {rel!r} builds wrong"


def tree_diff(want: Tree, got: Tree) -> str:
    """A short account of how two trees differ, for assertion messages."""
    missing = sorted(want.keys() - got.keys())[:5]
    extra = sorted(got.keys() - want.keys())[:5]
    changed = sorted(k for k in want.keys() & got.keys() if want[k] != got[k])[:5]
    parts = [f"{name}={items}" for name, items in (("missing", missing), ("extra", extra), ("changed", changed))]
    return ", ".join(parts)


@contextlib.contextmanager
def index_db(repo: Path) -> Iterator[sqlite3.Connection]:
    """The repository's index opened directly (to craft damage); committed on success."""
    conn = sqlite3.connect(index_file(repo))
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def reseal(repo: Path, path: bytes) -> None:
    """Seal the rows of the file at `path` again, as the engine seals what it writes: the index is then
    hostile but whole (a seal is a checksum, not a signature), and what is tested is restore's own care."""
    from timekeep.core.index.chain import reseal_file
    from timekeep.core.index.schema import open_index

    db = open_index(index_file(repo))
    try:
        reseal_file(db, file_id(db.connection(), path))
    finally:
        db.close()


# --- faults injected in a backup ------------------------------------------------------------------


def fault_at_open(paths: set[bytes], fault: Callable[[bytes], None]) -> Callable[[bytes], int]:
    """A stand-in for timekeep.core.capture.read.open_file that calls `fault` first for the given paths."""
    real_open = read_mod.open_file

    def patched(path: bytes) -> int:
        if path in paths:
            fault(path)
        return real_open(path)

    return patched


def deny(path: bytes) -> None:
    raise PermissionError(errno.EACCES, "Permission denied", path)


def restless_chunker(paths: set[bytes], times: int,
                     attempts: Counter[bytes]) -> Callable[[int, ChunkerParams], Iterator[memoryview]]:
    """iter_chunks that appends to the file after its first chunk, on the first `times` reads of `paths`."""

    def chunks(fd: int, params: ChunkerParams) -> Iterator[memoryview]:
        path = os.fsencode(os.readlink(f"/proc/self/fd/{fd}"))
        attempts[path] += 1
        for n, chunk in enumerate(iter_chunks(fd, params)):
            yield chunk
            if n == 0 and path in paths and attempts[path] <= times:
                append(path, b" and more")

    return chunks


class FifoUnblocker:
    """Opens a FIFO for writing now and then, so a reader stuck in open() gets free; counts the rescues."""

    def __init__(self, fifo: Path) -> None:
        self.fifo, self.rescues, self.stop = fifo, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
                self.rescues += 1
            except OSError:  # no reader waiting (ENXIO) or the FIFO is gone
                pass

    def __enter__(self) -> FifoUnblocker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


# --- odd trees ------------------------------------------------------------------------------------


def make_bytes_tree(root: bytes, spec: dict[bytes, object]) -> None:
    for name, value in spec.items():
        path = os.path.join(root, name)
        if isinstance(value, dict):
            os.mkdir(path)
            make_bytes_tree(path, value)
        else:
            assert isinstance(value, bytes)
            with open(path, "wb") as fh:
                fh.write(value)


def everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --- damage to a repository -----------------------------------------------------------------------


def chunks_of(repo: Path, path: bytes) -> list[tuple[str, int, int]]:
    """(pack name, frame offset, frame length) of every chunk stored for `path`."""
    with index_db(repo) as conn:
        return list(conn.execute(
            "SELECT p.name, c.offset, c.length FROM extent e JOIN version v ON v.id = e.version_id "
            "JOIN file f ON f.id = v.file_id JOIN chunk c ON c.id = e.chunk_id JOIN pack p ON p.id = c.pack_id "
            "WHERE f.path = ? ORDER BY e.offset", (path,)))


def flip_byte(repo: Path, pack: str, offset: int) -> None:
    path = repo / "packs" / pack[:2] / f"{pack}.pack"
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x5A]))


def truncate(path: Path, size: int) -> None:
    """A file cut short, as a copy or a write interrupted leaves it."""
    with open(path, "r+b") as fh:
        fh.truncate(size)


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    """One bit of one byte turned over, as a failing drive does it."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ mask]))


def file_id(conn: sqlite3.Connection, path: bytes) -> int:
    row = conn.execute("SELECT id FROM file WHERE path = ?", (path,)).fetchone()
    return int(row[0])


def add_crafted_file(conn: sqlite3.Connection, path: bytes, parent: bytes, sid: int) -> None:
    """A File row at `path` under `parent` with an empty file version at snapshot `sid`, sealed as the engine
    seals its own rows: a hostile index whose seals hold (a seal is a checksum, not a signature)."""
    run = conn.execute
    parent_id = file_id(conn, parent)
    (folder_id,) = run("SELECT folder_id FROM file WHERE id = ?", (parent_id,)).fetchone()
    cursor = run("INSERT INTO file (folder_id, parent_id, path, head, seal, live) VALUES (?, ?, ?, ?, ?, 1)",
                 (folder_id, parent_id, path, sid, seal.file_seal(path, sid)))
    xhash = seal.extents_hash([])
    sealed = seal.version_seal(path, sid, 0, "created", "file", 0, 0o100644, 0, None, None, True, None, None, None,
                               xhash)
    run("INSERT INTO version (file_id, snapshot_id, state, kind, size, mode, mtime_ns, inode, ctime_ns, full, depth, "
        "chain_rows, prev, xhash, seal) VALUES (?, ?, 'created', 'file', 0, ?, 0, 0, 0, 1, 0, 0, 0, ?, ?)",
        (cursor.lastrowid, sid, 0o100644, xhash, sealed))


def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True,
                   capture_output=True)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs at `where` standing in for a small drive, unmounted afterwards (the tests run as
    root; where mounting is not allowed the test is skipped, saying why)."""
    try:
        mount_tmpfs(where, size)
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        pytest.skip(f"cannot mount a small tmpfs here: {err}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextlib.contextmanager
def film_on_a_small_drive(tmp_path: Path) -> Iterator[Path]:
    """A repository on a 6 MiB drive protecting a folder with a 7 MB film in it: a backup of it fills the drive."""
    src = tmp_path / "films"
    make_tree(src, {"film.bin": os.urandom(7_000_000)})
    with small_tmpfs(tmp_path / "drive", "6m") as drive:
        repo = drive / "Timekeep" / "laptop"
        init_repository(repo)
        with Timekeep.open(repo, writer=True) as tk:
            tk.add_folder(os.fsencode(src))
        yield repo


def fill_leaving(drive: Path, free: int) -> Path:
    """A filler file that leaves about `free` bytes on the drive."""
    stats = os.statvfs(drive)
    filler = drive / "filler"
    with open(filler, "wb") as fh:
        fh.write(bytes(max(0, stats.f_bavail * stats.f_frsize - free)))
    return filler


# --- a pack read by FORMAT.md alone (to tell which chunks a damage destroyed) -------------------------------


FRAME = struct.Struct("<BBBBII")  # FORMAT.md: version, compression, encryption, reserved, raw length, payload length
TRAILER = struct.Struct("<QI8s8s")  # footer offset, footer length, BLAKE3-64 of the footer, "TKPEND01"


def pack_file(repo: Path, pack: str) -> Path:
    return repo / "packs" / pack[:2] / f"{pack}.pack"


def chunk_intact(pack: Path, digest: bytes, offset: int, length: int, inner: int, raw_length: int) -> bool:
    """Read one chunk (bytes `inner` on of the frame at `offset`) the way FORMAT.md describes it and check it
    against its digest: written from the format, not from the engine, so an engine bug cannot hide here."""
    try:
        with open(pack, "rb") as fh:
            fh.seek(offset)
            frame = fh.read(length)
        _, compression, _, _, frame_raw, frame_payload = FRAME.unpack_from(frame)
        payload = frame[FRAME.size :]
        if len(payload) != frame_payload:
            return False
        raw = payload if compression == 0 else zstandard.ZstdDecompressor().decompress(payload, frame_raw)
    except (OSError, struct.error, zstandard.ZstdError):
        return False
    return blake3.blake3(raw[inner : inner + raw_length]).digest() == digest


def footer_intact(path: Path) -> bool:
    """The pack ends with a trailer whose checksum matches its footer (FORMAT.md)."""
    try:
        data = path.read_bytes()
        offset, length, checksum, magic = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    except (OSError, struct.error):
        return False
    footer = data[offset : offset + length]
    return magic == b"TKPEND01" and blake3.blake3(footer).digest(length=8) == checksum


# --- a value inside index.db, found by reading SQLite's file format (to damage it in place) ------------------


def varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's big-endian varint at `at`: (value, offset after it)."""
    value = 0
    for n in range(9):
        byte = data[at + n]
        if n == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + n + 1
    raise AssertionError("unreachable")


def serial_size(serial: int) -> int:
    if serial >= 12:
        return (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
    return (0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0)[serial]


def value_end(page: bytes, cell: int, column: int) -> tuple[int, int] | None:
    """(rowid, offset within the page of the last byte of `column`'s value) in a table leaf cell; None when
    the value takes no bytes (NULL, 0 or 1)."""
    _, at = varint(page, cell)  # the payload's length
    rowid, at = varint(page, at)
    header_len, cursor = varint(page, at)
    body, serials = at + header_len, []
    while cursor < body and len(serials) <= column:
        serial, cursor = varint(page, cursor)
        serials.append(serial)
    if len(serials) <= column:
        return None
    size = serial_size(serials[column])
    start = body + sum(serial_size(s) for s in serials[:column])
    return (rowid, start + size - 1) if size else None


def leaf_cells(page: bytes, header_at: int) -> list[int]:
    assert page[header_at] == 0x0D, "not a table leaf page"
    count = int.from_bytes(page[header_at + 3 : header_at + 5], "big")
    return [int.from_bytes(page[header_at + 8 + 2 * i : header_at + 10 + 2 * i], "big") for i in range(count)]
