"""A backup drafts its manifest's records as each commit lands, so finishing it reads nothing back: the manifest
it writes holds exactly the records (and, unencrypted, exactly the bytes) the index gives when read at the end,
over many commits, errors, deltas and deletions."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_tree, new_repo
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.capture import backup as backup_module
from timekeep.core.capture.backup import Backup, FolderSpec
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.folders import folders
from timekeep.core.index.writer import manifest_records
from timekeep.core.storage.manifest import Draft, current_manifest, read_manifest, write_manifest


def _tree(root: Path) -> None:
    rnd = random.Random(21)
    text = b"".join(b"line %d of a note\n" % i for i in range(20_000))
    make_tree(root, {
        "notes": {f"n{i:02}.txt": text[i * 50 : i * 50 + 500 + 13 * i] for i in range(40)},
        "big.bin": rnd.randbytes(1 << 20) + text,
        "empty": b"",
        "link": "-> notes/n01.txt",
    })
    os.mkfifo(root / "pipe")  # recorded as an error: the manifest's error records come after its versions


def _backup(repo: Path) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """The snapshot's id, the manifest's records on the drive and the records read from the index now."""
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(inner)]
        sid = Backup(inner.db, inner.layout, inner.config, specs, workers=2).run().id
        name = current_manifest(inner.layout, sid)
        assert name is not None
        on_drive = list(read_manifest(inner.layout.store, name, inner.layout.sealing))
        return sid, on_drive, list(manifest_records(inner.db, sid))


def test_drafted_manifest_holds_what_the_index_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    plain_and_encrypted: str) -> None:
    monkeypatch.setattr(backup_module, "COMMIT_ROWS", 7)  # many commits, so many drafts
    source = tmp_path / "source"
    _tree(source)
    repo = new_repo(tmp_path, source)
    _, first, first_index = _backup(repo)
    assert first[1:] == first_index
    assert sum(r["type"] == "version" for r in first) > 40 and first[-1]["type"] == "error"
    for i in range(0, 40, 3):
        (source / "notes" / f"n{i:02}.txt").write_bytes(b"edited %d\n" % i)
    (source / "notes" / "n01.txt").unlink()
    with open(source / "big.bin", "r+b") as f:
        f.seek(300_000)
        f.write(b"x" * 5000)
    _, second, second_index = _backup(repo)
    assert second[1:] == second_index
    states = {r["state"] for r in second if r["type"] == "version"}
    assert {"modified", "deleted"} <= states
    assert any(r["type"] == "version" and not r["full"] for r in second)  # a delta's extents, drafted


def test_drafted_manifest_has_the_bytes_of_one_written_at_the_end(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _tree(source)
    repo = new_repo(tmp_path / "repo", source)
    other = new_repo(tmp_path / "other", source)  # a second drive, to write the same manifest at the end to
    sid, records, _ = _backup(repo)
    with Timekeep.open(repo, writer=True) as tk, Timekeep.open(other, writer=True) as elsewhere:
        name = current_manifest(tk._repo.layout, sid)
        assert name is not None
        drafted = tk._repo.layout.store.read(name, 0, None)
        header = {k: v for k, v in records[0].items() if k not in ("type", "format", "gen")}
        store = elsewhere._repo.layout.store
        serial = store.read(write_manifest(elsewhere._repo.layout, sid, header, manifest_records(tk._repo.db, sid)),
                            0, None)
    assert drafted == serial and len(drafted) > 1000


def test_an_encrypted_repository_drafts_beside_its_index_not_on_the_drive(tmp_path: Path) -> None:
    repo = tmp_path / "drive" / "Timekeep" / "repo"
    init_repository(repo, encryption="repokey", passphrase="a good passphrase", argon2=TEST_PARAMS)
    with Timekeep.open(repo, writer=True) as tk:
        draft = Draft(tk._repo.layout)
        try:
            where = Path(os.readlink(f"/proc/self/fd/{draft.file.fileno()}"))
        finally:
            draft.close()
        assert where.parent == tk._repo.layout.index_dir and not where.is_relative_to(tmp_path / "drive")
