"""The agent's memory while it watches a home folder of N files (the issue's target: < 200 MiB at 1,000,000).
`python -m bench.agent_memory --files 1000000`.

The tree has the home scale's shape (bench/home_tree.py: N/20 folders, files by a Pareto weight, the camera
folder) but tiny files (`tiny=True`), since what the agent holds grows with names and folders, not bytes. The
first backup is the CLI's; then the real agent (`timekeep agent`, its own process and XDG folders) starts,
plans its watches and reconciles with a metadata scan; its resident memory (VmRSS, and VmHWM: the peak) is
read from /proc until it is idle, then again after a day's churn stored through it (`timekeep backup`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import home_tree
from bench.tools import Timekeep as TimekeepTool
from bench.tools import journaled


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


def idle(status: dict[str, Any]) -> bool:
    """No job queued or running, and every folder's watches planned."""
    folders = status.get("folders") or []
    assert isinstance(folders, list)
    return status.get("state") == "idle" and status.get("job") is None and bool(folders) and all(
        f.get("watched") or f.get("note") for f in folders)


def until_idle(tool: TimekeepTool, pid: int, timeout: float) -> tuple[float, dict[str, float]]:
    """Seconds until the agent is `idle` (looked at every 2 s, as a person's `status` would be: a status process
    ten times a second would weigh on the memory measured), or `timeout`."""
    started = time.monotonic()
    tool.agent_shows(idle, timeout, every=2)
    return time.monotonic() - started, memory_mib(pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--work", type=Path, default=Path("/tmp/timekeep-bench/agent-memory"))
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    work = args.work / str(args.files)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    home = home_tree.generate(work / "data", args.files, args.seed, tiny=True)
    print(f"generated {len(home.files):,} files in {len(home.folders):,} folders in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    tool = TimekeepTool(work, home.root)
    tool.init()
    first = tool.backup()
    print(f"first backup (CLI): {first.seconds:.0f} s, peak {first.peak_mib:.0f} MiB", flush=True)
    agent = tool.start_agent(timeout=600)
    try:
        took, idle = until_idle(tool, agent.pid, args.timeout)
        print(f"agent idle after {took:.0f} s (watches planned, start-up reconciliation done): "
              f"resident {idle['VmRSS']:.0f} MiB, peak {idle['VmHWM']:.0f} MiB", flush=True)
        print("folders:", json.dumps(tool.agent_status().get("folders")), flush=True)
        home_tree.day(home)
        if not tool.agent_shows(journaled, args.timeout):  # the backup below asks the agent, which stores the journal
            raise SystemExit("the agent journaled none of the day's changes")
        incr = tool.backup_via_agent()
        after = memory_mib(agent.pid)
        print(f"a day's churn stored through the agent in {incr.seconds:.1f} s: resident {after['VmRSS']:.0f} MiB, "
              f"peak {after['VmHWM']:.0f} MiB", flush=True)
    finally:
        agent.terminate()
        agent.wait(timeout=120)
        shutil.rmtree(tool.agent_env()["XDG_RUNTIME_DIR"], ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
