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


def until_idle(tool: TimekeepTool, pid: int, timeout: float) -> tuple[float, dict[str, float]]:
    """Seconds until the agent has no job queued or running (polled, as a person's `status` would be)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        time.sleep(2)
        now = tool.agent_status()
        folders = now.get("folders") or []
        assert isinstance(folders, list)
        if now.get("state") == "idle" and now.get("job") is None and folders and all(
                f.get("watched") or f.get("note") for f in folders):
            break
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
