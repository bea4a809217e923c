"""The benchmark runner does not rot: its smoke scale runs end to end and writes its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run
from bench.tools import ensure_installed


@pytest.mark.slow
def test_smoke_benchmark_writes_a_side_by_side_table(tmp_path: Path) -> None:
    tools = ensure_installed(["timekeep", "restic", "borg"])
    code = run.main(["--scale", "smoke", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "out"),
                     "--tools", ",".join(tools)])
    assert code == 0
    report = json.loads((tmp_path / "out" / "latest-smoke.json").read_text())
    assert list(report["tools"]) == tools
    rows = {row["measure"]: row for row in report["rows"]}
    assert set(rows["first backup"]["values"]) == set(tools)
    assert rows["first backup throughput"]["values"]["timekeep"] > 0
    assert any(m.startswith("stored after: 100 bytes inserted") for m in rows)
    assert rows["list the 10k-entry folder, in process (GUI)"]["values"]["timekeep"] > 0
    thinned = next(row for measure, row in rows.items() if measure.startswith("thin history"))
    assert set(thinned["values"]) == set(tools) and all(v > 0 for v in thinned["values"].values())
    assert set(rows["repository size after thinning"]["values"]) == set(tools)
    assert "| measure |" in (tmp_path / "out" / "latest-smoke.md").read_text()
    assert report["limits"]["BLAKE3, 64 KiB chunks, 1 thread (MB/s)"] > 0
