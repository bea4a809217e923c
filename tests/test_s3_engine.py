"""The whole engine on a repository in a bucket, against real S3 servers on loopback (rclone's and moto's):
back up, back up again, restore every snapshot byte for byte, thin, check every chunk, lose the local index
and rebuild it from the bucket; plain and encrypted (where nothing uploaded may show a name or a line)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PASSPHRASE, Tree, make_tree, read_tree
from tests.s3_support import S3Server
from tests.treeops import assert_snapshot_matches
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.storage.layout import local_index_home

SECRET_LINE = b"the secret recipe: three spoons of cardamom\n"
SECRET_NAME = "grandmas-recipes"


@pytest.fixture(params=["plain", "encrypted"])
def encryption(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def repo_url(s3_server: S3Server, s3_bucket: str, encryption: str) -> Iterator[str]:
    url = f"s3://{s3_bucket}/laptop"
    if encryption == "encrypted":
        api.init_repository(url, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS,
                            endpoint=s3_server.endpoint)
    else:
        api.init_repository(url, endpoint=s3_server.endpoint)
    yield url


def _tree(source: Path, round_: int) -> None:
    spec: dict[str, bytes | dict | str] = {
        "notes.txt": SECRET_LINE * (40 + round_),
        SECRET_NAME: {"cake.md": SECRET_LINE * 3 + bytes([round_]) * 100, "big.bin": _big(round_)},
        "link": "-> notes.txt",
    }
    if round_ == 2:
        spec["only-second.txt"] = b"gone after the second snapshot\n"
    shutil.rmtree(source, ignore_errors=True)
    make_tree(source, spec)


def _big(round_: int) -> bytes:
    data = bytearray(os.urandom(300_000))  # a random file: its own chunks
    if round_ > 1:
        data[1000:1100] = b"x" * 100
    return bytes(data)


def test_the_engine_round_trip_in_a_bucket(s3_server: S3Server, repo_url: str, encryption: str,
                                           tmp_path: Path) -> None:
    source = tmp_path / SECRET_NAME.upper()
    trees: dict[int, Tree] = {}
    for round_ in (1, 2, 3):
        _tree(source, round_)
        with Timekeep.open(repo_url, writer=True) as tk:
            if round_ == 1:
                tk.add_folder(os.fsencode(source))
            snap = tk.backup()
        trees[snap.id] = read_tree(source)
        leftovers = list((local_index_home(tk.repository_id) / "scratch").glob(".*"))
        assert leftovers == [], "every pack and manifest uploaded is gone from this computer"
    folder = os.fsencode(source)
    with Timekeep.open(repo_url) as tk:
        assert [s.id for s in tk.snapshots()] == sorted(trees)
        for sid, tree in trees.items():
            assert_snapshot_matches(tk, folder, sid, tree, tmp_path / "out")
    with Timekeep.open(repo_url, writer=True) as tk:
        dropped = tk.coalesce(drop=[min(trees)])
        assert dropped.snapshots_dropped == (min(trees),)
        report = tk.check(read_data=True)
        assert report.ok, report
        kept = [s.id for s in tk.snapshots()]
        rid = tk.repository_id
    assert kept == sorted(trees)[1:]
    shutil.rmtree(local_index_home(rid))  # this computer loses its index: the bucket still has everything
    with Timekeep.open(repo_url) as tk:  # a reader brings this computer's index up to the bucket first
        assert [s.id for s in tk.snapshots()] == kept
        assert any("missing" in note for note in tk.notes), tk.notes
    shutil.rmtree(local_index_home(rid))
    rebuilt = api.rebuild_index(repo_url)
    assert rebuilt.snapshots == len(kept) and not rebuilt.lost
    with Timekeep.open(repo_url) as tk:
        assert [s.id for s in tk.snapshots()] == kept
        for sid in kept:
            assert_snapshot_matches(tk, folder, sid, trees[sid], tmp_path / "again")
    if encryption == "encrypted":
        _assert_nothing_readable(s3_server, repo_url)


def _assert_nothing_readable(server: S3Server, url: str) -> None:
    """Every object in the bucket, read back with boto3, shows neither a file's name nor a line of it."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = server.admin()
    keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", ())]
    assert any("/packs/" in key for key in keys) and any("/snapshots/" in key for key in keys)
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for secret in (SECRET_LINE.strip(), SECRET_NAME.encode(), SECRET_NAME.upper().encode(), b"cake.md",
                       b"notes.txt"):
            assert secret not in body, f"{key} shows {secret!r}"
