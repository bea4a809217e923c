"""kill -9 at random moments of `rebuild-index`, `coalesce` and `restore --overwrite` (issue 9).

Each command runs as `python -m timekeep.core.cli.main` and is killed once it has written a seeded random share of
what an uninterrupted run writes (its `wchar` in /proc/PID/io: progress, not wall time). Afterwards a person
runs `timekeep backup` (and `rebuild-index` first if told to): it must succeed, every snapshot must restore
byte-exact as it was taken, `check --read-data` must be clean, and no manifest or pack that existed may have
been overwritten (a killed thinning may only have done part of what an undamaged one does). A killed
`rebuild-index` never leaves a partial index that `check` calls healthy; a killed `restore --overwrite` leaves
each file old or new, never empty or torn, and the next restore leaves no `.restoring` temporary behind.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import depth
from tests.damage_support import (
    DROP,
    Findings,
    History,
    build_history,
    data_files,
    drive_broken,
    index_snapshot_ids,
    keep_index_locally,
    manifest_id,
    timekeep,
)
from tests.helpers import Tree, child_env, read_tree
from tests.treeops import tree_diff

ROOT = Path(__file__).resolve().parent.parent
RUNS = 4  # per command in the quick loop; SLOW_RUNS under `slow`
SLOW_RUNS = depth.runs(16, 6)  # every seeded run with TIMEKEEP_FULL_LOOPS=1
COMMANDS = ("rebuild-index", "coalesce", "restore-overwrite")
# The writers of the sealed drive and the local index, and the restore that writes over a person's files: two
# kills of that one, where what differs from the plain run (four kills) is only how the frames are read
ENCRYPTED_RUNS = {"rebuild-index": RUNS, "coalesce": RUNS, "restore-overwrite": 2}
ENCRYPTED_COMMANDS = tuple(ENCRYPTED_RUNS)
SEEDS = {"rebuild-index": 91, "coalesce": 92, "restore-overwrite": 93}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(autouse=True)
def private_runtime(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`backup` first asks a running agent: none of this machine's may answer."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))


# --- a command in a process of its own, killed part way ---------------------------------------------------------


def spawn(repo: Path, args: list[str]) -> subprocess.Popen[bytes]:
    env = child_env(PYTHONDONTWRITEBYTECODE="1")  # an encrypted history's child unlocks with its passphrase
    return subprocess.Popen([sys.executable, "-m", "timekeep.core.cli.main", *args, "--repo", str(repo)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def written(pid: int) -> int | None:
    """Bytes the process has written so far (any file), or None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/io") as fh:
            fields = dict(line.split(": ") for line in fh.read().splitlines())
        return int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return None


def pause(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait on the process itself for up to `seconds`; True once it has ended."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def kill_when_written(proc: subprocess.Popen[bytes], threshold: int, fallback_s: float) -> bool:
    """SIGKILL the process once it has written `threshold` bytes (or, where /proc cannot tell, after
    `fallback_s` seconds); True when it was killed, False when it ended first."""
    if written(proc.pid) is None:
        if pause(proc, fallback_s):
            return False
    else:
        while (done := written(proc.pid)) is not None and done < threshold:
            if pause(proc, 0.002):
                return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


@dataclass(frozen=True)
class Work:
    """What an uninterrupted run of a command writes and how long it takes, to aim kills inside it."""

    bytes_written: int
    seconds: float


def measure(proc: subprocess.Popen[bytes]) -> int:
    """Follow a run to its end, returning the most it was seen to have written."""
    most = 0
    while not pause(proc, 0.002):
        most = max(most, written(proc.pid) or 0)
    _, err = proc.communicate()
    assert proc.returncode == 0, f"the uninterrupted run failed: {err.decode()}"
    return most


# --- the three commands ---------------------------------------------------------------------------------------


def prepared(h: History, repo: Path, command: str, where: Path) -> list[str]:
    """The command's arguments; for `restore --overwrite`, a folder holding snapshot 1's tree to overwrite
    with snapshot 5's."""
    if command == "rebuild-index":
        return ["rebuild-index"]
    if command == "coalesce":
        return ["coalesce", "--drop", str(DROP)]
    run = timekeep(repo, "restore", str(h.src), "--at", "1", "--to", str(where), "--quiet")
    assert run.code == 0, str(run)
    return ["restore", str(h.src), "--at", str(max(h.trees)), "--to", str(where), "--overwrite", "--quiet"]


@pytest.fixture(scope="module")
def work(history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Work]:
    return measured(history, tmp_path_factory, COMMANDS)


@pytest.fixture(scope="module")
def encrypted_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("encrypted-history"), "encrypted")


@pytest.fixture(scope="module")
def encrypted_work(encrypted_history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Work]:
    return measured(encrypted_history, tmp_path_factory, ENCRYPTED_COMMANDS)


def measured(h: History, tmp_path_factory: pytest.TempPathFactory, commands: tuple[str, ...]) -> dict[str, Work]:
    """What each command writes, and how long it takes, uninterrupted (each on a copy: its own computer)."""
    found = {}
    for command in commands:
        base = tmp_path_factory.mktemp(f"measure-{command}")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
            repo = h.copy(base / "repo")
            proc = spawn(repo, prepared(h, repo, command, base / "dest"))
            started = time.monotonic()
            found[command] = Work(measure(proc), time.monotonic() - started)
    return found


# --- after the kill ------------------------------------------------------------------------------------------


def old_or_new(f: Findings, dest: Tree, old: Tree, new: Tree) -> None:
    """Right after a killed `restore --overwrite`: every file is as it was or as restored (a temporary aside)."""
    for rel, entry in dest.items():
        if entry[0] != "file" or os.path.basename(rel).endswith(b".restoring"):
            continue
        f.expect(entry[1] in (old.get(rel, ("", None))[1], new.get(rel, ("", None))[1]),
                 lambda rel=rel, entry=entry: f"{rel!r} is neither its old nor its restored content "
                                              f"({len(entry[1])} bytes)")


def restored_again(f: Findings, h: History, repo: Path, dest: Path, old: Tree) -> None:
    """The next restore finishes the job and leaves no temporary of the killed one."""
    args = ["restore", str(h.src), "--at", str(max(h.trees)), "--to", str(dest), "--overwrite", "--quiet"]
    run = timekeep(repo, *args)
    f.expect(run.crash is None and run.code == 0, f"the next restore: {run}")
    got = read_tree(dest / h.src.name)
    temporaries = sorted(rel for rel in got if rel.endswith(b".restoring"))
    f.expect(not temporaries, f"the next restore left the killed one's temporaries: {temporaries[:3]}")
    want = {**{rel: e for rel, e in old.items() if rel not in h.trees[max(h.trees)]}, **h.trees[max(h.trees)]}
    rest = {rel: e for rel, e in got.items() if rel not in temporaries}
    f.expect(rest == want, lambda: f"after the next restore the folder differs: {tree_diff(want, rest)}")


def healthy_or_absent(f: Findings, repo: Path) -> None:
    """A `check` that passes right after a killed `rebuild-index` must be looking at a whole index."""
    run = timekeep(repo, "check")
    on_drive = {i for n in data_files(repo) if (i := manifest_id(n))}
    known = index_snapshot_ids(repo) or set()
    f.expect(run.code != 0 or on_drive <= known, lambda: f"`check` calls healthy an index that lacks snapshots "
                                                        f"{sorted(on_drive - known)} (a partial rebuild)")


def recovered(f: Findings, h: History, repo: Path, tmp: Path, dropped_ok: bool) -> None:
    """`backup` (after `rebuild-index` if it says so) succeeds; every snapshot restores exactly as taken;
    `check --read-data` is clean."""
    backup = timekeep(repo, "backup")
    if backup.code == 2 and "rebuild-index" in backup.err_text:
        f.expect(timekeep(repo, "rebuild-index").code == 0, "rebuild-index, as backup said, failed")
        backup = timekeep(repo, "backup")
    f.expect(backup.crash is None and backup.code in (0, 3), f"the next backup: {backup}")
    listing = timekeep(repo, "snapshots", "--json")
    ids = {s["id"] for s in listing.json()} if listing.code == 0 else set()
    gone = sorted(set(h.trees) - ids - ({DROP} if dropped_ok else set()))
    f.expect(not gone, f"snapshots {gone} are gone")
    for sid in sorted(ids):
        restore_exact(f, h, repo, sid, tmp / f"snapshot-{sid}")
    check = timekeep(repo, "check", "--read-data", "--json")
    try:
        problems = check.json().get("problems")
    except (ValueError, AttributeError):
        problems = [f"not JSON: {check.out[:200]!r}"]
    f.expect(check.code == 0 and not problems, lambda: f"{check}: {problems}")


def restore_exact(f: Findings, h: History, repo: Path, sid: int, dest: Path) -> None:
    truth = h.trees.get(sid) if sid in h.trees else h.current if sid > h.max_id else None
    if not f.expect(truth is not None, f"snapshot {sid} is listed, but none was taken with that id"):
        return
    run = timekeep(repo, "restore", str(h.src), "--at", str(sid), "--to", str(dest), "--quiet")
    got = read_tree(dest / h.src.name)
    f.expect(run.code == 0 and got == truth, lambda: f"snapshot {sid}: {run}; {tree_diff(truth or {}, got)}")


# --- the runs --------------------------------------------------------------------------------------------------


def kill_runs(h: History, work: dict[str, Work], tmp: Path, command: str, runs: int,
              local: bool = False) -> tuple[int, Findings]:
    """Kill `command` at `runs` seeded moments, each on a fresh copy (with `local`, one keeping its index in
    a cache folder of its own), and hold what is left to the promises. Returns how many runs were really
    killed before they ended, and every promise broken."""
    rng = random.Random(SEEDS[command] * 1000 + runs)
    measured, every, killed = work[command], Findings(), 0
    for n in range(runs):
        share = rng.uniform(0.02, 0.98)
        base = tmp / f"run-{n}"
        with pytest.MonkeyPatch.context() as mp:  # the copies share a repository id: each its own computer
            mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
            repo = h.copy(base / "repo")
            if local:
                keep_index_locally(repo)
            was_killed, f = kill_one(h, measured, repo, base, command, share)
        killed += was_killed
        moment = f"run {n}, killed after {share:.0%} of its writes" if was_killed else f"run {n}, not killed"
        every.found += [f"{moment}: {line}" for line in f.found]
    return killed, every


def kill_one(h: History, measured: Work, repo: Path, base: Path, command: str, share: float) -> tuple[bool, Findings]:
    dest = base / "dest"
    args = prepared(h, repo, command, dest)
    old = read_tree(dest / h.src.name) if command == "restore-overwrite" else {}
    before = data_files(repo)
    was_killed = kill_when_written(spawn(repo, args), int(share * measured.bytes_written), share * measured.seconds)
    f = Findings()
    if command == "restore-overwrite":
        old_or_new(f, read_tree(dest / h.src.name), old, h.trees[max(h.trees)])
        restored_again(f, h, repo, dest, old)
    if command == "rebuild-index":
        healthy_or_absent(f, repo)
    recovered(f, h, repo, base, dropped_ok=command == "coalesce")
    allowed = h.thinning["drop"] if command == "coalesce" else None
    for broken in drive_broken(before, data_files(repo), allowed, h.max_id):
        f.expect(False, f"after the kill and the recovery: {broken}")
    return was_killed, f


def killed_runs(h: History, work: dict[str, Work], tmp: Path, command: str, runs: int, local: bool = False) -> None:
    killed, found = kill_runs(h, work, tmp, command, runs, local)
    found.verdict()
    assert killed >= runs // 2, f"only {killed} of {runs} runs were killed before they ended"


@pytest.mark.parametrize("command", COMMANDS)
def test_killed_at_random_moments(history: History, work: dict[str, Work], tmp_path: Path, command: str) -> None:
    killed_runs(history, work, tmp_path, command, RUNS)


@pytest.mark.parametrize("command", ("rebuild-index", "coalesce"))
def test_killed_at_random_moments_with_the_index_on_this_computer(history: History, work: dict[str, Work],
                                                                  tmp_path: Path, command: str) -> None:
    killed_runs(history, work, tmp_path, command, RUNS, local=True)


@pytest.mark.parametrize("command", ENCRYPTED_COMMANDS)
def test_killed_at_random_moments_encrypted(encrypted_history: History, encrypted_work: dict[str, Work],
                                            tmp_path: Path, command: str) -> None:
    killed_runs(encrypted_history, encrypted_work, tmp_path, command, ENCRYPTED_RUNS[command])


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_killed_at_many_random_moments(history: History, work: dict[str, Work], tmp_path: Path, command: str) -> None:
    killed_runs(history, work, tmp_path, command, SLOW_RUNS)
