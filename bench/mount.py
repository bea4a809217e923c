"""History through a mount: `timekeep mount` beside `restic mount` and `borg mount` on the same data, each
backed up once by its tool and read through its snapshot's own folder. Rows: mounting, listing a folder of
10,000 files with their attributes (`ls -l`'s work: the first time, then again), opening a file and reading
its first 4 KiB (median over 200 files), and reading a big file from start to end. Prints one table;
bench/README.md ("Browsing through a mount") keeps the figures.

    .venv/bin/python -m bench.mount [--files 10000] [--big-mib 256] [--tools timekeep,restic,borg]

restic 0.14 and borg 1.2 mount through libfuse as we do (borg needs Debian's python3-llfuse).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.tools import Borg, Restic, Timekeep, Tool

WORK = Path("/tmp/timekeep-bench-mount")
BLOCK = 1 << 20


def make_data(root: Path, files: int, big_mib: int, seed: int = 2026) -> None:
    """`inbox/` of `files` notes (1–4 KiB of text) and `big.bin` (half text, half random), once."""
    if (root / "big.bin").exists() and len(os.listdir(root / "inbox")) == files:
        return
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randrange(3, 9))) for _ in range(500)]
    (root / "inbox").mkdir(parents=True)
    for i in range(files):
        text = b" ".join(rng.choices(words, k=rng.randrange(150, 600)))
        (root / "inbox" / f"note-{i:05d}.txt").write_bytes(text)
    with open(root / "big.bin", "wb") as out:
        for i in range(big_mib):
            out.write(b" ".join(rng.choices(words, k=180000))[:BLOCK] if i % 2 == 0 else rng.randbytes(BLOCK))


class Mounted:
    """One tool's mount: how to start it, where the data is inside it, how to end it."""

    def __init__(self, tool: Tool, mountpoint: Path) -> None:
        self.tool, self.mountpoint = tool, mountpoint
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Path:
        """Mount; the data folder inside, once it can be listed."""
        env = {**os.environ, **self.tool.env}
        source = str(self.tool.source).lstrip("/")
        if isinstance(self.tool, Timekeep):
            env |= self.tool.agent_env()
            subprocess.run(self.tool._cli("mount", str(self.mountpoint)), env=env, check=True, capture_output=True)
            inside = self._snapshot("by-time") / source
        elif isinstance(self.tool, Restic):
            self.process = subprocess.Popen(["restic", "--repo", self.tool.location, "mount", str(self.mountpoint)],
                                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            inside = self._snapshot("snapshots") / source
        else:
            subprocess.run(["borg", "mount", str(self.tool.repo), str(self.mountpoint)], env=env, check=True,
                           capture_output=True)
            inside = self.mountpoint / self.tool.snapshots[-1] / source
        deadline = time.monotonic() + 120
        while not inside.is_dir():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.tool.name}'s mount did not show {inside}")
            time.sleep(0.05)
        return inside

    def _snapshot(self, top: str) -> Path:
        """The snapshot's own folder (not `latest`, a link both resolve on every lookup), once it is there."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                found = [n for n in os.listdir(self.mountpoint / top) if n != "latest"]
                if found:
                    return self.mountpoint / top / found[-1]
            time.sleep(0.05)
        raise RuntimeError(f"{self.tool.name}'s mount shows no snapshot")

    def stop(self) -> None:
        env = {**os.environ, **self.tool.env}
        if isinstance(self.tool, Timekeep):
            subprocess.run(self.tool._cli("unmount", str(self.mountpoint)), env=env | self.tool.agent_env(),
                           check=False, capture_output=True)
        elif isinstance(self.tool, Borg):
            subprocess.run(["borg", "umount", str(self.mountpoint)], env=env, check=False, capture_output=True)
        else:
            subprocess.run(["fusermount3", "-u", str(self.mountpoint)], check=False, capture_output=True)
        if self.process is not None:
            self.process.wait(timeout=60)


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def list_with_attributes(folder: Path) -> int:
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if e.stat(follow_symlinks=False).st_size >= 0)


def first_bytes(files: list[Path]) -> float:
    """Median milliseconds to open a file and read its first 4 KiB."""
    times = []
    for path in files:
        started = time.perf_counter()
        with open(path, "rb") as fh:
            fh.read(4096)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def read_whole(path: Path) -> int:
    done = 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(BLOCK):
            done += len(chunk)
    return done


def measure(tool: Tool, mountpoint: Path, files: int) -> dict[str, float]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    mount = Mounted(tool, mountpoint)
    started = time.perf_counter()
    inside = mount.start()
    row = {"mount_s": time.perf_counter() - started}
    try:
        inbox = inside / "inbox"
        row["list_cold_s"] = seconds(lambda: list_with_attributes(inbox))
        row["list_warm_s"] = seconds(lambda: list_with_attributes(inbox))
        picked = random.Random(7).sample(sorted(os.listdir(inbox)), min(200, files))
        row["open_ms"] = first_bytes([inbox / name for name in picked])
        size = (inside / "big.bin").stat().st_size
        row["read_mib_s"] = size / BLOCK / seconds(lambda: read_whole(inside / "big.bin"))
    finally:
        mount.stop()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.mount", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--tools", default="timekeep,restic,borg")
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    data = args.work / "data"
    make_data(data, args.files, args.big_mib)
    classes = {"timekeep": Timekeep, "restic": Restic, "borg": Borg}
    rows: dict[str, dict[str, float]] = {}
    for name in args.tools.split(","):
        tool = classes[name](args.work, data)
        tool.anew()
        tool.init()
        tool.backup()
        rows[name] = measure(tool, args.work / f"mnt-{name}", args.files)
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[name].items()), file=sys.stderr, flush=True)
    print(table(rows))
    return 0


def table(rows: dict[str, dict[str, float]]) -> str:
    heads = {"mount_s": "mount (s)", "list_cold_s": "ls -l 10k, first (s)", "list_warm_s": "ls -l 10k, again (s)",
             "open_ms": "open + 4 KiB (ms, median)", "read_mib_s": "read big file (MiB/s)"}
    lines = ["| row | " + " | ".join(rows) + " |", "|---|" + "---:|" * len(rows)]
    for key, head in heads.items():
        lines.append(f"| {head} | " + " | ".join(f"{r[key]:.3f}" for r in rows.values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
