"""The home scale: a generated home folder of N files, a year of daily snapshots, then thinning; what each cost
is at this N. `python -m bench.home --files 100000 [--days 365] [--tools timekeep,restic,borg]`.

Order: generate (bench/home_tree.py); first backup, then one day's churn and an incremental with a metadata
scan, every tool in turn (each tool's own command line, as bench/run.py runs them); then Timekeep alone, in
process, one snapshot a simulated day for `--days` days, each handed the day's changed paths as the agent's
watcher journal hands them (the metadata scan again on the second and the last day, to see it against history);
listing, find, index sizes; the coalescer after the year; check; rebuild-index. Snapshot times are a simulated
day apart, starting a day after the real first backup, through the clock the backup reads (see `simulated_day`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import home_tree
from bench.tools import TOOLS, Tool, ensure_installed, tree_bytes
from bench.tools import Timekeep as TimekeepTool

DAY_NS = 86_400 * 10**9
BROAD = "*.jpg"


class Results:
    """Rows of (measure, unit, {tool: value}) in the order measured, plus facts about the run."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, float]]] = []
        self.facts: dict[str, Any] = {}

    def add(self, measure: str, unit: str, values: dict[str, float]) -> None:
        self.rows.append((measure, unit, values))
        shown = ", ".join(f"{k} {figure(v)}" for k, v in values.items())
        print(f"  {measure}: {shown} {unit}", flush=True)

    def to_json(self) -> dict[str, Any]:
        return {"facts": self.facts, "rows": [{"measure": m, "unit": u, "values": v} for m, u, v in self.rows]}


def figure(value: float) -> str:
    """Three significant digits, whole numbers from 100 up (never 1.2e+03)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


@contextmanager
def simulated_day(at_ns: int) -> Iterator[None]:
    """Snapshots taken inside are dated `at_ns`: the backup's one wall-clock read (its start) is redirected.
    Everything else (the racy-file check, durations) keeps the real clock."""
    from timekeep.core.capture import backup as backup_module

    real = backup_module.time
    shim = types.SimpleNamespace(time_ns=lambda: at_ns, monotonic=time.monotonic, sleep=time.sleep)
    backup_module.time = shim  # type: ignore[assignment]
    try:
        yield
    finally:
        backup_module.time = real


def seconds(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    answer = work()
    return time.perf_counter() - started, answer


def wall_and_cpu(work: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds, and this process's CPU seconds (every thread's): the figure a shared machine's other work
    disturbs least."""
    cpu = time.process_time()
    took, _ = seconds(work)
    return took, time.process_time() - cpu


def median_ms(work: Callable[[], object], rounds: int = 5) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(rounds):
        took, answer = seconds(work)
        times.append(took * 1000)
    return statistics.median(times), answer


def first_listing(repo: Path, folder: bytes, snapshot_id: int) -> tuple[float, object]:
    """A folder's first listing in an opening, nothing checked before in this process (the opening and the
    repository's memo of listings would answer a second listing from memory): what a person meets on
    dragging to a T. (seconds, the entries)"""
    from timekeep.core.api import Timekeep
    from timekeep.core.index import listing

    listing.PROCESS_ROWS.forget()
    with Timekeep.open(repo) as tk:
        return seconds(lambda: tk.list_dir(folder, snapshot_id))


def median_first_ms(repo: Path, folder: bytes, snapshot_id: int, rounds: int = 5) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(rounds):
        took, answer = first_listing(repo, folder, snapshot_id)
        times.append(took * 1000)
    return statistics.median(times), answer


def peers_and_first(res: Results, tools: list[Tool], home: home_tree.Home, churn: home_tree.Churn) -> None:
    """First backup and one day's incremental (metadata scan), every tool by its own command line."""
    first, incr, cpu = {}, {}, {}
    for tool in tools:
        tool.init()
        run = tool.backup()
        first[tool.name], cpu[tool.name] = run.seconds, run.cpu_seconds
    res.add("first backup", "s", first)
    res.add("first backup, CPU (user + system)", "s", cpu)
    res.add("first backup, files per second", "files/s", {n: len(home.files) / s for n, s in first.items()})
    home_tree.day(home, churn)
    for tool in tools:
        incr[tool.name] = tool.backup().seconds
    res.add("incremental after one day's churn, metadata scan (CLI)", "s", incr)
    res.add("the same, per 1,000 files in the tree", "ms", {n: s * 1e6 / len(home.files) for n, s in incr.items()})
    res.add("repository size after two snapshots", "MiB", {t.name: t.repo_bytes() / 2**20 for t in tools})


def year(res: Results, tool: TimekeepTool, home: home_tree.Home, days: int, churn: home_tree.Churn) -> None:
    """One snapshot a simulated day, from the journal; a metadata scan on the second and the last day."""
    from timekeep.core.api import Timekeep

    root = os.fsencode(home.root)
    start = time.time_ns() + DAY_NS
    journal: list[float] = []
    scans: list[float] = []
    journal_cpu: list[float] = []
    scan_cpu: list[float] = []
    tree: list[int] = []  # files in the tree at each metadata scan (it grows by about ten a day)
    with tool.in_process(), Timekeep.open(tool.repo, writer=True) as tk:
        for d in range(days):
            changed = home_tree.day(home, churn)
            scan = d in (1, days - 1)
            dirty = None if scan else {root: changed}
            with simulated_day(start + d * DAY_NS):
                took, cpu = wall_and_cpu(lambda dirty=dirty: tk.backup("schedule", make_room=False, dirty=dirty,
                                                                       reread_racy=True))  # as the agent's
            (scans if scan else journal).append(took)
            (scan_cpu if scan else journal_cpu).append(cpu)
            if scan:
                tree.append(len(home.files))
            if (d + 1) % 50 == 0:
                print(f"  day {d + 1}/{days}: {took:.2f} s", flush=True)
    tenth = max(1, len(journal) // 10)
    res.add("incremental from the journal (the agent's path, in process): the first tenth of the year", "s",
            {"timekeep": statistics.median(journal[:tenth])})
    res.add("the same, the last tenth of the year", "s", {"timekeep": statistics.median(journal[-tenth:])})
    res.add("the same in CPU seconds, the first and the last tenth", "s",
            {"first": statistics.median(journal_cpu[:tenth]), "last": statistics.median(journal_cpu[-tenth:])})
    res.add(f"incremental, metadata scan (in process), day 2 ({tree[0]:,} files)", "s", {"timekeep": scans[0]})
    res.add(f"the same, day {days} ({tree[-1]:,} files)", "s", {"timekeep": scans[-1]})
    res.add("the same, per 1,000 files, day 2 and the last day", "ms",
            {"day 2": scans[0] * 1e6 / tree[0], "last day": scans[-1] * 1e6 / tree[-1]})
    res.add("the same in CPU ms per 1,000 files", "ms",
            {"day 2": scan_cpu[0] * 1e6 / tree[0], "last day": scan_cpu[-1] * 1e6 / tree[-1]})
    res.facts["last_snapshot_ns"] = start + (days - 1) * DAY_NS


def sizes(res: Results, tool: TimekeepTool) -> None:
    db = sqlite3.connect(f"file:{tool.repo / 'index.db'}?mode=ro", uri=True)
    (versions,) = db.execute("SELECT count(*) FROM version").fetchone()
    (snapshots,) = db.execute("SELECT count(*) FROM snapshot").fetchone()
    db.close()
    index = sum(p.stat().st_size for p in tool.repo.glob("index.db*"))
    manifests = tree_bytes(tool.repo / "snapshots")
    res.facts |= {"versions": versions, "snapshots": snapshots}
    res.add(f"index.db per file version ({versions:,} versions, {snapshots} snapshots)", "bytes",
            {"timekeep": index / versions})
    res.add("manifests on the drive (what rebuilds the index) per file version", "bytes",
            {"timekeep": manifests / versions})
    res.add("repository size after the year", "MiB", {"timekeep": tool.repo_bytes() / 2**20})


def browsing(res: Results, tool: TimekeepTool, home: home_tree.Home, when: str) -> None:
    """The camera folder listed at the oldest and the newest snapshot; a selective and a broad find."""
    from timekeep.core.api import Timekeep

    camera = os.fsencode(home.root / home_tree.CAMERA)
    selective = "*" + home.files[len(home.files) // 2].rsplit("-", 1)[-1].split(".")[0] + "*"  # one name's serial
    with tool.in_process(), Timekeep.open(tool.repo) as tk:
        snaps = tk.snapshots()
        for label, snap in (("oldest", snaps[0]), ("newest", snaps[-1])):
            ms, entries = median_first_ms(tool.repo, camera, snap.id)
            assert isinstance(entries, list)
            res.add(f"{when}: list the camera folder ({len(entries):,} entries) at the {label} T, in process",
                    "ms", {"timekeep": ms})
            res.add(f"the same, per 1,000 entries ({label})", "ms", {"timekeep": ms * 1000 / max(1, len(entries))})
        for label, pattern in (("selective", selective), ("broad", BROAD)):
            ms, _ = median_ms(lambda p=pattern: tk.find_first(p, 1000), rounds=3)
            res.add(f"{when}: find, first 1,000, {label} pattern {pattern}", "ms", {"timekeep": ms})
            ms, hits = median_ms(lambda p=pattern: tk.find(p), rounds=3)
            assert isinstance(hits, list)
            res.add(f"{when}: find, all ({len(hits):,} hits), {label} pattern {pattern}", "ms", {"timekeep": ms})


def thin(res: Results, tool: TimekeepTool, now_ns: int) -> None:
    """The coalescer after a year: the default retention, at the day after the last snapshot."""
    from timekeep.core.api import Timekeep

    with tool.in_process():
        with Timekeep.open(tool.repo, writer=True) as tk:
            took, report = seconds(lambda: tk.coalesce(now_ns=now_ns))
            dropped = len(report.snapshots_dropped)  # type: ignore[attr-defined]
            last_copy = len(report.snapshots_kept_for_last_copy)  # type: ignore[attr-defined]
            kept = len(tk.snapshots())
        res.facts |= {"dropped": dropped, "kept": kept, "kept_for_last_copy": last_copy}
        res.add(f"coalesce after the year: {dropped} snapshots dropped, {kept} kept ({last_copy} of them only for "
                "a file's last copy)", "s", {"timekeep": took})
        res.add("the same, per snapshot dropped", "ms", {"timekeep": took * 1000 / max(1, dropped)})


def check_and_rebuild(res: Results, tool: TimekeepTool) -> None:
    """`check` (index against packs and manifests, no data read), then the index rebuilt from the drive alone."""
    from timekeep.core.api import Timekeep, rebuild_index

    with tool.in_process():
        with Timekeep.open(tool.repo) as tk:
            took, check = seconds(tk.check)
        assert check.ok, check.problems  # type: ignore[attr-defined]
        res.add("check (index against packs and manifests)", "s", {"timekeep": took})
        took, _ = seconds(lambda: rebuild_index(tool.repo))
        res.add("rebuild-index from the drive", "s", {"timekeep": took})


def run(files: int, days: int, tool_names: list[str], work: Path, seed: int,
        churn: home_tree.Churn = home_tree.A_DAY) -> Results:
    res = Results()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    took, home = seconds(lambda: home_tree.generate(work / "data", files, seed))
    assert isinstance(home, home_tree.Home)
    res.facts |= {"files": files, "folders": len(home.folders), "bytes": home.bytes_written, "days": days,
                  "generate_s": round(took, 1), "load_began": os.getloadavg()[0], "cores": os.cpu_count()}
    print(f"generated {files:,} files in {len(home.folders):,} folders, {home.bytes_written / 1e6:,.0f} MB, "
          f"in {took:.0f} s", flush=True)
    tools = [TOOLS[n](work, home.root) for n in tool_names]
    peers_and_first(res, tools, home, churn)
    ours = next(t for t in tools if isinstance(t, TimekeepTool))
    for tool in tools:  # the peers' repositories are done with: give their room back
        if tool is not ours:
            shutil.rmtree(tool.repo, ignore_errors=True)
    browsing(res, ours, home, "after the first backup")
    year(res, ours, home, days, churn)
    sizes(res, ours)
    browsing(res, ours, home, "after the year")
    thin(res, ours, res.facts["last_snapshot_ns"] + DAY_NS)
    browsing(res, ours, home, "after thinning")
    check_and_rebuild(res, ours)
    browsing(res, ours, home, "after rebuild-index")
    res.facts["load_ended"] = os.getloadavg()[0]
    return res


def markdown(res: Results) -> str:
    f = res.facts
    lines = [f"Home scale: {f['files']:,} files in {f['folders']:,} folders ({f['bytes'] / 1e6:,.0f} MB), "
             f"{f['days']} daily snapshots; load average {f['load_began']:.1f} → {f['load_ended']:.1f} on "
             f"{f['cores']} cores.", "", "| measure | unit | values |", "|---|---|---|"]
    for measure, unit, values in res.rows:
        lines.append(f"| {measure} | {unit} | " + ", ".join(f"{k} {figure(v)}" for k, v in values.items()) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tools", default="timekeep,restic,borg")
    parser.add_argument("--small-days", action="store_true", help="a tenth of a day's churn (the smoke test)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--work", type=Path, default=Path("/tmp/timekeep-bench/home"))
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--keep", action="store_true", help="leave the tree and the repository for profiling")
    args = parser.parse_args(argv)
    wanted = args.tools.split(",")
    if "timekeep" not in wanted or any(n not in TOOLS for n in wanted):
        parser.error(f"--tools: timekeep and any of {', '.join(n for n in TOOLS if n != 'timekeep')}")
    if args.files < 100 or args.days < 3:
        parser.error("--files at least 100 and --days at least 3")
    churn = home_tree.SMALL_DAY if args.small_days else home_tree.A_DAY
    res = run(args.files, args.days, ensure_installed(wanted), args.work / str(args.files), args.seed, churn)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"latest-home-{args.files}"
    stem.with_suffix(".json").write_text(json.dumps(res.to_json(), indent=1))
    stem.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    if not args.keep:
        shutil.rmtree(args.work / str(args.files), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
