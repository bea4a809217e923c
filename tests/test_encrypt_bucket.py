"""`timekeep encrypt` on a repository in a bucket (real S3 servers: rclone's and moto's): a history of several
snapshots, one thinned away (so a kept snapshot's manifest has a newer generation), converts in place. Every
snapshot restores byte-exact after, here and on a computer that builds its index from the sealed bucket;
`check --read-data` is clean; no object in the bucket holds a file or folder name or a line of content, and
nothing is left under `encrypting/`. Progress counts chunks and bytes while copying, objects and bytes while
placing. The kill -9 cases are in test_encrypt_bucket_kill.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bucket_history import (
    FILE_NAME,
    PASSPHRASE,
    SECRET_LINE,
    make_history,
    new_computer,
    restores_exactly,
    shows_nothing,
)
from tests.helpers import make_tree
from tests.s3_support import FlakyProxy, S3Server
from timekeep.core.api import encrypt_repository, locate
from timekeep.core.cli.main import main
from timekeep.core.cli.progress import render_bar
from timekeep.core.crypto import kdf
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import CorruptData
from timekeep.core.storage.layout import load_config
from timekeep.core.types import Progress


def test_a_bucket_history_converts_and_every_snapshot_restores_with_nothing_readable_left(
        s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = make_history(s3_server, s3_bucket, tmp_path)
    restores_exactly(h, tmp_path / "before")
    seen: list[Progress] = []
    recovery = encrypt_repository(locate(h.url, s3_server.endpoint), PASSPHRASE, seen.append, argon2=TEST_PARAMS)
    assert len(recovery.split("-")) == 9
    copying = [p for p in seen if p.phase == "encrypt"]
    assert copying[-1].bytes_done == copying[-1].bytes_total > 1_000_000
    placing = [p for p in seen if p.phase == "place"]
    assert placing and [p.files_done for p in placing] == list(range(1, placing[-1].files_total + 1))
    assert placing[-1].bytes_done == placing[-1].bytes_total > 1_000_000
    config = load_config(locate(h.url, s3_server.endpoint))
    assert config.encrypted and config.index == "local"
    restores_exactly(h, tmp_path / "after")
    shows_nothing(h)
    new_computer(monkeypatch, tmp_path / "elsewhere", h)
    restores_exactly(h, tmp_path / "elsewhere-restores")
    with h.open(writer=True) as tk:
        assert tk.check(read_data=True).problems == ()
        latest = tk.backup()  # nothing changed on the computer: the converted content ids still match
        assert latest.files_changed == 0, latest


def test_the_command_converts_a_bucket_with_progress_then_refuses_in_one_line(
        rclone_server: S3Server, s3_credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"s3://{rclone_server.new_bucket()}/cli"
    monkeypatch.setattr(kdf, "tune", lambda *a, **k: TEST_PARAMS)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    docs = tmp_path / "docs"
    make_tree(docs, {FILE_NAME: SECRET_LINE})
    assert main(["init", url, "--endpoint", rclone_server.endpoint, "--encryption", "none"]) == 0
    assert main(["add", str(docs), "--repo", url]) == 0
    assert main(["backup", "--repo", url]) == 0
    capsys.readouterr()
    assert main(["encrypt", "--repo", url]) == 0
    out, err = capsys.readouterr()
    assert "Encrypted the repository at s3://" in out and "in its bucket" in out and "Recovery key" in out
    assert "versioning" in out and "wiped drive" not in out
    assert main(["cat", str(docs / FILE_NAME), "--repo", url]) == 0
    assert capsys.readouterr().out == SECRET_LINE.decode()
    assert main(["encrypt", "--repo", url]) == 2
    err = capsys.readouterr().err
    assert "encrypted already" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_placing_the_copy_shows_objects_and_bytes_on_a_terminal() -> None:
    line = render_bar(Progress("place", 3, 10, 2_000_000, 5_000_000, 2.0), 100)
    assert line.startswith("placing") and "3/10 objects" in line and "2.0 MB/5.0 MB" in line, line


class DamageStagedPack:
    """The proxy's hook: at the first read of the staged copy (the check before the commit), one byte of a staged
    pack's footer is flipped on the server itself, as a medium that damaged it on its way would have."""

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self.damaged = ""

    def __call__(self, method: str, path: str) -> None:
        key = path.partition("?")[0].lstrip("/")
        if method != "GET" or self.damaged or "/encrypting/packs/" not in key:
            return
        bucket, _, key = key.partition("/")
        admin = self.server.admin()
        data = bytearray(admin.get_object(Bucket=bucket, Key=key)["Body"].read())
        data[-30] ^= 0x01
        admin.put_object(Bucket=bucket, Key=key, Body=bytes(data))
        self.damaged = key


def test_a_copy_damaged_before_the_commit_is_found_and_the_old_repository_stays(
        rclone_server: S3Server, s3_credentials: None, tmp_path: Path) -> None:
    h = make_history(rclone_server, rclone_server.new_bucket(), tmp_path)
    hook = DamageStagedPack(rclone_server)
    with FlakyProxy(rclone_server.endpoint, before=hook) as proxy, pytest.raises(CorruptData) as refused:
        encrypt_repository(locate(h.url, proxy.endpoint), PASSPHRASE, argon2=TEST_PARAMS)
    assert hook.damaged and "left as it was" in str(refused.value)
    assert not load_config(locate(h.url, rclone_server.endpoint)).encrypted
    assert not [name for name in h.objects() if name.startswith(("encrypting/", "keys/"))]
    restores_exactly(h, tmp_path / "old")
