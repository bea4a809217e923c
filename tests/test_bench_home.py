"""The home scale does not rot: its generator makes the shape it promises, a day's churn journals what it
changed, and the runner goes end to end at a few hundred files, its snapshots a simulated day apart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import home, home_tree
from timekeep.core.api import Timekeep


def test_the_generator_makes_a_seeded_home_of_the_asked_size(tmp_path: Path) -> None:
    made = home_tree.generate(tmp_path / "a", 400, seed=7)
    again = home_tree.generate(tmp_path / "b", 400, seed=7)
    on_disk = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert on_disk == sorted(made.files) and len(on_disk) == 400
    assert made.files == again.files
    assert (tmp_path / "a" / "Documents").is_dir() and len(list((tmp_path / "a" / home_tree.CAMERA).iterdir())) == 80
    assert len(made.folders) + 1 >= 400 // 20  # and the camera folder
    assert max(f.count("/") for f in made.files) <= home_tree.MAX_DEPTH


def test_a_day_of_churn_journals_every_path_it_changed(tmp_path: Path) -> None:
    made = home_tree.generate(tmp_path / "h", 300, seed=3)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "h").rglob("*") if p.is_file()}
    journaled = home_tree.day(made, home_tree.SMALL_DAY)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "h").rglob("*") if p.is_file()}
    changed = {p for p in after if before.get(p) != after[p]} | (before.keys() - after.keys())
    for path in changed:  # every change is the journaled path itself or lies in a journaled (moved, new) folder
        assert any(os.fsencode(path) == j or os.fsencode(path).startswith(j + b"/") for j in journaled), path
    assert sorted(p.relative_to(tmp_path / "h").as_posix() for p in after) == sorted(made.files)


def test_the_runner_goes_end_to_end_a_simulated_day_apart(tmp_path: Path) -> None:
    assert home.main(["--files", "200", "--days", "3", "--small-days", "--tools", "timekeep",
                      "--work", str(tmp_path / "work"), "--results", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "latest-home-200.json").read_text())
    rows = {row["measure"]: row["values"].get("timekeep") for row in report["rows"]}
    assert rows["first backup"] > 0 and rows["rebuild-index from the drive"] > 0
    assert any(m.startswith("coalesce after the year") for m in rows)
    assert report["facts"]["versions"] > 200 and report["facts"]["snapshots"] == 5
    assert "| first backup | s |" in (tmp_path / "out" / "latest-home-200.md").read_text()
    assert not (tmp_path / "work" / "200").exists()  # the generated tree and repository are never kept


def test_snapshots_taken_in_a_simulated_day_carry_its_time(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    repo = tmp_path / "repo"
    from timekeep.core.api import init_repository

    init_repository(repo)
    at = 2_000_000_000 * 10**9
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        with home.simulated_day(at):
            tk.backup()
        (src / "a.txt").write_bytes(b"ab")
        with home.simulated_day(at + home.DAY_NS):
            tk.backup()
        assert [s.time_ns for s in tk.snapshots()] == [at, at + home.DAY_NS]
        assert tk.check().ok


@pytest.mark.parametrize(("value", "shown"), [(1234.5, "1,234"), (12.345, "12.3"), (0.0123, "0.0123")])
def test_figures_never_read_in_exponent_form(value: float, shown: str) -> None:
    assert home.figure(value) == shown
