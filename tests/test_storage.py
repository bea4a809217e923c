"""The on-drive format: frames, packs and their footers, manifests, config and the writer lock."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from timekeep.core.errors import CorruptData, FormatTooNew, NotARepository, RepositoryLocked, UsageError
from timekeep.core.storage import frame
from timekeep.core.storage.layout import FORMAT_VERSION, Layout, create, load_config
from timekeep.core.storage.lock import WriterLock
from timekeep.core.storage.manifest import read_manifest, write_manifest
from timekeep.core.storage.pack import PackReader, PackWriter, read_footer, stored_packs


def test_frame_compresses_text_and_keeps_random_raw() -> None:
    text = b"the same line again\n" * 4000
    noise = random.Random(1).randbytes(65536)
    packed_text, packed_noise = frame.encode(text, 3), frame.encode(noise, 3)
    assert len(packed_text) < len(text) // 10
    assert packed_noise[1] == frame.RAW and len(packed_noise) == len(noise) + frame.FRAME.size
    assert frame.decode(packed_text) == text and frame.decode(packed_noise) == noise


def test_frame_damage_is_reported() -> None:
    packed = bytearray(frame.encode(b"abc" * 1000, 3))
    packed[-3] ^= 0xFF
    with pytest.raises(CorruptData):
        frame.decode(bytes(packed))
    with pytest.raises(CorruptData):
        frame.decode(bytes(packed[:5]))


def write_pack(tmp_path: Path, blobs: list[bytes], target: int = 1 << 30) -> tuple[Layout, list]:
    layout = Layout(tmp_path / "repo")
    layout.packs.mkdir(parents=True)
    writer = PackWriter(layout, target_size=target)
    for blob in blobs:
        writer.add(frame.encode(blob, 3), [(blake3.blake3(blob).digest(), 0, len(blob))])
    return layout, writer.flush()


def test_pack_footer_lists_every_chunk_and_reads_back(tmp_path: Path) -> None:
    blobs = [random.Random(n).randbytes(1000 + n) for n in range(20)]
    layout, sealed = write_pack(tmp_path, blobs)
    assert len(sealed) == 1
    [name] = stored_packs(layout.store)
    entries = read_footer(layout.store, name)
    assert [e.digest for e in entries] == [blake3.blake3(b).digest() for b in blobs]
    reader = PackReader(layout)
    for entry, blob in zip(entries, blobs, strict=True):
        assert frame.decode(reader.read(name, entry.offset, entry.length)) == blob
    reader.close()


def test_packs_roll_over_at_target_size(tmp_path: Path) -> None:
    blobs = [random.Random(n).randbytes(50_000) for n in range(10)]
    layout, sealed = write_pack(tmp_path, blobs, target=120_000)
    assert len(sealed) >= 4
    assert sum(len(p.entries) for p in sealed) == 10
    assert not list(layout.packs.glob(".*.tmp"))


def test_frames_handed_in_pieces_are_written_whole_and_in_order(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames given as header and payload apart (never joined) land as one frame each, even when a drain holds
    more pieces than one writev takes and the kernel writes short."""
    from types import SimpleNamespace

    from timekeep.core.storage import pack as pack_mod

    calls: list[int] = []

    def short_writev(fd: int, buffers: list[memoryview]) -> int:  # a drive that takes a little at a time
        calls.append(len(buffers))
        return os.write(fd, b"".join(buffers)[:7777])

    monkeypatch.setattr(pack_mod, "os", SimpleNamespace(**{**vars(os), "writev": short_writev}))
    layout = Layout(tmp_path / "repo")
    layout.packs.mkdir(parents=True)
    writer = PackWriter(layout)
    raws = [random.Random(n).randbytes(300 + n % 50) for n in range(1500)]  # 3,000 pieces in one drain
    for raw in raws:
        writer.add_parts(frame.parts(raw, 3), [(blake3.blake3(raw).digest(), 0, len(raw))])
    [sealed] = writer.flush()
    assert max(calls) == pack_mod.IOV_MAX and len(calls) > len(raws) * 330 // 7777
    reader = PackReader(layout)
    entries = read_footer(layout.store, sealed.name)
    assert [frame.decode(reader.read(sealed.name, e.offset, e.length)) for e in entries] == raws
    reader.close()


def test_truncated_pack_is_corrupt(tmp_path: Path) -> None:
    layout, _ = write_pack(tmp_path, [b"x" * 5000])
    [name] = stored_packs(layout.store)
    path = layout.pack_path(name)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CorruptData):
        read_footer(layout.store, name)


def test_manifest_round_trip_with_odd_names(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.manifests.mkdir()
    records = [{"type": "version", "path": os.fsdecode(b"/x/bad\xff\nname"), "n": n} for n in range(3000)]
    write_manifest(layout, 7, {"id": 7}, records)
    got = list(read_manifest(layout.store, "snapshots/0000000007.manifest"))
    assert got[0]["id"] == 7 and got[0]["type"] == "snapshot"
    assert got[1:] == records
    assert os.fsencode(got[1]["path"]) == b"/x/bad\xff\nname"


def test_cut_manifest_is_corrupt(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.manifests.mkdir()
    name = write_manifest(layout, 1, {}, ({"type": "version", "n": n} for n in range(10)))
    path = layout.manifest_path(1)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CorruptData):
        list(read_manifest(layout.store, name))


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(NotARepository, match="not a Timekeep repository"):
        load_config(tmp_path)
    with pytest.raises(NotARepository, match="does not exist"):
        load_config(tmp_path / "missing")
    create(tmp_path / "repo")
    config_path = tmp_path / "repo" / "config.json"
    data = json.loads(config_path.read_text())
    data["format"] = FORMAT_VERSION + 1
    config_path.write_text(json.dumps(data))
    with pytest.raises(FormatTooNew, match="upgrade Timekeep") as err:
        load_config(tmp_path / "repo")
    assert "\n" not in str(err.value)


def test_create_refuses_a_folder_with_contents(tmp_path: Path) -> None:
    (tmp_path / "stuff").write_text("x")
    with pytest.raises(UsageError):
        create(tmp_path)


LOCK_HOLDER = """
import signal, sys
from pathlib import Path
from timekeep.core.storage.lock import WriterLock
WriterLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
signal.pause()  # hold the lock until the test kills this process
"""


def test_live_lock_refuses_and_dead_lock_is_broken(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(lock_path)], stdout=subprocess.PIPE,
                              cwd=Path(__file__).parent.parent)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        with pytest.raises(RepositoryLocked, match=f"process {holder.pid}"):
            WriterLock(lock_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = WriterLock(lock_path)
    lock.acquire()  # the killed writer's lock is gone with its process
    assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    lock.release()


def test_grouped_frame_holds_several_chunks(tmp_path: Path) -> None:
    parts = [b"alpha " * 500, b"beta " * 700, b"gamma " * 300]
    layout = Layout(tmp_path / "repo")
    layout.packs.mkdir(parents=True)
    writer = PackWriter(layout)
    members, inner = [], 0
    for part in parts:
        members.append((blake3.blake3(part).digest(), inner, len(part)))
        inner += len(part)
    blob = frame.encode(b"".join(parts), 3)
    writer.add(blob, members)
    [sealed] = writer.flush()
    entries = read_footer(layout.store, sealed.name)
    assert {(e.offset, e.length) for e in entries} == {(8, len(blob))}
    raw = frame.decode(PackReader(layout).read(sealed.name, entries[1].offset, entries[1].length))
    assert raw[entries[1].inner : entries[1].inner + entries[1].raw_length] == parts[1]


def test_random_data_skips_compression_but_mixed_data_does_not() -> None:
    noise = random.Random(3).randbytes(1 << 20)
    assert frame.incompressible(noise, 3)
    half = noise[: 1 << 19] + b"compressible words " * 30_000
    assert not frame.incompressible(half, 3)
    assert frame.encode(noise, 3)[1] == frame.RAW
    assert len(frame.encode(half, 3)) < len(half) * 0.7
