"""An encrypted repository (`init --encryption repokey`), end to end: backed up twice and restored byte-exact;
a second computer builds its index from the sealed drive alone and restores byte-exact; the drive shows no
name and no content; a wrong passphrase is one line and exit 2; damaged, swapped and edited objects are
each refused, named, and nothing wrong is ever restored."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import make_tree, read_tree
from tests.treeops import payload, restore_into
from timekeep.core.api import Timekeep, init_repository, unlock
from timekeep.core.cli.main import main
from timekeep.core.crypto import kdf, sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import CorruptData, KeyNeeded, KeySlotDamaged, NotARepository, WrongPassphrase
from timekeep.core.storage.layout import load_config

PASSPHRASE = "correct horse battery staple"
SECRET_LINE = b"the combination to the garden shed is 4-7-1-1\n"
FILE_NAME = "tax-return-zebrafish.txt"
FOLDER_NAME = "private-correspondence-okapi"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "home-folder-pangolin"
    make_tree(path, {FILE_NAME: SECRET_LINE * 40, "big.bin": payload(3, 600_000),
                     FOLDER_NAME: {"letter.txt": b"Dear aunt,\n" + SECRET_LINE, "copy.txt": SECRET_LINE * 40}})
    return path


@pytest.fixture
def repo(tmp_path: Path, src: Path) -> Path:
    path = tmp_path / "drive" / "repo"
    recovery = init_repository(path, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    assert recovery is not None and len(recovery.split("-")) == 9
    with Timekeep.open(path, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
    return path


def new_computer(monkeypatch: pytest.MonkeyPatch, home: Path, repo: Path, passphrase: str = PASSPHRASE) -> None:
    """Another process on another computer: nothing unlocked, its own cache folder, the passphrase given."""
    sealing.forget(load_config(repo).repository_id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", passphrase)


def backups(repo: Path, src: Path, first_packs: list[Path] | None = None
            ) -> dict[int, dict[bytes, tuple[str, bytes, int]]]:
    """Two snapshots with a change between; the tree each one holds (and the first one's packs, if asked)."""
    trees = {}
    with Timekeep.open(repo, writer=True) as tk:
        trees[tk.backup().id] = read_tree(src)
    if first_packs is not None:
        first_packs.extend((repo / "packs").glob("*/*.pack"))
    (src / FILE_NAME).write_bytes(SECRET_LINE * 41)
    (src / "big.bin").write_bytes(payload(3, 300_000) + payload(4, 300_000))
    (src / FOLDER_NAME / "new.txt").write_bytes(b"added later\n")
    with Timekeep.open(repo, writer=True) as tk:
        trees[tk.backup().id] = read_tree(src)
    return trees


def every_file(repo: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(repo) for f in files]


def test_backups_restore_byte_exact_here_and_on_a_new_computer(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trees = backups(repo, src)
    assert len(trees) == 2
    with Timekeep.open(repo) as tk:
        for sid, tree in trees.items():
            assert restore_into(tk, os.fsencode(src), sid, tmp_path / "here")[0] == tree
    assert not (repo / "index.db").exists()  # the index holds every name: never on the drive
    new_computer(monkeypatch, tmp_path / "other", repo)
    with pytest.raises(KeyNeeded):
        Timekeep.open(repo)
    assert unlock(repo, interactive=False)
    with Timekeep.open(repo) as tk:  # its index is built here from the sealed drive
        assert [s.id for s in tk.snapshots()] == sorted(trees)
        for sid, tree in trees.items():
            assert restore_into(tk, os.fsencode(src), sid, tmp_path / "there")[0] == tree
        report = tk.check(read_data=True)
    assert report.problems == () and report.chunks_read > 0


def test_the_drive_alone_shows_no_name_and_no_content(tmp_path: Path, src: Path, repo: Path) -> None:
    backups(repo, src)
    needles = [FILE_NAME.encode(), FOLDER_NAME.encode(), SECRET_LINE.strip(), b"Dear aunt", os.fsencode(src.name),
               os.fsencode(str(src))]
    files = every_file(repo)
    assert any(p.suffix == ".pack" for p in files) and any(p.suffix == ".manifest" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} found in {path}"
            assert needle not in path.name.encode()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_creates_an_encrypted_repository_and_refuses_a_wrong_passphrase_in_one_line(
        tmp_path: Path, src: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdf, "tune", lambda *a, **k: TEST_PARAMS)
    repo = str(tmp_path / "drive" / "repo")
    words = tmp_path / "words"
    words.write_text(PASSPHRASE + "\n")
    code, out, err = cli(capsys, "init", repo, "--encryption", "repokey", "--passphrase-file", str(words))
    assert code == 0, err
    recovery = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Recovery key"))
    assert "Keep it" in out
    rid = load_config(Path(repo)).repository_id
    sealing.forget(rid)
    assert cli(capsys, "add", str(src), "--repo", repo, "--passphrase-file", str(words))[0] == 0
    assert cli(capsys, "backup", "--repo", repo, "--passphrase-file", str(words))[0] == 0
    sealing.forget(rid)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", "not the passphrase")
    code, out, err = cli(capsys, "snapshots", "--repo", repo)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "Wrong passphrase" in err
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", recovery)  # the recovery key opens it as well
    code, out, err = cli(capsys, "cat", str(src / FILE_NAME), "--repo", repo)
    assert code == 0 and out.encode() == SECRET_LINE * 40, err
    sealing.forget(rid)
    code, out, err = cli(capsys, "rebuild-index", "--repo", repo)
    assert code == 0, err
    code, out, err = cli(capsys, "check", "--read-data", "--repo", repo)
    assert code == 0, err


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_damaged_or_swapped_manifest_is_named_and_refused(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trees = backups(repo, src)
    first, second = sorted((repo / "snapshots").glob("*.manifest"))
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)  # swapped: each holds the other's sealed bytes
    second.write_bytes(a)
    new_computer(monkeypatch, tmp_path / "swap", repo)
    unlock(repo, interactive=False)
    with Timekeep.open(repo, writer=True) as tk:
        notes = " ".join(tk.notes)
        assert tk.snapshots() == [] and sorted(tk.lost_snapshots()) == sorted(trees)
    assert f"manifest {first.stem}" in notes and f"manifest {second.stem}" in notes
    first.write_bytes(a)
    second.write_bytes(b)
    flip(second, len(b) // 2)
    new_computer(monkeypatch, tmp_path / "flip", repo)
    unlock(repo, interactive=False)
    with Timekeep.open(repo, writer=True) as tk:
        notes = " ".join(tk.notes)
        complete = [s.id for s in tk.snapshots()]
        assert complete == [min(trees)]
        assert f"manifest {second.stem}" in notes
        assert restore_into(tk, os.fsencode(src), complete[0], tmp_path / "r")[0] == trees[complete[0]]


def refused_without_wrong_bytes(tk: Timekeep, src: Path, sid: int, tree: dict[bytes, tuple[str, bytes, int]],
                                base: Path, named: str) -> None:
    """Restoring fails for what the damage took (saying so, naming `named`), and every file it did write is
    byte for byte what was backed up."""
    try:
        restored, result = restore_into(tk, os.fsencode(src), sid, base)
    except CorruptData as err:
        assert named in str(err)
        return
    assert result.errors and (not named or any(named in e.message for e in result.errors)), (result, named)
    for rel, entry in restored.items():
        assert entry == tree[rel], rel


def test_a_damaged_or_swapped_pack_is_named_and_nothing_wrong_is_restored(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first: list[Path] = []
    trees = backups(repo, src, first)
    packs = first + [p for p in (repo / "packs").glob("*/*.pack") if p not in first]
    assert len(first) == 1 and len(packs) == 2  # the first backup's, then the second's
    shutil.rmtree(src)  # nothing to take good chunks from but the drive
    flip(packs[0], 40)  # inside the first frame
    with Timekeep.open(repo) as tk:
        report = tk.check(read_data=True)
        assert any(packs[0].stem in p for p in report.problems)
        refused_without_wrong_bytes(tk, src, 1, trees[1], tmp_path / "r1", packs[0].stem)
    flip(packs[0], 40)
    a, b = packs[0].read_bytes(), packs[1].read_bytes()
    packs[0].write_bytes(b)
    packs[1].write_bytes(a)
    new_computer(monkeypatch, tmp_path / "swap", repo)
    unlock(repo, interactive=False)
    with Timekeep.open(repo, writer=True) as tk:
        notes = " ".join(tk.notes)
        assert packs[0].stem in notes and packs[1].stem in notes
        for sid in trees:
            refused_without_wrong_bytes(tk, src, sid, trees[sid], tmp_path / f"s{sid}", "")


def test_a_damaged_key_slot_is_named(tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slots = sorted((repo / "keys").glob("*.json"))
    assert len(slots) == 2
    for slot in slots:
        flip(slot, slot.read_bytes().index(b'"wrapped"') + 14)
    new_computer(monkeypatch, tmp_path / "other", repo)
    with pytest.raises((KeySlotDamaged, WrongPassphrase)) as err:
        unlock(repo, interactive=False)
    with pytest.raises(KeyNeeded):
        Timekeep.open(repo)
    assert "passphrase" in str(err.value).lower() or "slot" in str(err.value)


def test_a_config_edited_to_say_unencrypted_is_refused_before_anything_is_written(
        tmp_path: Path, src: Path, repo: Path) -> None:
    backups(repo, src)
    config = repo / "config.json"
    text = config.read_text()
    config.write_text(text.replace('"encryption": "repokey"', '"encryption": "none"'))
    before = sorted(p.name for p in every_file(repo))
    with pytest.raises(NotARepository, match="key slots"):
        Timekeep.open(repo, writer=True)
    assert sorted(p.name for p in every_file(repo)) == before
