"""The agent's parts on their own: protocol records, the job thread, settings, battery (install entries: see
test_agent_install.py)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.agent_support import short_runtime_dir
from timekeep.core.agent.config import add_destination, load_config, parse_config
from timekeep.core.agent.instance import AgentRunning, InstanceLock
from timekeep.core.agent.jobs import Job, JobRunner
from timekeep.core.agent.messages import (
    DestinationChanged,
    DestinationStatus,
    Event,
    FolderStatus,
    JobFinished,
    JobInfo,
    JobProgress,
    JobResult,
    JobStarted,
    Status,
    event_from,
)
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.agent.power import on_battery
from timekeep.core.agent.protocol import plan_from, plan_json, progress_from, progress_json
from timekeep.core.errors import BackupCancelled, StorageError, UsageError
from timekeep.core.types import CoalesceReport, FileError, Piece, Plan, Progress, SnapshotInfo


def test_plans_and_progress_survive_json_with_any_path() -> None:
    plan = Plan(b"/r/caf\xe9/\xff.bin", 7, "file", 10, 0o100644, 123, None,
                (Piece(0, 4, b"\x01" * 32, 0), Piece(4, 6, b"\x02" * 32, 16)))
    assert plan_from(json.loads(json.dumps(plan_json(plan)))) == plan
    progress = Progress("store", 1, 2, 3, 4, 0.5, b"/r/\xff")
    assert progress_from(json.loads(json.dumps(progress_json(progress)))) == progress


BACKUP = JobInfo(7, "backup", "/media/usb/Timekeep/laptop", "backup-now", "done")
STORED = JobResult(destination=BACKUP.destination, snapshot=SnapshotInfo(3, 1_764_000_000 * 10**9, "backup-now", 9, 2),
                   errors=(FileError(b"/home/ann/caf\xe9", "unreadable", "Permission denied"),), reconciled=4)


@pytest.mark.parametrize("event", [
    JobStarted(BACKUP),
    JobProgress(7, Progress("store", 1, 2, 3, 4, 0.5, b"/r/\xff")),
    JobFinished(BACKUP, STORED),
    JobFinished(BACKUP, replace(JobResult.failed("the backup drive is full", 4), destination=BACKUP.destination)),
    JobFinished(BACKUP, replace(JobResult.failed("cancelled", 130, cancelled=True), destination=BACKUP.destination)),
    JobFinished(JobInfo(8, "reconcile", "/d", "daily"), JobResult(destination="/d", journaled=12)),
    JobFinished(JobInfo(9, "coalesce", "/d", "daily"), JobResult(destination="/d", coalesced=CoalesceReport((1, 2)))),
    DestinationChanged("/d", False),
])
def test_events_read_back_as_they_were_sent(event: Event) -> None:
    assert event_from(json.loads(json.dumps(event.to_wire()))) == event


def test_a_finished_storage_time_keeps_the_fields_scripts_read() -> None:
    wire = JobFinished(BACKUP, STORED).to_wire()
    assert set(wire) == {"event", "job", "kind", "destination", "trigger", "state", "ok", "exit_code", "snapshot",
                         "errors", "skipped", "reconciled"}
    assert wire["snapshot"]["time"] == "2025-11-24T16:00:00Z" and wire["errors"][0]["path"] == "/home/ann/caf\udce9"
    assert event_from({"event": "something new", "job": 1}) is None  # a newer agent's event is passed over


def test_the_status_reads_back_and_says_whether_it_serves_a_repository() -> None:
    status = Status(41, "idle", False, None, None, BACKUP, "2025-11-24T16:00:00Z", None, None, None, "polling",
                    (DestinationStatus("/media/usb/Timekeep/laptop", True, snapshots=3, latest="2025-11-24T16:00:00Z"),
                     DestinationStatus("/media/old/Timekeep/laptop", False, "not mounted")),
                    (FolderStatus("/home/ann", True, True, None, ("/media/usb/Timekeep/laptop",)),), STORED)
    wire = json.loads(json.dumps(status.to_wire()))
    assert Status.from_wire(wire) == status
    assert wire["last_result"] == {k: v for k, v in JobFinished(BACKUP, STORED).to_wire().items()
                                   if k in ("destination", "snapshot", "errors", "skipped", "reconciled")}
    assert status.serves("/media/usb/Timekeep/laptop") and not status.serves("/media/old/Timekeep/laptop")
    assert not status.serves("/media/usb/Timekeep/other")
    assert status.destinations[0].latest_ns == 1_764_000_000 * 10**9


def run_jobs(execute: Any) -> tuple[JobRunner, list[Event]]:
    events: list[Event] = []
    runner = JobRunner(execute, events.append)
    runner.start()
    return runner, events


def test_jobs_run_in_order_and_report_how_they_ended() -> None:
    def execute(job: Job) -> JobResult:
        if job.trigger == "cancel-me":
            raise BackupCancelled("cancelled")
        if job.trigger == "drive-gone":
            raise StorageError("the drive went away")
        return JobResult(journaled=job.id)

    runner, events = run_jobs(execute)
    jobs = [runner.submit("backup", f"/d{i}", trigger) for i, trigger in
            enumerate(["interval", "cancel-me", "drive-gone"])]
    runner.stop(wait_s=10)
    assert [(j.result.ok, j.result.exit_code) for j in jobs] == [(True, 0), (False, 130), (False, 4)]
    assert jobs[1].result.cancelled and "went away" in jobs[2].result.error
    finished = [e for e in events if isinstance(e, JobFinished)]
    assert [e.job for e in finished] == [j.id for j in jobs]
    assert [e.to_wire()["exit_code"] for e in finished] == [0, 130, 4]  # what `timekeep backup` exits with


def test_a_waiting_job_is_not_queued_twice_and_stop_cancels_a_long_one() -> None:
    started = threading.Event()

    def execute(job: Job) -> JobResult:
        started.set()
        if job.cancel.wait(30):
            raise BackupCancelled("cancelled at shutdown")
        return JobResult()

    runner, _ = run_jobs(execute)
    running = runner.submit("backup", "/d", "interval")
    started.wait(10)
    queued = runner.submit("backup", "/d", "interval")
    assert runner.submit("backup", "/d", "backup-now", explicit=True) is queued and queued.explicit
    runner.stop(wait_s=0.2)
    assert running.result.cancelled and queued.result.cancelled


def test_settings(tmp_path: Path) -> None:
    config = parse_config({"destinations": ["/a"], "interval_minutes": 15, "clock_times": ["13:00"],
                           "back_up_on_battery": True}, extra="/b")
    assert config.destinations == (Path("/b"), Path("/a"))
    assert config.policy.interval_s == 900 and config.policy.on_battery
    with pytest.raises(UsageError, match="at least 5 minutes"):
        parse_config({"interval_minutes": 1})
    with pytest.raises(UsageError, match="no destination"):
        load_config(tmp_path / "agent.json")
    add_destination(tmp_path / "agent.json", "/x")
    add_destination(tmp_path / "agent.json", "/x")
    assert load_config(tmp_path / "agent.json").destinations == (Path("/x"),)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")


def supply(root: Path, name: str, **files: str) -> None:
    (root / name).mkdir(parents=True)
    for key, value in files.items():
        (root / name / key).write_text(value + "\n")


def test_battery(tmp_path: Path) -> None:
    assert on_battery(tmp_path / "none") is None
    supply(tmp_path / "laptop", "AC", type="Mains", online="0")
    supply(tmp_path / "laptop", "BAT0", type="Battery", status="Discharging")
    assert on_battery(tmp_path / "laptop") is True
    supply(tmp_path / "plugged", "AC", type="Mains", online="1")
    supply(tmp_path / "plugged", "BAT0", type="Battery", status="Charging")
    assert on_battery(tmp_path / "plugged") is False


def test_one_instance_lock(tmp_path: Path) -> None:
    first, second = InstanceLock(tmp_path / "lock"), InstanceLock(tmp_path / "lock")
    first.acquire()
    with pytest.raises(AgentRunning, match="already running"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_agent_paths_follow_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runtime = short_runtime_dir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    paths = AgentPaths.from_platform()
    assert paths.socket == runtime / "timekeep" / "agent.sock"
    assert paths.log_file.is_relative_to(os.environ["XDG_STATE_HOME"])  # never the real home in tests
    paths.ensure()
    assert paths.runtime.stat().st_mode & 0o777 == 0o700
    shutil.rmtree(runtime)
