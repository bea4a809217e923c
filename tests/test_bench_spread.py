"""The targets table over several runs (bench/spread.py) and the targets each run is judged by (bench/run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import spread
from bench.report import Report, Row
from bench.run import judge

FIRST_LISTING = "list the 10k-entry folder, in process, first in the process (GUI)"


def run_file(tmp_path: Path, name: str, ours: float, restic: float, load: float) -> Path:
    report = Report("full", 3 << 30, {"timekeep": "x", "restic": "y"})
    report.add(Row("first backup throughput", "MB/s", {"timekeep": ours, "restic": restic}, higher_is_better=True))
    report.add(Row(FIRST_LISTING, "ms", {"timekeep": 20.0 + ours / 1000}))
    report.load = {"began": load, "ended": load + 0.5, "cores": 2.0}
    judge(report)
    path = tmp_path / f"{name}.json"
    path.write_text(report.to_json())
    return path


def test_each_run_is_judged_by_the_issues_targets() -> None:
    report = Report("full", 1, {"timekeep": "x", "restic": "y", "borg": "z"})
    first = report.add(Row("first backup throughput", "MB/s", {"timekeep": 399.0, "restic": 200.0, "borg": 100.0},
                           higher_is_better=True, target="≥ 1.0×"))
    agent = report.add(Row("backup after: one small file touched, agent running (peers: no agent)", "s",
                           {"timekeep": 0.05, "restic": 1.2, "borg": 1.1}))
    scan = report.add(Row("backup after: one small file touched", "s", {"timekeep": 0.2, "restic": 1.2, "borg": 1.1}))
    listing = report.add(Row(FIRST_LISTING, "ms", {"timekeep": 26.0}))
    judge(report)
    assert (first.target, first.met) == ("≥ 2×", False)  # 1.995× the faster peer is short of 2×
    assert (agent.target, agent.met) == ("≥ 20×", True)  # 1.1 / 0.05 = 22×: the agent's own, stricter target
    assert (scan.target, scan.met) == ("≥ 5×", True)
    assert (listing.target, listing.met) == ("< 25 ms", False)


def test_the_spread_gives_medians_ranges_and_met_only_when_every_run_met(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    paths = [run_file(tmp_path, "a", 450.0, 200.0, 1.0), run_file(tmp_path, "b", 390.0, 210.0, 1.5),
             run_file(tmp_path, "c", 500.0, 205.0, 0.8)]
    assert spread.main([str(p) for p in paths] + ["--out", str(tmp_path / "table")]) == 0
    text = capsys.readouterr().out
    assert text == (tmp_path / "table.md").read_text()
    first = next(line for line in text.splitlines() if line.startswith("| first backup throughput"))
    cells = [c.strip() for c in first.strip("|").split("|")]
    assert cells[2] == "450 (390–500)"  # ours: the median, then the lowest and highest
    assert cells[3] == "205 (200–210)"
    assert cells[4] == "2.25× (1.86–2.44)"  # 450/200, 390/210, 500/205
    assert cells[-1] == "**2 of 3 runs**"  # 390/210 fell short of 2×
    listing = next(line for line in text.splitlines() if line.startswith("| list the 10k"))
    assert listing.rstrip(" |").endswith("yes")  # 20.39–20.5 ms: met in all three
    assert "1.0–1.5, 1.5–2.0, 0.8–1.3" in text


def test_a_file_that_is_no_result_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": []}))
    assert spread.main([str(bad)]) == 2
    assert spread.main([str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("bench.spread: ") for line in err)
