"""An S3 server killed in the middle of a backup (while packs go up, and while the manifest that completes
the snapshot goes up), then started again: the backup fails with one clear line, no partial snapshot is
ever listed, nothing already stored is lost, and the next backup completes with everything restorable.
A private `rclone serve s3` (its objects on disk, so a restart keeps them) behind a proxy that kills it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Tree, make_tree, read_tree
from tests.s3_support import FlakyProxy, Rclone, S3Server
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.errors import DriveGone
from timekeep.core.storage import pack
from timekeep.core.storage.layout import layout_of, load_config
from timekeep.core.storage.lease_lock import LeaseSettings
from timekeep.core.storage.location import RemoteRoot
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.storage.s3_requests import S3Tuning

QUICK = S3Tuning(attempts=3, backoff=0.0, connect_timeout=2.0, read_timeout=10.0, sleep=lambda _: None)


class Clock:
    """Wall time for the writer lock's leases, moved by the test: a lease left behind by a writer that lost
    its server runs out when the test says, not after minutes."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rclone(tmp_path: Path, s3_credentials: None) -> Iterator[Rclone]:
    server = Rclone(tmp_path / "served")
    (tmp_path / "served").mkdir()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.mark.parametrize("killed_at", ["packs", "snapshots"])
def test_a_server_killed_mid_backup_loses_nothing(rclone: Rclone, tmp_path: Path, killed_at: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pack, "TARGET_PACK_SIZE", 128 * 1024)  # several packs: the kill lands among them
    helper = S3Server("rclone", rclone.endpoint)
    url = f"s3://{helper.new_bucket()}/laptop"
    clock = Clock()
    lease = LeaseSettings(clock=clock, renew=False)

    def root(endpoint: str) -> RemoteRoot:
        return RemoteRoot(S3Backend(url, endpoint, tuning=QUICK, session=helper.session, lease=lease))

    api.init_repository(root(rclone.endpoint))
    source = tmp_path / "src"
    trees: dict[int, Tree] = {}
    make_tree(source, {"a.txt": b"first\n" * 100, "b.bin": os.urandom(300_000)})
    with Timekeep.open(root(rclone.endpoint), writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        trees[tk.backup().id] = read_tree(source)

    make_tree(source, {"a.txt": b"second\n" * 100, "c.bin": os.urandom(400_000)})
    first = root(rclone.endpoint)
    scratch = layout_of(first, load_config(first)).scratch("packs")  # packs are written here, then uploaded
    assert scratch.is_dir()

    def kill_on_upload(method: str, path: str) -> None:
        if method == "PUT" and f"/{killed_at}/" in path:
            rclone.kill()

    with FlakyProxy(rclone.endpoint, before=kill_on_upload) as proxy, \
            pytest.raises(DriveGone, match="cannot reach the S3 server") as failed, \
            Timekeep.open(root(proxy.endpoint), writer=True) as tk:
        tk.backup()
    assert "\n" not in str(failed.value)
    assert not rclone.alive
    assert not list(scratch.glob(".*.tmp")), "a failed upload leaves no temporary behind"

    rclone.start()
    clock.now += lease.lease + lease.grace + 1  # the lock the lost writer could not delete runs out
    with Timekeep.open(root(rclone.endpoint)) as tk:
        assert [s.id for s in tk.snapshots()] == list(trees), "no partial snapshot is listed"
    with Timekeep.open(root(rclone.endpoint), writer=True) as tk:
        assert [s.id for s in tk.snapshots()] == list(trees)
        trees[tk.backup().id] = read_tree(source)
    with Timekeep.open(root(rclone.endpoint)) as tk:
        assert [s.id for s in tk.snapshots()] == list(trees)
        for sid, tree in trees.items():
            dest = tmp_path / f"out{sid}"
            assert tk.restore(os.fsencode(source), sid, dest=os.fsencode(dest)).errors == ()
            assert read_tree(dest / "src") == tree
        assert tk.check(read_data=True).ok
