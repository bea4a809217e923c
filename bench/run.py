"""Run the benchmark: one dataset, the tools side by side, one table. `python -m bench.run [--scale smoke]
[--encrypted | --s3]`.

Order of work, the same for every tool: first backup of the warm dataset; then each mutation is applied
once and every tool backs it up; then restores and listings from the first (oldest) snapshot.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from bench import dataset, limits, s3race
from bench.fresh_fs import NoFilesystem, fresh_ext4
from bench.report import MIB, OURS, OURS_ENCRYPTED, Report, Row
from bench.s3server import S3Server, ServerProblem
from bench.s3tools import S3_RACE, S3_TOOLS
from bench.tools import (
    ENCRYPTED,
    TOOLS,
    Run,
    TimekeepBefore,
    TimekeepEncrypted,
    Tool,
    ensure_installed,
    journaled,
    settled,
    tree_bytes,
)
from bench.tools import Timekeep as TimekeepTool
from timekeep.core.crypto import kdf

HERE = Path(__file__).parent
UNENCRYPTED = ("timekeep", "restic", "borg")
TREE_FOLDERS = (dataset.INBOX, "projects")  # the 20k-file tree: every file of the dataset but the two big ones


def prepare(work: Path, scale: dataset.Scale, seed: int) -> Path:
    source = work / "data"
    marker = work / f".dataset-{scale.name}-{seed}"
    if not marker.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"generating the {scale.name} dataset in {source} …", flush=True)
        dataset.generate(source, scale, seed)
        marker.touch()
    for leftover in [*work.glob("repo-*"), *work.glob("cache-*"), *work.glob("s3")]:
        shutil.rmtree(leftover)
    return source


def first_backups(report: Report, tools: list[Tool], size: int) -> None:
    """Each tool's first backup twice, into a repository made anew each time: the tools in one order, then in the
    other, as the restores are. Whoever went first was 10-25% faster, in wall time and in CPU per byte, in every
    run that raced one Timekeep beside another (ours always went first: bench/README.md, "First backups in both
    orders"). A tool's time and CPU are its faster run's; its peak memory the higher of the two."""
    runs: dict[str, list[Run]] = {tool.name: [] for tool in tools}
    for order in (tools, tools[::-1]):
        for tool in order:
            tool.anew()
            os.sync()  # the dataset just written (or the tool before) leaves writeback that would slow the next
            dataset.read_every_file(tool.source)
            tool.init()
            run = tool.backup()
            runs[tool.name].append(run)
            print(f"  first backup {tool.name}: {run.seconds:.1f} s, {run.cpu_seconds:.1f} s CPU", flush=True)
    seconds, cpu, peaks, sizes = {}, {}, {}, {}
    for tool in tools:
        best = min(runs[tool.name], key=lambda r: r.seconds)
        seconds[tool.name], cpu[tool.name] = best.seconds, best.cpu_seconds
        peaks[tool.name] = max(r.peak_mib for r in runs[tool.name])
        sizes[tool.name] = tool.repo_bytes() / MIB
    report.add(Row("first backup", "s", seconds))
    throughput = report.add(Row("first backup throughput", "MB/s", {n: size / 1e6 / s for n, s in seconds.items()},
                                higher_is_better=True))
    per_cpu = report.add(Row("first backup, MB per CPU second (user + system)", "MB/s",
                             {n: size / 1e6 / s for n, s in cpu.items() if s > 0}, higher_is_better=True))
    limit = report.limits.get(limits.PIPELINE_LIMIT)
    if limit:  # what the machine's two cores could chunk, hash and compress, measured in this run
        report.add(Row("first backup throughput, share of the two-core pipeline limit", "%",
                       {n: 100 * size / 1e6 / s / limit for n, s in seconds.items() if n.startswith(OURS)},
                       higher_is_better=True))
    report.add(Row("peak memory, first backup", "MiB", peaks))
    report.add(Row("repository size after first backup", "MiB", sizes))
    encryption_cost(report, throughput, per_cpu, tools, size / 1e6)


def encryption_cost(report: Report, throughput: Row, per_cpu: Row, tools: list[Tool], size: float) -> None:
    """What encryption costs our first backup against our own unencrypted mode (the bound: at most 10% of
    throughput), and the unlock every encrypted command begins with."""
    encrypted = next((t for t in tools if isinstance(t, TimekeepEncrypted)), None)
    if encrypted is None:
        return
    unlock = statistics.median(encrypted.unlock_seconds() for _ in range(3))
    report.add(Row("unlocking the key (Argon2id at init's cost), inside every encrypted command", "s",
                   {OURS_ENCRYPTED: unlock}))
    ratio, cpu_ratio = throughput.encryption_cost(), per_cpu.encryption_cost()
    if ratio is not None:
        report.add(Row("encryption's cost: first backup throughput, encrypted / unencrypted", "×",
                       {OURS_ENCRYPTED: ratio}, higher_is_better=True, target="≥ 0.90×"))
        # the same, less the one unlock the command began with: what encryption costs per byte
        seconds = {OURS: size / throughput.values[OURS], OURS_ENCRYPTED: size / throughput.values[OURS_ENCRYPTED]}
        report.add(Row("encryption's cost: the same, less the unlock", "×",
                       {OURS_ENCRYPTED: seconds[OURS] / max(seconds[OURS_ENCRYPTED] - unlock, 1e-9)},
                       higher_is_better=True))
    if cpu_ratio is not None:
        report.add(Row("encryption's cost: first backup MB per CPU second, encrypted / unencrypted", "×",
                       {OURS_ENCRYPTED: cpu_ratio}, higher_is_better=True))


TOUCHED_ROUNDS = 3  # the touched file's row is a few tenths of a second: one sample moves by 10-15% run to run


def incrementals(report: Report, tools: list[Tool], source: Path, seed: int) -> None:
    """Each change, then every tool's backup of it, every round from another tool. The one touched file is changed
    and backed up TOUCHED_ROUNDS times, and each tool's median is its figure (as the agent row's)."""
    rnd = random.Random(seed)
    turn = 0
    for mutate in dataset.MUTATIONS:
        rounds = TOUCHED_ROUNDS if mutate is dataset.touch_small_file else 1
        seconds: dict[str, list[float]] = {t.name: [] for t in tools}
        stored: dict[str, list[float]] = {t.name: [] for t in tools}
        for _ in range(rounds):
            what = mutate(source, rnd)
            first = turn % len(tools)  # each round begins with another tool
            turn += 1
            for tool in tools[first:] + tools[:first]:
                # every tool starts from a warm page cache, as for the first backups: borg drops the files it reads
                # from the cache (its chunker's posix_fadvise DONTNEED), so the tool after it read the changed image
                # from the disk (0.6-1.9 s more; it was always ours: bench/README.md, "Start-up, second pass")
                dataset.read_every_file(source)
                before = tool.repo_bytes()
                os.sync()  # as before a first backup: the tool before (or its first backup) leaves writeback behind
                run = tool.backup()
                seconds[tool.name].append(run.seconds)
                stored[tool.name].append((tool.repo_bytes() - before) / 1024)
        print(f"  {what}: " + ", ".join(f"{n} " + " / ".join(f"{s:.2f}" for s in ss) + " s"
                                        for n, ss in seconds.items()), flush=True)
        report.add(Row(f"backup after: {what}", "s", {n: statistics.median(ss) for n, ss in seconds.items()}))
        report.add(Row(f"stored after: {what}", "KiB", {n: statistics.median(ss) for n, ss in stored.items()}))


def with_agent(report: Report, tool: Tool, peers_touched: dict[str, float]) -> None:
    """One touched file again, with the agent running: its journal replaces the metadata scan."""
    assert isinstance(tool, TimekeepTool)
    agent = tool.start_agent()
    try:
        if not tool.agent_shows(settled):
            raise RuntimeError("the Timekeep agent did not connect its destination and reconcile it")
        timings = []
        for _ in range(3):
            dataset.touch_small_file(tool.source, random.Random(0))
            if not tool.agent_shows(journaled):
                raise RuntimeError("the Timekeep agent did not journal the touched file")
            timings.append(tool.backup_via_agent().seconds)
    finally:
        agent.terminate()
        agent.wait(timeout=60)
        shutil.rmtree(tool.agent_env()["XDG_RUNTIME_DIR"], ignore_errors=True)
    values = {"timekeep": statistics.median(timings), **peers_touched}
    report.add(Row("backup after: one small file touched, agent running (peers: no agent)", "s", values))
    print(f"  one small file touched, agent running: timekeep {values['timekeep']:.2f} s", flush=True)


def restores_and_listing(report: Report, tools: list[Tool], work: Path) -> None:
    small, listing = {}, {}
    for tool in tools:
        oldest = tool.snapshots[0]
        small[tool.name] = tool.restore_file(oldest, dataset.SMALL_FILE, work / f"out-{tool.name}-small").seconds
        listing[tool.name] = statistics.median(tool.list_dir(oldest, dataset.INBOX).seconds for _ in range(3))
        for out in work.glob(f"out-{tool.name}-*"):
            shutil.rmtree(out)
    report.add(Row("restore one small file (oldest snapshot)", "s", small))
    image = restored_twice(tools, work, [dataset.IMAGE])
    size = (tools[0].source / dataset.IMAGE).stat().st_size
    report.add(Row("restore the disk image (oldest snapshot)", "MB/s",  # best of two: see restored_twice
                   {n: size / 1e6 / run.seconds for n, run in image.items()}, higher_is_better=True))
    tree = restored_twice(tools, work, list(TREE_FOLDERS))
    report.add(Row("restore the 20k-file tree (its two folders; best of two, each tool once early and once late)",
                   "s", {n: run.seconds for n, run in tree.items()}))
    report.add(Row("restore the 20k-file tree, CPU seconds (user + system)", "s",
                   {n: run.cpu_seconds for n, run in tree.items()}))
    try:
        journaled_tree = restored_twice(tools, work, list(TREE_FOLDERS), fresh=True)
    except NoFilesystem as err:
        print(f"  the tree into a new journaled ext4: left out ({err})", flush=True)
    else:
        report.add(Row("restore the 20k-file tree into a new journaled ext4 (loop device; best of two)", "s",
                       {n: run.seconds for n, run in journaled_tree.items()}))
        report.add(Row("restore the 20k-file tree into a new journaled ext4, CPU seconds (user + system)", "s",
                       {n: run.cpu_seconds for n, run in journaled_tree.items()}))
    report.add(Row("list the 10k-entry folder at the oldest snapshot (CLI)", "s", listing))


def restored_twice(tools: list[Tool], work: Path, relpaths: list[str], fresh: bool = False) -> dict[str, Run]:
    """Each tool restores `relpaths` from the oldest snapshot twice, the tools in one order and then in the
    other, after `sync` each time: restoring gigabytes right after another tool's writes waits on the kernel's
    writeback of them, so the order alone would decide the row. The faster of each tool's two runs, its time
    and CPU summed over the paths. One untimed run by the last tool comes first, so that every timed run
    follows the removal of another run's output: a filesystem writes its next files slower after a mass
    deletion (ext4 without a journal looks through the inodes it just freed), and without it the first tool's
    first run was the only one spared. With `fresh`, each run restores into a new journaled ext4 of its own
    (fresh_fs.py), and no untimed run is needed."""
    best: dict[str, Run] = {}
    holds = sum(tree_bytes(tools[0].source / rel) if (tools[0].source / rel).is_dir()
                else (tools[0].source / rel).stat().st_size for rel in relpaths) if fresh else 0
    for counted, order in ((False, [] if fresh else [tools[-1]]), (True, tools), (True, tools[::-1])):
        for tool in order:
            out = work / f"out-{tool.name}-restore"
            shutil.rmtree(out, ignore_errors=True)
            os.sync()
            with fresh_ext4(out, holds) if fresh else nullcontext(out):
                runs = [tool.restore_file(tool.snapshots[0], rel, out / str(n)) for n, rel in enumerate(relpaths)]
            if not fresh:
                shutil.rmtree(out)
            if not counted:
                continue  # only what the untimed run leaves behind counts
            run = Run(sum(r.seconds for r in runs), max(r.peak_mib for r in runs), "",
                      sum(r.cpu_seconds for r in runs))
            if tool.name not in best or run.seconds < best[tool.name].seconds:
                best[tool.name] = run
    return best


def thinning(report: Report, tools: list[Tool]) -> None:
    """Drop every snapshot but the first and the last, and give the space back: the coalescer's work."""
    seconds, sizes = {}, {}
    for tool in tools:
        middle = tool.snapshots[1:-1]
        seconds[tool.name] = tool.thin(middle)
        sizes[tool.name] = tool.repo_bytes() / MIB
        print(f"  thin {len(middle)} snapshots {tool.name}: {seconds[tool.name]:.2f} s", flush=True)
    count = len(tools[0].snapshots) - 2
    report.add(Row(f"thin history: drop the {count} middle snapshots and free their space", "s", seconds))
    report.add(Row("repository size after thinning", "MiB", sizes))


# A fresh process's first listing (the window's first look at a folder): open, unlock, list once, print the ms.
FIRST_LISTING = """
import os, sys, time
from timekeep.core.api import Timekeep, unlock
unlock(sys.argv[1], interactive=False)
with Timekeep.open(sys.argv[1]) as tk:
    started = time.perf_counter()
    entries = tk.list_dir(os.fsencode(sys.argv[2]), int(sys.argv[3]))
    print((time.perf_counter() - started) * 1000, len(entries))
"""


def in_process_listing(report: Report, tools: list[TimekeepTool]) -> None:
    """The GUI's case: the query inside an open (and unlocked) repository, no process start. Two rows: the first
    listing in a fresh process (every row read and checked against its seal), which the target holds, and the
    first listing after the repository is opened again in a process that listed it before (checked rows are
    kept for the process while the index's sealed rows stand: core/index/generation.py)."""
    from timekeep.core.api import Timekeep

    first, reopened = {}, {}
    for tool in tools:
        path = tool.source / dataset.INBOX
        fresh = []
        for _ in range(5):
            done = subprocess.run([tool.python, "-c", FIRST_LISTING, str(tool.repo), str(path), tool.snapshots[0]],
                                  capture_output=True, text=True, check=True, env={**os.environ, **tool.env})
            ms, count = done.stdout.split()
            assert int(count) >= 10 or int(count) == 0
            fresh.append(float(ms))
        first[tool.name] = statistics.median(fresh)
        timings = []
        for _ in range(5):
            with tool.in_process(), Timekeep.open(tool.repo) as tk:
                started = time.perf_counter()
                tk.list_dir(os.fsencode(path), int(tool.snapshots[0]))
                timings.append((time.perf_counter() - started) * 1000)
        reopened[tool.name] = statistics.median(timings[1:])
    report.add(Row("list the 10k-entry folder, in process, first in the process (GUI)", "ms", first))
    report.add(Row("list the 10k-entry folder, in process, again after reopening (GUI)", "ms", reopened))


# Issue 15's targets, by row (the first, most specific prefix decides): what the row must show, and the test of
# (ratio to the better peer, our own figure). Ratios are "better than the faster peer" by that factor.
TARGETS: dict[str, tuple[str, Callable[[float | None, float], bool]]] = {
    "first backup throughput, share": ("≥ 60%", lambda r, v: v >= 60),
    "first backup throughput": ("≥ 2×", lambda r, v: r is not None and r >= 2),
    "peak memory, first backup": ("< 128 MiB", lambda r, v: v < 128),
    "repository size": ("within 2% of the smaller", lambda r, v: r is not None and r >= 1 / 1.02),
    "backup after: one small file touched, agent": ("≥ 20×", lambda r, v: r is not None and r >= 20),
    "backup after: one small file touched": ("≥ 5×", lambda r, v: r is not None and r >= 5),
    "stored after: 1 MiB overwritten": ("≤ peers, < 2048 KiB", lambda r, v: r is not None and r >= 1 and v < 2048),
    "backup after: 1 MiB overwritten": ("≥ 1.0×", lambda r, v: r is not None and r >= 1),
    "stored after: 100 bytes inserted": ("< 512 KiB", lambda r, v: v < 512),
    "restore the disk image": ("≥ 2×", lambda r, v: r is not None and r >= 2),
    "restore the 20k-file tree (": ("≥ 2×", lambda r, v: r is not None and r >= 2),
    "restore the 20k-file tree into a new journaled ext4 (": ("≥ 2×", lambda r, v: r is not None and r >= 2),
    "list the 10k-entry folder, in process, first": ("< 25 ms", lambda r, v: v < 25),
    "list the 10k-entry folder, in process, again": ("< 25 ms", lambda r, v: v < 25),
    "list the 10k-entry folder": ("> 1.0×", lambda r, v: r is not None and r > 1),
    "thin history": ("≥ 1.0×", lambda r, v: r is not None and r >= 1),
}


def judge(report: Report) -> None:
    """Mark each target met or not, from this run's figures alone."""
    for row in report.rows:
        if row.target == "≥ 0.90×":  # encryption's cost: our encrypted mode against our unencrypted one
            row.met = row.values[OURS_ENCRYPTED] >= 0.90
            continue
        ours = row.values.get(OURS)
        for prefix, (target, test) in TARGETS.items():
            if row.measure.startswith(prefix):
                row.target, row.met = target, None if ours is None else test(row.ratio(), ours)
                break


def compile_sources(python: str) -> None:
    """Timekeep's modules compiled as an installed app has them: a checkout run with PYTHONDONTWRITEBYTECODE
    (as CI and these machines set it) would otherwise compile every source in every timed command (0.1 s)."""
    found = subprocess.run([python, "-c", "import timekeep.core, timekeep.gui; print(timekeep.core.__path__[0]); "
                            "print(timekeep.gui.__path__[0])"], capture_output=True, text=True, check=False)
    for folder in found.stdout.split():
        subprocess.run([python, "-m", "compileall", "-q", folder], capture_output=True, check=False)


def room_problem(work: Path, scale: dataset.Scale, tools: int) -> str | None:
    """Why the run would not fit on the work folder's disk (it is shared: filling it fails other work too)."""
    existing = next((p for p in (work, *work.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free + sum(dataset.dataset_bytes(p) for p in [*work.glob("repo-*"),
                                                                                     *work.glob("s3")])
    needed = dataset.room_needed(scale, tools) - (scale.approx_bytes if (work / "data").exists() else 0)
    if free >= needed:
        return None
    return (f"the {scale.name} scale with {tools} tools needs about {needed / 2**30:.1f} GiB free in {existing}, "
            f"which has {free / 2**30:.1f} GiB: free some room, choose --work elsewhere, fewer --tools or "
            "--scale medium")


def make_tool(name: str, work: Path, source: Path, argon2: str) -> Tool:
    if name == OURS_ENCRYPTED:
        return TimekeepEncrypted(work, source, kdf.TEST_PARAMS if argon2 == "least" else None)
    return TOOLS[name](work, source)


def race(report: Report, tools: list[Tool], source: Path, work: Path, seed: int) -> None:
    """Every measure, in order, each tool in turn; then the targets judged."""
    report.limits = limits.measure(source)
    first_backups(report, tools, report.dataset_bytes)
    incrementals(report, tools, source, seed)
    ours = [t for t in tools if isinstance(t, TimekeepTool) and not isinstance(t, TimekeepBefore)]  # in process: ours
    plain = next((t for t in ours if t.name == OURS), None)
    if plain is not None:  # the agent cannot open an encrypted repository yet
        touched = next(r for r in report.rows if r.measure == "backup after: one small file touched")
        with_agent(report, plain, {n: v for n, v in touched.values.items() if not n.startswith(OURS)})
    restores_and_listing(report, tools, work)
    if ours:
        in_process_listing(report, ours)
    thinning(report, tools)
    judge(report)


def main(argv: list[str] | None = None) -> int:
    args, parser = parse(argv)
    scale = dataset.SCALES[args.scale]
    wanted = args.tools.split(",") if args.tools else list(
        S3_RACE if args.s3 else ENCRYPTED if args.encrypted else UNENCRYPTED)
    unknown = [n for n in wanted if n not in TOOLS and n not in S3_TOOLS]
    if unknown:
        parser.error(f"unknown tool {unknown[0]!r}: choose from {', '.join([*TOOLS, *S3_TOOLS])}")
    on_s3 = {n in S3_TOOLS for n in wanted}
    if len(on_s3) > 1:
        parser.error(f"the S3 tools ({', '.join(S3_TOOLS)}) race only one another: run them with --s3")
    names = ensure_installed(wanted)
    work = args.work / scale.name
    problem = room_problem(work, scale, len(names))
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 1
    source = prepare(work, scale, args.seed)
    for python in [sys.executable, *([args.before] if args.before else [])]:
        compile_sources(python)
    began = os.getloadavg()[0]
    try:
        report = (run_s3 if True in on_s3 else run_local)(args, names, work, source)
    except ServerProblem as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    report.load = {"began": began, "ended": os.getloadavg()[0], "cores": float(os.cpu_count() or 0)}
    stem = f"latest-{scale.name}" + ("-s3" if True in on_s3 else "-encrypted" if OURS_ENCRYPTED in names else "")
    if True in on_s3 and args.s3_latency:
        stem += f"-{args.s3_latency:g}ms"
        report.latency_ms = args.s3_latency
    _, md = report.write(args.results, stem)
    print(report.markdown())
    print(f"written: {md}")
    # the mutations changed the dataset: the next run generates it afresh
    (work / f".dataset-{scale.name}-{args.seed}").unlink(missing_ok=True)
    return 0


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(dataset.SCALES), default="full")
    parser.add_argument("--work", type=Path, default=Path("/tmp/timekeep-bench"))
    parser.add_argument("--tools", help=f"a comma-separated list of {', '.join(TOOLS)}, or of {', '.join(S3_TOOLS)} "
                        "(default: " + ",".join(UNENCRYPTED) + "; with --encrypted: " + ",".join(ENCRYPTED) +
                        "; with --s3: " + ",".join(S3_RACE) + ")")
    races = parser.add_mutually_exclusive_group()
    races.add_argument("--encrypted", action="store_true",
                       help="the encrypted race: Timekeep encrypted and unencrypted, restic, borg repokey-blake2")
    races.add_argument("--s3", action="store_true",
                       help="the S3 race: Timekeep (encrypted, and plain) and restic against one local S3 server")
    parser.add_argument("--s3-latency", type=float, default=0.0, metavar="MS",
                        help="the S3 race: delay every request by MS milliseconds, a distant server's round trip")
    parser.add_argument("--argon2", choices=("tuned", "least"), default="tuned",
                        help="Timekeep's key slot cost: tuned by init as a user's is, or the least (smoke tests)")
    parser.add_argument("--before", metavar="PYTHON",
                        help="also race `timekeep-before`: the Timekeep installed for this interpreter (another "
                        "checkout's venv), interleaved with this one in every row")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    return parser.parse_args(argv), parser


def run_local(args: argparse.Namespace, names: list[str], work: Path, source: Path) -> Report:
    """The race on this computer's disk: every tool's repository a folder beside the dataset."""
    tools = [make_tool(n, work, source, args.argon2) for n in names]
    if args.before:
        tools.insert(1, TimekeepBefore(work, source, args.before))
    report = Report(args.scale, dataset.dataset_bytes(source), {t.name: t.version() for t in tools})
    race(report, tools, source, work, args.seed)
    return report


def run_s3(args: argparse.Namespace, names: list[str], work: Path, source: Path) -> Report:
    """The S3 race: one local S3 server, a bucket per tool, every request counted."""
    with S3Server(work / "s3", names, args.s3_latency / 1000) as server:
        argon2 = kdf.TEST_PARAMS if args.argon2 == "least" else None
        tools = [S3_TOOLS[n](work, source, server, argon2) for n in names]
        report = Report(args.scale, dataset.dataset_bytes(source), {t.name: t.version() for t in tools})
        s3race.race(report, tools, source, work, args.seed)
    return report


if __name__ == "__main__":
    sys.exit(main())
