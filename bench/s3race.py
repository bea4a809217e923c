"""The S3 race: Timekeep and restic on one dataset and one S3 server (rclone serve s3 on loopback), one after
the other in the same run. Measured: the first backup, the backup after one small file is touched, and
restores from the first snapshot (one small file, the disk image), each with the requests it made, by kind,
and the body bytes it sent or received, as the counting proxy in front of the server saw them.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench import dataset, limits
from bench.report import MIB, Report, Row
from bench.s3proxy import KINDS, Traffic
from bench.s3tools import traffic
from bench.tools import Tool

T = TypeVar("T")


def counted(report: Report, step: str, tool: Tool, command: Callable[[], T]) -> tuple[T, Traffic]:
    """Run `command` and return what it returns with the traffic it caused; its requests by kind go to the
    report."""
    before = traffic(tool)
    run = command()
    made = traffic(tool).since(before)
    report.requests.setdefault(step, {})[tool.name] = {k: made.requests[k] for k in KINDS if made.requests[k]}
    return run, made


def first_backups(report: Report, tools: list[Tool], size: int) -> None:
    seconds, cpu, peaks, sizes, requests, sent = {}, {}, {}, {}, {}, {}
    for tool in tools:
        dataset.read_every_file(tool.source)
        counted(report, "create the repository", tool, tool.init)
        run, made = counted(report, "first backup", tool, tool.backup)
        seconds[tool.name], cpu[tool.name], peaks[tool.name] = run.seconds, run.cpu_seconds, run.peak_mib
        sizes[tool.name], requests[tool.name], sent[tool.name] = tool.repo_bytes() / MIB, made.total, made.sent / MIB
        print(f"  first backup {tool.name}: {run.seconds:.1f} s, {made.total} requests", flush=True)
    report.add(Row("first backup", "s", seconds))
    report.add(Row("first backup throughput", "MB/s", {n: size / 1e6 / s for n, s in seconds.items()},
                   higher_is_better=True))
    report.add(Row("first backup, MB per CPU second (user + system)", "MB/s",
                   {n: size / 1e6 / s for n, s in cpu.items() if s > 0}, higher_is_better=True))
    report.add(Row("first backup: requests made", "requests", requests))
    report.add(Row("first backup: uploaded (request bodies)", "MiB", sent))
    report.add(Row("peak memory, first backup", "MiB", peaks))
    report.add(Row("repository size after first backup (the bucket)", "MiB", sizes))


def touched(report: Report, tools: list[Tool], source: Path, seed: int) -> None:
    what = dataset.touch_small_file(source, random.Random(seed))
    seconds, requests, sent, stored = {}, {}, {}, {}
    for tool in tools:
        before = tool.repo_bytes()
        run, made = counted(report, f"backup after: {what}", tool, tool.backup)
        seconds[tool.name], requests[tool.name], sent[tool.name] = run.seconds, made.total, made.sent / 1024
        stored[tool.name] = (tool.repo_bytes() - before) / 1024
    print(f"  {what}: " + ", ".join(f"{n} {s:.2f} s" for n, s in seconds.items()), flush=True)
    report.add(Row(f"backup after: {what}", "s", seconds))
    report.add(Row(f"backup after: {what}: requests made", "requests", requests))
    report.add(Row(f"backup after: {what}: uploaded (request bodies)", "KiB", sent))
    report.add(Row(f"stored after: {what}", "KiB", stored))


def restores(report: Report, tools: list[Tool], work: Path) -> None:
    restore(report, tools, work, "one small file", dataset.SMALL_FILE)
    restore(report, tools, work, "the disk image", dataset.IMAGE)


def restore(report: Report, tools: list[Tool], work: Path, label: str, relpath: str) -> None:
    """Each tool restores `relpath` from its first snapshot: seconds (MB/s for the image), requests, bytes."""
    step, unit = f"restore {label} (oldest snapshot)", "MB/s" if relpath == dataset.IMAGE else "s"
    figures, requests, received = {}, {}, {}
    for tool in tools:
        out = work / f"out-{tool.name}"
        run, made = counted(report, step, tool, lambda t=tool, o=out: t.restore_file(t.snapshots[0], relpath, o))
        check_restored(out, tool, relpath)
        shutil.rmtree(out, ignore_errors=True)
        size = (tool.source / relpath).stat().st_size
        figures[tool.name] = run.seconds if unit == "s" else size / 1e6 / run.seconds
        requests[tool.name], received[tool.name] = made.total, made.received / MIB
    print(f"  {step}: " + ", ".join(f"{n} {v:.3g} {unit}" for n, v in figures.items()), flush=True)
    report.add(Row(step, unit, figures, higher_is_better=unit == "MB/s"))
    report.add(Row(f"{step}: requests made", "requests", requests))
    report.add(Row(f"{step}: downloaded (response bodies)", "MiB", received))


def check_restored(out: Path, tool: Tool, relpath: str) -> None:
    """The restore gave back a file of that name (the disk image whole: it did not change since the first
    snapshot), so a tool that restored nothing cannot look fast."""
    name, source = Path(relpath).name, tool.source / relpath
    sizes = [p.stat().st_size for p in out.rglob(name) if p.is_file()]
    whole = relpath != dataset.IMAGE or source.stat().st_size in sizes
    if not sizes or not whole:
        raise RuntimeError(f"{tool.name} restored no {relpath} into {out} (sizes found: {sizes})")


def race(report: Report, tools: list[Tool], source: Path, work: Path, seed: int) -> None:
    """Every measure, in order, each tool in turn against the same server."""
    report.limits = limits.measure(source)
    first_backups(report, tools, report.dataset_bytes)
    touched(report, tools, source, seed)
    restores(report, tools, work)
