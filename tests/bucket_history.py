"""A history in a bucket for the `timekeep encrypt` tests: several snapshots, one thinned away (so a kept
snapshot's manifest has a newer generation), with names and lines that must not show once it is encrypted."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Tree, make_tree, read_tree
from tests.s3_support import S3Server
from tests.treeops import payload, restore_into
from timekeep.core.api import Timekeep, init_repository, locate, unlock
from timekeep.core.crypto import sealing
from timekeep.core.storage.layout import load_config

PASSPHRASE = "a long walk on a short pier"
SECRET_LINE = b"the spare key is under the third flowerpot\n"
FILE_NAME = "diary-wombat.txt"
FOLDER_NAME = "medical-letters-quokka"
GONE_NAME = "resignation-draft-narwhal.txt"


@dataclass
class BucketHistory:
    server: S3Server
    url: str
    src: Path
    trees: dict[int, Tree]

    def open(self, writer: bool = False) -> Timekeep:
        return Timekeep.open(self.url, writer=writer, endpoint=self.server.endpoint)

    def objects(self) -> dict[str, bytes]:
        """Every object under the repository's prefix, by its name there, with its bytes."""
        admin = self.server.admin()
        bucket, _, prefix = self.url.removeprefix("s3://").partition("/")
        pages = admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
        keys = [item["Key"] for page in pages for item in page.get("Contents", ())]
        return {key.removeprefix(f"{prefix}/"): admin.get_object(Bucket=bucket, Key=key)["Body"].read()
                for key in keys}


def make_history(server: S3Server, bucket: str, base: Path) -> BucketHistory:
    url = f"s3://{bucket}/laptop"
    init_repository(url, endpoint=server.endpoint)
    src = Path(os.path.realpath(base)) / "home-folder-tapir"
    make_tree(src, {FILE_NAME: SECRET_LINE * 30, "film.bin": payload(1, 600_000), GONE_NAME: SECRET_LINE,
                    FOLDER_NAME: {"letter.txt": b"Dear doctor,\n" + SECRET_LINE, "scan.bin": payload(2, 300_000)}})
    h = BucketHistory(server, url, src, {})
    with h.open(writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        h.trees[tk.backup().id] = read_tree(src)
    (src / FILE_NAME).write_bytes(SECRET_LINE * 31)
    (src / "film.bin").write_bytes(payload(1, 300_000) + payload(3, 400_000))
    with h.open(writer=True) as tk:
        h.trees[tk.backup().id] = read_tree(src)
    (src / GONE_NAME).unlink()
    (src / FOLDER_NAME / "new.txt").write_bytes(b"added later\n" + SECRET_LINE)
    with h.open(writer=True) as tk:
        h.trees[tk.backup().id] = read_tree(src)
        assert list(tk.coalesce(drop=[2]).snapshots_dropped) == [2]
    del h.trees[2]
    (src / FILE_NAME).write_bytes(SECRET_LINE * 32 + payload(4, 70_000, "text"))
    with h.open(writer=True) as tk:
        h.trees[tk.backup().id] = read_tree(src)
    assert any("-" in name.rpartition("/")[2] for name in h.objects() if name.startswith("snapshots/"))
    return h


def restores_exactly(h: BucketHistory, scratch: Path) -> None:
    with h.open() as tk:
        assert sorted(s.id for s in tk.snapshots()) == sorted(h.trees)
        for sid, tree in h.trees.items():
            got, result = restore_into(tk, os.fsencode(h.src), sid, scratch / f"at-{sid}")
            assert not result.errors and got == tree, f"snapshot {sid} restored differently"


def shows_nothing(h: BucketHistory) -> None:
    """No object's name or bytes hold a name or a line of the protected files; nothing staged is left."""
    needles = [n.encode() for n in (FILE_NAME, FOLDER_NAME, GONE_NAME, "letter.txt", h.src.name, str(h.src))]
    needles += [SECRET_LINE.strip(), b"Dear doctor"]
    objects = h.objects()
    assert any(n.startswith("packs/") for n in objects) and any(n.startswith("snapshots/") for n in objects)
    assert any(n.startswith("keys/") for n in objects)
    assert not [n for n in objects if n.startswith("encrypting/")], "the staged copy was all moved into place"
    for name, data in objects.items():
        for needle in needles:
            assert needle not in data and needle not in name.encode(), f"{needle!r} in {name}"


def new_computer(monkeypatch: pytest.MonkeyPatch, home: Path, h: BucketHistory) -> None:
    """Another computer: nothing unlocked, an empty cache folder, the passphrase given."""
    sealing.forget(load_config(locate(h.url, h.server.endpoint)).repository_id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    assert unlock(locate(h.url, h.server.endpoint), interactive=False)


def clone(original: BucketHistory, bucket: str) -> BucketHistory:
    """The same repository in another bucket, copied inside the server: a history made once serves each case."""
    admin = original.server.admin()
    source_bucket, _, prefix = original.url.removeprefix("s3://").partition("/")
    pages = admin.get_paginator("list_objects_v2").paginate(Bucket=source_bucket, Prefix=f"{prefix}/")
    for key in [item["Key"] for page in pages for item in page.get("Contents", ())]:
        admin.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": key})
    return BucketHistory(original.server, f"s3://{bucket}/{prefix}", original.src, dict(original.trees))
