"""A repository in a bucket damaged on purpose, behind the engine's back, with boto3 straight on the bucket
(rclone's server, plain and encrypted; moto's, plain): a pack deleted, truncated or with a byte flipped; a
manifest deleted or flipped; garbage named like a pack or a manifest. Whatever the damage, every file of every
snapshot comes back byte for byte or fails with an error naming it, never with wrong bytes; `check
--read-data` sees the damage; and with this computer's index lost, opening rebuilds it from the bucket, and
what did not depend on the damage restores exactly.

Each backup adds one new random file, so each backup's pack holds only that file's chunks: damage to the
last backup's pack or manifest costs nothing of the first two snapshots.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PASSPHRASE, Tree, make_tree, read_tree
from tests.s3_support import S3Server
from tests.treeops import assert_snapshot_matches, restore_into
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.cli.main import main
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import DriveWentBack
from timekeep.core.storage.layout import local_index_home

ROUNDS = (1, 2, 3)


@dataclass
class Bucket:
    """The history's repository in its bucket, and what each backup added to it."""

    server: S3Server
    bucket: str
    prefix: str
    url: str
    folder: bytes
    trees: dict[int, Tree]  # snapshot id -> the protected folder at it
    packs: dict[int, list[str]]  # snapshot id -> the pack keys its backup uploaded
    manifests: dict[int, str]  # snapshot id -> its manifest's key
    repository_id: str

    @property
    def client(self) -> Any:
        return self.server.admin()

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def keys(self, under: str) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=f"{self.prefix}/{under}")
        return {item["Key"] for page in pages for item in page.get("Contents", ())}


def _tree(source: Path, round_: int) -> None:
    """Round k: the files of rounds before it unchanged, and one new random file of its own."""
    spec: dict[str, bytes | dict | str] = {"notes.txt": b"a line that never changes\n" * 20}
    for k in range(1, round_ + 1):
        spec[f"r{k}.bin"] = _random(k)
    make_tree(source, spec)


_RANDOM: dict[int, bytes] = {}


def _random(k: int) -> bytes:
    return _RANDOM.setdefault(k, os.urandom(150_000))


@pytest.fixture(params=["plain", "encrypted", "plain-moto"])
def history(request: pytest.FixtureRequest, s3_credentials: None, tmp_path: Path) -> Bucket:
    """Three backups into a fresh bucket on rclone's server (and, plain, on moto's: a second real server
    with its own answers to ranged reads of damaged objects)."""
    _RANDOM.clear()
    server: S3Server = request.getfixturevalue("moto_server" if request.param.endswith("moto") else "rclone_server")
    bucket = server.new_bucket()
    url = f"s3://{bucket}/laptop"
    if request.param == "encrypted":
        api.init_repository(url, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS,
                            endpoint=server.endpoint)
    else:
        api.init_repository(url, endpoint=server.endpoint)
    source = tmp_path / "src"
    made = Bucket(server, bucket, "laptop", url, os.fsencode(source), {}, {}, {}, "")
    for round_ in ROUNDS:
        before = made.keys("packs/")
        manifests_before = made.keys("snapshots/")
        _tree(source, round_)
        with Timekeep.open(url, writer=True) as tk:
            if round_ == 1:
                tk.add_folder(os.fsencode(source))
            sid = tk.backup().id
            made.repository_id = tk.repository_id
        made.trees[sid] = read_tree(source)
        made.packs[sid] = sorted(made.keys("packs/") - before)
        (made.manifests[sid],) = made.keys("snapshots/") - manifests_before
        assert made.packs[sid], f"backup {round_} uploaded a pack"
    return made


def _last(b: Bucket) -> int:
    return max(b.trees)


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x40
    return bytes(out)


# Each damage: what it does to the bucket -> the snapshots it may cost (the others must restore exactly), the
# name of what it damaged, which `check --read-data` and the restore's errors must say, and the one file it
# may cost in them (None: any).
Cost = tuple[set[int], str, bytes | None]
Damage = Callable[[Bucket], Cost]


def _pack_id(key: str) -> str:
    return key.rsplit("/", 1)[1].removesuffix(".pack")


def pack_deleted(b: Bucket) -> Cost:
    b.delete(b.packs[_last(b)][0])
    return {_last(b)}, _pack_id(b.packs[_last(b)][0]), b"r3.bin"


def pack_truncated(b: Bucket) -> Cost:
    key = b.packs[_last(b)][0]
    data = b.get(key)
    b.put(key, data[: len(data) // 2])
    return {_last(b)}, _pack_id(key), b"r3.bin"


def pack_byte_flipped(b: Bucket) -> Cost:
    key = b.packs[_last(b)][0]
    data = b.get(key)
    b.put(key, _flip(data, len(data) // 3))
    return {_last(b)}, _pack_id(key), b"r3.bin"


def middle_pack_flipped(b: Bucket) -> Cost:
    """The second backup's pack: the file it added is lost in the snapshots after it too, and only that file."""
    second = sorted(b.trees)[1]
    key = b.packs[second][0]
    data = b.get(key)
    b.put(key, _flip(data, len(data) // 2))
    return {second, _last(b)}, _pack_id(key), b"r2.bin"


def manifest_deleted(b: Bucket) -> Cost:
    b.delete(b.manifests[_last(b)])
    return {_last(b)}, f"snapshot {_last(b)}", None


def manifest_byte_flipped(b: Bucket) -> Cost:
    key = b.manifests[_last(b)]
    data = b.get(key)
    b.put(key, _flip(data, len(data) // 2))
    return {_last(b)}, f"manifest {_last(b):010d}", None


def hostile_objects(b: Bucket) -> Cost:
    b.put(f"{b.prefix}/packs/ab/ab{'0' * 30}.pack", os.urandom(5000))
    b.put(f"{b.prefix}/snapshots/{99:010d}.manifest", b"not a manifest at all\n" + os.urandom(300))
    return set(), f"pack ab{'0' * 30}", None


DAMAGES: tuple[Damage, ...] = (pack_deleted, pack_truncated, pack_byte_flipped, middle_pack_flipped,
                               manifest_deleted, manifest_byte_flipped, hostile_objects)


def _restore_all(b: Bucket, tmp: Path, costs: set[int], only: bytes | None = None) -> list[str]:
    """Restore every snapshot that is listed: each file exact or named by an error, never wrong bytes; the
    snapshots `costs` does not name restore exactly and are all listed; in those it names, every file but
    `only` (when given) restores exactly. The errors seen, for the caller."""
    seen: list[str] = []
    with Timekeep.open(b.url) as tk:
        listed = {s.id for s in tk.snapshots()}
        assert set(b.trees) - costs <= listed, f"an undamaged snapshot is gone: {listed}"
        assert listed <= set(b.trees), f"a snapshot that was never taken is listed: {listed}"
        for sid in sorted(listed):
            restored, result = restore_into(tk, b.folder, sid, tmp / f"out-{sid}")
            failed = {os.path.basename(e.path) for e in result.errors if e.failed}
            seen += [f"{os.fsdecode(e.path)}: {e.message}" for e in result.errors]
            for rel, entry in b.trees[sid].items():
                if rel in restored:
                    assert restored[rel][1] == entry[1], f"snapshot {sid}: {rel!r} came back with wrong bytes"
                if restored.get(rel) != entry:
                    assert only is None or rel == only, f"snapshot {sid}: {rel!r} did not depend on the damage"
                    assert os.path.basename(rel) in failed, (
                        f"snapshot {sid}: {rel!r} neither came back exactly nor was named: {result.errors}")
            assert set(restored) <= set(b.trees[sid]), f"snapshot {sid}: files that never were"
            if sid not in costs:
                assert restored == b.trees[sid] and not [e for e in result.errors if e.failed], (
                    f"snapshot {sid} did not depend on the damage yet lost: {result.errors}")
    return seen


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_damage_in_the_bucket_costs_only_what_depended_on_it(history: Bucket, damage: Damage, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    costs, named, only = damage(history)
    errors = _restore_all(history, tmp_path / "first", costs, only)
    assert all(named in error for error in errors), f"an error does not name {named}: {errors}"
    if only is not None:
        assert errors, f"no restore noticed the {damage.__name__}"
    with Timekeep.open(history.url) as tk:
        report = tk.check(read_data=True)
    assert not report.ok and named in str(report), f"check --read-data does not name {named}: {report}"
    capsys.readouterr()
    code = main(["check", "--read-data", "--repo", history.url, "--endpoint", history.server.endpoint])
    said = capsys.readouterr()
    assert code == 1 and named in said.out + said.err and "Traceback" not in said.err, (code, said)
    shutil.rmtree(local_index_home(history.repository_id))  # this computer loses its index
    _restore_all(history, tmp_path / "rebuilt", costs, only)
    with Timekeep.open(history.url) as tk:
        report = tk.check(read_data=True)
    if damage.__name__ != "manifest_deleted":  # rebuilt, the index no longer knows the snapshot was there
        text = str(report)  # a pack gone is no longer known by name: the file it cost is named instead
        said_what = named in text or os.fsdecode(only or b"?") in text
        assert not report.ok and said_what, f"rebuilt, check names no damage: {report}"
    with Timekeep.open(history.url, writer=True) as tk:  # the next backup stores again what was lost
        sid = tk.backup().id
        assert_snapshot_matches(tk, history.folder, sid, history.trees[_last(history)], tmp_path / "next")


def test_an_older_manifest_generation_put_back_is_refused_by_a_writer(history: Bucket, tmp_path: Path) -> None:
    """A thinning writes the kept snapshot's manifest again as the next generation; the older one put back in
    its place (a bucket restored from an older copy) must not pass for the truth: a writer refuses, a reader
    says so, and every snapshot still restores exactly, from this computer's index or from the bucket."""
    last = _last(history)
    older = history.get(history.manifests[last])
    with Timekeep.open(history.url, writer=True) as tk:
        tk.coalesce(drop=[min(history.trees) + 1])
    del history.trees[min(history.trees) + 1]
    newer = history.keys("snapshots/") - set(history.manifests.values())
    assert newer, "the thinning wrote a newer generation of a kept snapshot's manifest"
    for key in newer:
        history.delete(key)
    history.put(history.manifests[last], older)

    with pytest.raises(DriveWentBack, match=f"older copy of snapshot {last}") as refused:
        Timekeep.open(history.url, writer=True).close()
    assert "\n" not in str(refused.value)
    with Timekeep.open(history.url) as tk:
        assert any("older copy" in note for note in tk.notes), tk.notes
    _restore_all(history, tmp_path / "stale", set())
    shutil.rmtree(local_index_home(history.repository_id))  # rebuilt from the bucket, the stale one is all
    errors = _restore_all(history, tmp_path / "rebuilt", {last})  # there is: what it adds to is gone
    with Timekeep.open(history.url) as tk:
        report = tk.check(read_data=True)
    assert not report.ok or not errors, f"restore failed {errors}, yet check --read-data saw nothing: {report}"


def test_garbage_named_like_a_far_manifest_invents_no_lost_snapshots(history: Bucket, tmp_path: Path) -> None:
    """An object that bears a far manifest's name and does not open proves no snapshot: the ids below it are
    neither reported lost nor skipped by the next backup, and a rebuild after that backup invents none either."""
    history.put(f"{history.prefix}/snapshots/{99:010d}.manifest", b"not a manifest at all\n" * 20)
    with Timekeep.open(history.url) as tk:
        report = tk.check(read_data=True)
        notes = tk.notes
    invented = [lost for lost in report.lost if lost.path is None and set(lost.snapshots) - {99}]
    assert invented == [], f"{len(invented)} snapshots that never existed reported lost, e.g. {invented[:2]}"
    assert [lost.snapshots for lost in report.lost if lost.path is None] == [(99,)], report.lost
    assert any("snapshot 99" in note for note in notes), notes  # the garbage itself is named

    source = Path(os.fsdecode(history.folder))
    _tree(source, 4)
    with Timekeep.open(history.url, writer=True) as tk:
        sid = tk.backup().id
    assert sid == _last(history) + 1, "the next backup takes the next id, not one above the garbage"
    history.trees[sid] = read_tree(source)
    shutil.rmtree(local_index_home(history.repository_id))  # rebuilt from the bucket, with the new manifest
    with Timekeep.open(history.url) as tk:
        assert [s.id for s in tk.snapshots()] == sorted(history.trees)
        report = tk.check(read_data=True)
    assert [lost.snapshots for lost in report.lost if lost.path is None] in ([], [(99,)]), report.lost
    assert _restore_all(history, tmp_path / "back", set()) == []
