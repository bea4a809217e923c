"""Tampering with an encrypted drive, as the issue lists it: a byte flipped in a pack, a manifest, a key slot;
two packs swapped; two manifests swapped; an older manifest put back (under the newer generation's name, under
its own name once the newer is removed, and the whole drive put back from an older copy). Each is detected,
the object named, and nothing is ever restored wrong. The last two the seals alone cannot see: this
computer's index remembers how far the drive had got, refuses to write on top and says what went back, while
reading still works. They hold for an unencrypted repository whose index is kept on this computer too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import short_runtime_dir
from tests.damage_support import Run, timekeep
from tests.helpers import Tree, make_tree, read_tree
from tests.treeops import payload, restore_into
from timekeep.core.api import Timekeep, init_repository, unlock
from timekeep.core.crypto import sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import CorruptData, KeySlotDamaged, WrongPassphrase
from timekeep.core.storage.layout import load_config

PASSPHRASE = "tamper tests' words"


class Drive:
    """Three snapshots of a small folder, then a thinning of snapshot 2 (snapshot 3's manifest is written again
    as generation 1), with the tree each kept snapshot holds and the recovery key."""

    def __init__(self, tmp: Path, mode: str) -> None:
        self.tmp = tmp
        self.src = Path(os.path.realpath(tmp)) / "src"
        self.repo = tmp / "drive" / "repo"
        self.recovery = ""
        if mode == "encrypted":
            self.recovery = init_repository(self.repo, encryption="repokey", passphrase=PASSPHRASE,
                                            argon2=TEST_PARAMS) or ""
        else:
            init_repository(self.repo, index="local")
        make_tree(self.src, {"a.txt": b"first words\n" * 50, "big.bin": payload(1, 300_000),
                             "docs": {"letter.txt": b"dear aunt\n" * 30}})
        with Timekeep.open(self.repo, writer=True) as tk:
            tk.add_folder(os.fsencode(self.src))
        self.trees: dict[int, Tree] = {}
        self.snapshot()
        self.copy_after_1 = tmp / "copy-after-1"
        shutil.copytree(self.repo, self.copy_after_1)  # the drive as a person might have copied it that day
        (self.src / "a.txt").write_bytes(b"second words\n" * 50)
        self.snapshot()
        (self.src / "big.bin").write_bytes(payload(2, 200_000) + payload(1, 100_000))
        (self.src / "docs" / "new.txt").write_bytes(b"added at 3\n")
        self.snapshot()
        self.gen0 = self.manifest(3).read_bytes()
        with Timekeep.open(self.repo, writer=True) as tk:
            assert list(tk.coalesce(drop=[2]).snapshots_dropped) == [2]
        del self.trees[2]
        assert self.manifest(3).name == f"{3:010d}-1.manifest", self.manifest(3)

    def snapshot(self) -> None:
        with Timekeep.open(self.repo, writer=True) as tk:
            sid = tk.backup().id
        self.trees[sid] = read_tree(self.src)

    def manifest(self, sid: int) -> Path:
        (found,) = self.repo.glob(f"snapshots/{sid:010d}*.manifest")
        return found

    def packs(self) -> list[Path]:
        return sorted(self.repo.glob("packs/*/*.pack"), key=lambda p: p.stat().st_mtime_ns)

    def run(self, *args: str) -> Run:
        return timekeep(self.repo, *args)

    def new_computer(self, monkeypatch: pytest.MonkeyPatch, name: str, key: str = PASSPHRASE) -> None:
        """Another computer: nothing unlocked, no index of its own yet, the passphrase (or key) given."""
        sealing.forget(load_config(self.repo).repository_id)
        monkeypatch.setenv("XDG_CACHE_HOME", str(self.tmp / name / "cache"))
        monkeypatch.setenv("TIMEKEEP_PASSPHRASE", key)

    def restores_nothing_wrong(self, named: str) -> list[str]:
        """Restore every kept snapshot: every file written is byte for byte what was backed up; returns what
        each restore that could not bring everything back said (each must name `named`)."""
        said = []
        with Timekeep.open(self.repo) as tk:
            for sid, tree in self.trees.items():
                try:
                    got, result = restore_into(tk, os.fsencode(self.src), sid, self.tmp / f"restored-{sid}")
                except CorruptData as err:
                    said.append(str(err))
                    continue
                for rel, entry in got.items():
                    assert entry == tree[rel], (sid, rel)
                if got != tree:
                    assert result.errors, f"snapshot {sid}: files missing and no error said so"
                said.extend(e.message for e in result.errors)
        assert all(named in line for line in said), (named, said)
        return said


@pytest.fixture(autouse=True)
def private_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`backup` first asks a running agent; none of this machine's may answer."""
    runtime = short_runtime_dir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    yield
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def drive(tmp_path: Path) -> Drive:
    return Drive(tmp_path, "encrypted")


@pytest.fixture(params=["encrypted", "local"])
def either(request: pytest.FixtureRequest, tmp_path: Path) -> Drive:
    """Encrypted, or unencrypted with the index kept on this computer: the index remembers in both."""
    return Drive(tmp_path, str(request.param))


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x5A
    path.write_bytes(bytes(data))


def one_line(run: Run) -> str:
    assert run.crash is None, run
    lines = run.err_text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("timekeep: "), run
    return lines[0]


def test_a_byte_flipped_in_a_pack_is_named_and_nothing_wrong_is_restored(drive: Drive) -> None:
    pack = drive.packs()[0]  # the first backup's: every snapshot needs some of it
    flip(pack, pack.stat().st_size // 3)
    check = drive.run("check", "--read-data")
    assert check.code == 1 and pack.stem[:8] in check.text, check
    assert drive.restores_nothing_wrong(pack.stem[:8]), "the flipped frame cost nothing"


def test_a_byte_flipped_in_a_manifest_loses_that_snapshot_names_it_and_restores_nothing_wrong(
        drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    flip(drive.manifest(1), drive.manifest(1).stat().st_size // 2)
    check = drive.run("check", "--read-data")
    assert check.code == 1 and "manifest 1" in check.text.replace(f"{1:010d}", "1"), check
    drive.new_computer(monkeypatch, "other")  # the drive alone: snapshot 1 is lost, and what 3 took from it
    listing = drive.run("snapshots", "--json")
    assert listing.code == 0 and [s["id"] for s in listing.json()] == [3], listing
    assert f"{1:010d}" in listing.err_text or "snapshot 1" in listing.err_text, listing
    del drive.trees[1]
    drive.restores_nothing_wrong("")


@pytest.mark.parametrize("which", ["passphrase", "both"])
def test_a_byte_flipped_in_a_key_slot_is_named_and_the_other_slot_still_opens(
        drive: Drive, monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    slots = {p: p.read_bytes() for p in (drive.repo / "keys").glob("*.json")}
    passphrase_slot = next(p for p, data in slots.items() if b'"passphrase"' in data)
    damaged = list(slots) if which == "both" else [passphrase_slot]
    for slot in damaged:
        flip(slot, slot.read_bytes().index(b'"wrapped"') + 14)
    drive.new_computer(monkeypatch, "other")
    with pytest.raises((KeySlotDamaged, WrongPassphrase)) as err:
        unlock(drive.repo, interactive=False)
    assert any(p.stem in str(err.value) for p in damaged) or "passphrase" in str(err.value).lower(), err.value
    refused = drive.run("snapshots")
    assert refused.code == 2 and "Traceback" not in one_line(refused), refused
    drive.new_computer(monkeypatch, "other", drive.recovery)
    opened = drive.run("cat", str(drive.src / "a.txt"), "--at", "3")
    if which == "both":
        assert opened.code == 2 and opened.out == b"", opened
        one_line(opened)
    else:  # the recovery slot is whole
        assert opened.code == 0 and opened.out == drive.trees[3][b"a.txt"][1], opened


def test_two_packs_swapped_are_each_named_and_nothing_wrong_is_restored(
        drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = drive.packs()[:2]
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    check = drive.run("check", "--read-data")
    assert check.code == 1 and first.stem[:8] in check.text and second.stem[:8] in check.text, check
    drive.new_computer(monkeypatch, "other")
    rebuilt = drive.run("rebuild-index")
    assert first.stem[:8] in rebuilt.text and second.stem[:8] in rebuilt.text, rebuilt
    drive.restores_nothing_wrong("")


def test_two_manifests_swapped_are_both_lost_and_named(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    one, three = drive.manifest(1), drive.manifest(3)
    a, b = one.read_bytes(), three.read_bytes()
    one.write_bytes(b)
    three.write_bytes(a)
    check = drive.run("check", "--read-data")
    assert check.code == 1 and f"{1:010d}" in check.text and f"{3:010d}" in check.text, check
    drive.new_computer(monkeypatch, "other")
    listing = drive.run("snapshots", "--json")
    assert listing.code == 0 and listing.json() == [], listing
    assert f"{1:010d}" in listing.err_text and f"{3:010d}" in listing.err_text, listing


def test_an_older_generation_put_under_the_newer_ones_name_is_refused(
        drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    drive.manifest(3).write_bytes(drive.gen0)  # sealed as generation 0, now named generation 1
    drive.new_computer(monkeypatch, "other")
    listing = drive.run("snapshots", "--json")
    assert listing.code == 0 and [s["id"] for s in listing.json()] == [1], listing
    assert f"{3:010d}-1" in listing.err_text or "snapshot 3" in listing.err_text, listing
    del drive.trees[3]
    drive.restores_nothing_wrong("")


def test_an_older_generation_put_back_under_its_own_name_is_caught_by_this_computers_index(either: Drive) -> None:
    newer = either.manifest(3)
    newer.unlink()
    (newer.parent / f"{3:010d}.manifest").write_bytes(either.gen0)  # what the drive held before the thinning
    before = sorted(p.name for p in either.repo.rglob("*"))
    backup = either.run("backup")
    line = one_line(backup)
    assert backup.code == 2 and "older copy of snapshot 3" in line and "rebuild-index" in line, backup
    assert sorted(p.name for p in either.repo.rglob("*")) == before, "something was written on top"
    shown = either.run("cat", str(either.src / "big.bin"), "--at", "3")  # reading goes on, from this index
    assert shown.code == 0 and shown.out == either.trees[3][b"big.bin"][1], shown
    assert "older copy of snapshot 3" in shown.err_text, shown
    either.restores_nothing_wrong("")


def test_the_whole_drive_put_back_from_an_older_copy_is_caught_by_this_computers_index(either: Drive) -> None:
    shutil.rmtree(either.repo)
    shutil.copytree(either.copy_after_1, either.repo)
    before = sorted(p.name for p in either.repo.rglob("*"))
    backup = either.run("backup")
    line = one_line(backup)
    assert backup.code == 2 and "snapshot 3" in line and "older copy" in line, backup
    assert sorted(p.name for p in either.repo.rglob("*")) == before, "something was written on top"
    listing = either.run("snapshots", "--json")  # reading goes on: this computer's index still knows 3
    assert listing.code == 0 and [s["id"] for s in listing.json()] == [1, 3], listing
    assert "older copy" in listing.err_text, listing
    old = either.run("cat", str(either.src / "a.txt"), "--at", "1")
    assert old.code == 0 and old.out == either.trees[1][b"a.txt"][1], old
    gone = either.run("cat", str(either.src / "big.bin"), "--at", "3")  # its new bytes went with the packs
    assert gone.code != 0 and gone.out == b"" and "pack" in gone.err_text and gone.crash is None, gone
    assert all(line.startswith("timekeep: ") for line in gone.err_text.splitlines()), gone
    either.restores_nothing_wrong("")
    accepted = either.run("rebuild-index")  # the person's way to take the drive as it is now
    assert accepted.code == 0, accepted
    again = either.run("backup")
    assert again.code == 0, again
    ids = [s["id"] for s in either.run("snapshots", "--json").json()]
    assert ids[0] == 1 and len(ids) == 2, ids
