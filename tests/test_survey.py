"""The drive survey every writer's open makes (core/index/survey.py) still finds each way the index and the
drive can differ, now that the usual case (nothing differs) is decided by one comparison: a manifest or pack
the index does not know, a pack gone, cut short or noted lost, a manifest gone. And the integrity check's
stamp, written over in place, still brings the check back whenever it is anything but exact."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.index import checked
from timekeep.core.index.schema import open_index
from timekeep.core.index.survey import Drift, compare, survey
from timekeep.core.storage.layout import Layout, layout_of, load_config
from timekeep.core.storage.manifest import manifest_files
from timekeep.core.storage.pack import stored_packs


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"alpha\n" * 1000, "b.txt": b"beta\n" * 1000})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "a.txt").write_bytes(b"changed\n" * 1000)
    backup(repo)
    return repo


def layout(repo: Path) -> Layout:
    return layout_of(repo, load_config(repo))


def drift(repo: Path) -> Drift:
    db = open_index(layout(repo).index)
    try:
        return compare(db, survey(layout(repo)))
    finally:
        db.close()


def a_pack(repo: Path) -> Path:
    name = sorted(stored_packs(layout(repo).store))[0]
    return repo / "packs" / name[:2] / f"{name}.pack"


def test_an_index_as_the_drive_is_shows_no_drift(repo: Path) -> None:
    assert drift(repo) == Drift()


def test_a_manifest_the_index_does_not_know_puts_it_behind(repo: Path) -> None:
    with sqlite3.connect(layout(repo).index) as conn:  # the index as it was before the last backup ended
        (last,) = conn.execute("SELECT max(id) FROM snapshot").fetchone()
        conn.execute("DELETE FROM snapshot WHERE id = ?", (last,))
    found = drift(repo)
    assert found.unknown_snapshots == [last]
    assert found.behind


def test_a_manifest_rewritten_after_the_index_saw_it_puts_it_behind(repo: Path) -> None:
    with sqlite3.connect(layout(repo).index) as conn:  # as if a thinning wrote a later generation unseen
        (last,) = conn.execute("SELECT max(id) FROM snapshot").fetchone()
        conn.execute("UPDATE snapshot SET gen = gen - 1 WHERE id = ?", (last,))
    found = drift(repo)
    assert found.behind == [f"snapshot {last} was rewritten on the drive after the index last saw it"]


def test_a_snapshot_left_running_or_lost_is_no_drift(repo: Path) -> None:
    with sqlite3.connect(layout(repo).index) as conn:
        (last,) = conn.execute("SELECT max(id) FROM snapshot").fetchone()
        conn.execute("UPDATE snapshot SET state = 'running' WHERE id = ?", (last,))
    assert drift(repo) == Drift()  # settled by the open, not a sign of being behind
    with sqlite3.connect(layout(repo).index) as conn:
        conn.execute("UPDATE snapshot SET state = 'lost' WHERE id = ?", (last,))
    assert drift(repo) == Drift()  # a damaged manifest known and reported already


def test_a_pack_gone_from_the_drive_is_found(repo: Path) -> None:
    pack = a_pack(repo)
    pack.unlink()
    assert drift(repo).missing_packs == [pack.stem]


def test_a_pack_cut_short_is_found(repo: Path) -> None:
    pack = a_pack(repo)
    os.truncate(pack, pack.stat().st_size - 1)
    assert drift(repo).resized_packs == [pack.stem]


def test_a_pack_the_index_does_not_know_is_found(repo: Path) -> None:
    pack = a_pack(repo)
    with sqlite3.connect(layout(repo).index) as conn:
        conn.execute("UPDATE pack SET name = 'elsewhere' WHERE name = ?", (pack.stem,))
    found = drift(repo)
    assert found.unknown_packs == [pack.stem]
    assert found.missing_packs == ["elsewhere"]


def test_a_pack_noted_lost_that_is_back_is_no_drift_but_not_the_fast_path(repo: Path) -> None:
    """A pack the index notes missing that the drive holds again: the full comparison runs (no dict equality
    of sound packs can say so), and it reports nothing, as before."""
    pack = a_pack(repo)
    with sqlite3.connect(layout(repo).index) as conn:
        conn.execute("UPDATE pack SET state = 'missing' WHERE name = ?", (pack.stem,))
    assert drift(repo) == Drift()
    pack.unlink()
    assert drift(repo) == Drift()  # noted already


def test_a_manifest_gone_from_the_drive_is_found(repo: Path) -> None:
    first = min(manifest_files(layout(repo)))
    for name in manifest_files(layout(repo))[first].values():
        (repo / name).unlink()
    assert drift(repo).missing_manifests == [first]


def test_manifests_are_listed_by_name_only_and_hidden_ones_skipped(repo: Path) -> None:
    before = manifest_files(layout(repo))
    (repo / "snapshots" / ".0000000009.manifest.1.tmp").write_bytes(b"a writer's temporary")
    (repo / "snapshots" / "not-a-manifest").write_bytes(b"x")
    assert manifest_files(layout(repo)) == before
    assert len(before) == 2


def test_the_stamp_written_over_in_place_is_exact_or_the_check_is_due(repo: Path) -> None:
    lay, rid = layout(repo), load_config(repo).repository_id
    assert not checked.due(lay, rid)
    memory = checked._memory(rid)
    text = memory.read_bytes()
    checked.closed(lay, rid)  # written over a longer text: nothing of the old one is left after it
    memory.write_bytes(text + b" " * 64)
    checked.closed(lay, rid)
    assert memory.read_bytes().rstrip() == memory.read_bytes()
    assert not checked.due(lay, rid)
    memory.write_bytes(text[: len(text) // 2])  # torn
    assert checked.due(lay, rid)
    memory.unlink()
    assert checked.due(lay, rid)
    checked.passed(lay, rid)  # made again where it was gone
    assert not checked.due(lay, rid)
