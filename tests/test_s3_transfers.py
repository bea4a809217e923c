"""How a repository in a bucket talks to its server, measured through a loopback proxy in front of a real
S3 server (rclone's and moto's): packs upload several at once within the bound, restoring one file fetches
only its byte ranges, and a server that fails now and then still gets every backup whole."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.helpers import make_tree, read_tree
from tests.s3_support import FlakyProxy, S3Server
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.storage import pack
from timekeep.core.storage.location import RemoteRoot
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.storage.s3_requests import S3Tuning

QUICK = S3Tuning(attempts=6, backoff=0.0, connect_timeout=2.0, read_timeout=10.0, sleep=lambda _: None)


def located(server: S3Server, url: str, endpoint: str, tuning: S3Tuning = QUICK) -> RemoteRoot:
    """The repository's root on `endpoint`, with retries that do not pause (what api.locate makes, tuned)."""
    return RemoteRoot(S3Backend(url, endpoint, tuning=tuning, session=server.session))


def test_packs_upload_several_at_once_within_the_bound(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pack uploads must meet at a barrier in the proxy: were packs uploaded one after another, the
    first would wait there alone until the barrier gave up."""
    monkeypatch.setattr(pack, "TARGET_PACK_SIZE", 128 * 1024)
    url = f"s3://{s3_bucket}/parallel"
    api.init_repository(url, endpoint=s3_server.endpoint)
    source = tmp_path / "src"
    make_tree(source, {f"f{i}.bin": os.urandom(200_000) for i in range(6)})
    meet = threading.Barrier(2, timeout=20)
    met: list[bool] = []

    def before(method: str, path: str) -> None:
        if method == "PUT" and "/packs/" in path and len(met) < 2:
            met.append(True)
            try:
                meet.wait()
            except threading.BrokenBarrierError:
                met.append(False)

    tuning = S3Tuning(max_requests=4)
    with FlakyProxy(s3_server.endpoint, before=before) as proxy, \
            Timekeep.open(located(s3_server, url, proxy.endpoint, tuning), writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        snap = tk.backup()
    assert met == [True, True], "two packs were never uploading at the same time"
    assert 2 <= proxy.most_in_flight <= tuning.max_requests
    with Timekeep.open(url) as tk:
        dest = tmp_path / "out"
        tk.restore(os.fsencode(source), snap.id, dest=os.fsencode(dest))
    assert read_tree(dest / "src") == read_tree(source)


def test_restoring_one_file_reads_only_the_ranges_it_needs(s3_server: S3Server, s3_bucket: str,
                                                           tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/ranged"
    api.init_repository(url, endpoint=s3_server.endpoint)
    source = tmp_path / "src"
    make_tree(source, {"big.bin": os.urandom(3 << 20), "small.txt": b"just this line\n" * 20})
    with Timekeep.open(url, writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        snap = tk.backup()
    stored = sum(found.size for found in located(s3_server, url, s3_server.endpoint).backend.list("packs/"))
    assert stored > 3 << 20
    with FlakyProxy(s3_server.endpoint) as proxy, Timekeep.open(located(s3_server, url, proxy.endpoint)) as tk:
        opened = proxy.bytes_served
        dest = tmp_path / "out"
        dest.mkdir()
        tk.restore(os.fsencode(source / "small.txt"), snap.id, dest=os.fsencode(dest))
        restoring = proxy.bytes_served - opened
    assert (dest / "small.txt").read_bytes() == b"just this line\n" * 20
    assert 0 < restoring < 64 * 1024, f"restoring one small file fetched {restoring} bytes of {stored}"


def test_a_server_failing_now_and_then_still_gets_whole_backups(s3_server: S3Server, s3_bucket: str,
                                                                tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/flaky"
    api.init_repository(url, endpoint=s3_server.endpoint)
    source = tmp_path / "src"
    trees = {}
    with FlakyProxy(s3_server.endpoint, fail_every=5, cut_every=7) as proxy:
        root = located(s3_server, url, proxy.endpoint)
        for round_ in range(2):
            make_tree(source, {"a.txt": f"round {round_}\n".encode() * 100, "b.bin": os.urandom(150_000)})
            with Timekeep.open(root, writer=True) as tk:
                if round_ == 0:
                    tk.add_folder(os.fsencode(source))
                trees[tk.backup().id] = read_tree(source)
        with Timekeep.open(root) as tk:
            for sid, tree in trees.items():
                dest = tmp_path / f"out{sid}"
                result = tk.restore(os.fsencode(source), sid, dest=os.fsencode(dest))
                assert result.errors == ()
                assert read_tree(dest / "src") == tree
            assert tk.check(read_data=True).ok
    assert proxy.failed > 0 and proxy.cut > 0, "the proxy made the server fail"
