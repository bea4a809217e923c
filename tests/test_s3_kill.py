"""`timekeep backup` into a bucket killed with SIGKILL at chosen moments of its upload: once its first pack went
up, half-way through its packs, and just as it sends the manifest. The moment is picked by a proxy in front of
rclone's server that sees each request before passing it on, kills the backup there and drops the request.
Afterwards no partial snapshot is listed, every earlier snapshot restores exactly, and the next backup
completes, restores exactly and passes `check --read-data`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import PASSPHRASE, Tree, make_tree, read_tree
from tests.s3_support import FlakyProxy, S3Server
from tests.treeops import assert_snapshot_matches
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.crypto.kdf import TEST_PARAMS

ROOT = Path(__file__).resolve().parent.parent
SMALL_PACK = 128 * 1024  # the child's packs: eight files of 150 kB make several, so a kill lands among them

BACKUP = """
import sys
import timekeep.core.storage.pack as pack
pack.TARGET_PACK_SIZE = int(sys.argv[1])
from timekeep.core.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


class Killer:
    """The proxy's hook: counts the backup's pack uploads and, at the chosen one (or at its manifest), kills
    the backup and drops the request, so what the killed process was sending never lands."""

    def __init__(self, at: str, packs_before_kill: int) -> None:
        self.at, self.packs_before_kill = at, packs_before_kill
        self.pid = 0
        self.packs_sent = 0
        self.fired = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        if method != "PUT" or self.pid == 0:
            return
        with self._lock:
            if self.fired.is_set():
                raise ConnectionAbortedError("the backup was killed")
            if "/packs/" in path:
                if self.at != "manifest" and self.packs_sent >= self.packs_before_kill:
                    self._kill()
                self.packs_sent += 1
            elif "/snapshots/" in path and self.at == "manifest":
                self._kill()

    def _kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.fired.set()
        raise ConnectionAbortedError("the backup was killed")


@pytest.fixture(params=["plain", "encrypted"])
def encryption(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(("at", "packs_before_kill"), [("first-pack", 1), ("mid-way", 4), ("manifest", 0)])
def test_a_backup_killed_mid_upload_leaves_no_partial_snapshot(rclone_server: S3Server, s3_credentials: None,
                                                               encryption: str, at: str, packs_before_kill: int,
                                                               tmp_path: Path) -> None:
    server = rclone_server
    url = f"s3://{server.new_bucket()}/laptop"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if encryption == "encrypted":
        api.init_repository(url, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS,
                            endpoint=server.endpoint)
        env["TIMEKEEP_PASSPHRASE"] = PASSPHRASE
    else:
        api.init_repository(url, endpoint=server.endpoint)
    source = tmp_path / "src"
    folder = os.fsencode(source)
    trees: dict[int, Tree] = {}
    make_tree(source, {"notes.txt": b"first\n" * 100, "a.bin": os.urandom(200_000)})
    with Timekeep.open(url, writer=True, endpoint=server.endpoint) as tk:
        tk.add_folder(folder)
        trees[tk.backup().id] = read_tree(source)

    make_tree(source, {"notes.txt": b"second\n" * 100, **{f"b{i}.bin": os.urandom(150_000) for i in range(8)}})
    packs_before = _packs(server, url)
    killer = Killer(at, packs_before_kill)
    with FlakyProxy(server.endpoint, before=killer) as proxy:
        child = subprocess.Popen(
            [sys.executable, "-c", BACKUP, str(SMALL_PACK), "backup", "--repo", url, "--endpoint", proxy.endpoint],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killer.pid = child.pid
        out, err = child.communicate(timeout=120)
    assert killer.fired.is_set(), (f"the backup ended ({child.returncode}) before the kill at {at} after "
                                   f"{killer.packs_sent} packs: {out.decode()[-300:]} {err.decode()[-300:]}")
    assert child.returncode == -signal.SIGKILL
    if at != "manifest":
        assert killer.packs_sent >= packs_before_kill
    if at == "manifest":  # every pack was up before the manifest went: packs that no manifest names
        assert _packs(server, url) > packs_before

    with Timekeep.open(url, endpoint=server.endpoint) as tk:
        assert [s.id for s in tk.snapshots()] == list(trees), "no partial snapshot is listed"
        for sid, tree in trees.items():
            assert_snapshot_matches(tk, folder, sid, tree, tmp_path / "before")
    with Timekeep.open(url, writer=True, endpoint=server.endpoint) as tk:  # the killed writer's lock is stale
        assert [s.id for s in tk.snapshots()] == list(trees)
        trees[tk.backup().id] = read_tree(source)
    with Timekeep.open(url, endpoint=server.endpoint) as tk:
        assert [s.id for s in tk.snapshots()] == list(trees)
        for sid, tree in trees.items():
            assert_snapshot_matches(tk, folder, sid, tree, tmp_path / "after")
        report = tk.check(read_data=True)
        assert report.ok, report


def _packs(server: S3Server, url: str) -> set[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    pages = server.admin().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/packs/")
    return {item["Key"] for page in pages for item in page.get("Contents", ())}
