"""What encryption costs a first backup as a person meets it: `timekeep backup` as a fresh process on the bench
dataset, unencrypted, encrypted with the passphrase given (Argon2id inside the command), and encrypted unlocked
from the keyring through its keyring slot (a real Secret Service of the run's own), modes in turn.

Run from the repository root: `.venv/bin/python -m bench.enccost_cli [--scale medium] [--rounds 3]`. On a machine
shared with other work, wall-clock time says little: each command's CPU seconds (user + system, from the
kernel's accounting of the child) vary less, so medians of both are printed, and the ratios to the
unencrypted mode. The passphrase slot is made at Argon2id 64 MiB, 16 passes, 4 lanes: what `init` tunes to
on an idle machine of the project's kind (about 0.45 s there), whatever the load while this runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import dataset
from bench.tools import PASSPHRASE

MODES = ("unencrypted", "passphrase given", "keyring slot")
QUIET_ARGON2 = (64 * 1024, 16, 4)  # memory KiB, passes, lanes
CLI = [sys.executable, "-m", "timekeep.core.cli.main"]


@contextmanager
def secret_service(home: Path) -> Iterator[dict[str, str]]:
    """A D-Bus session bus and an unlocked GNOME Keyring of this run's own; the environment that reaches them."""
    (home / "run").mkdir(mode=0o700, parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(home / "run"))
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, env=env)
    assert bus.stdout is not None
    env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
    daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    assert daemon.stdin is not None
    daemon.stdin.write(b"bench login password")
    daemon.stdin.close()
    try:
        _wait_for_keyring(env)
        yield env
    finally:
        for process in (daemon, bus):
            process.terminate()
            process.wait(10)


def _wait_for_keyring(env: dict[str, str]) -> None:
    probe = "from keyring.backends.SecretService import Keyring; Keyring().get_password('timekeep-bench', 'ready')"
    for _ in range(100):
        if subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("GNOME Keyring did not answer on the bench's own bus")


def _init(repo: Path, mode: str, env: dict[str, str]) -> None:
    if mode == MODES[0]:
        subprocess.run([*CLI, "init", "--encryption", "none", str(repo)], check=True, capture_output=True, env=env)
        return
    make = ("from timekeep.core.api import init_repository; from timekeep.core.crypto.kdf import Argon2Params; "
            f"init_repository({str(repo)!r}, encryption='repokey', passphrase={PASSPHRASE!r}, "
            f"argon2=Argon2Params(*{QUIET_ARGON2}))")
    subprocess.run([sys.executable, "-c", make], check=True, capture_output=True, env=env)


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one command, which must succeed."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    assert child.stderr is not None
    if status:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{child.stderr.read().decode()[-2000:]}")
    child.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def first_backup(work: Path, data: Path, mode: str, keyring_env: dict[str, str]) -> tuple[float, float]:
    repo, env = work / "repo", {**keyring_env, "XDG_CACHE_HOME": str(work / "cache"), "TIMEKEEP_PASSPHRASE": PASSPHRASE}
    _init(repo, mode, env)
    subprocess.run([*CLI, "add", str(data), "--no-default-excludes", "--repo", str(repo)], check=True,
                   capture_output=True, env=env)
    if mode == MODES[2]:  # kept in the keyring as `key remember` keeps it; the backup is given no passphrase
        subprocess.run([*CLI, "key", "remember", "--repo", str(repo)], check=True, capture_output=True, env=env)
        del env["TIMEKEEP_PASSPHRASE"]
    dataset.read_every_file(data)
    try:
        return _timed([*CLI, "backup", "--quiet", "--repo", str(repo)], env)
    finally:
        shutil.rmtree(repo)
        shutil.rmtree(work / "cache", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(dataset.SCALES), default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "timekeep-enccost-cli")
    args = parser.parse_args()
    data = args.work / f"data-{args.scale}"
    if not data.exists():
        print(f"generating the {args.scale} dataset in {data} …", flush=True)
        dataset.generate(data, dataset.SCALES[args.scale])
    size = dataset.dataset_bytes(data) / 1e6
    runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    with secret_service(args.work / "keyring") as keyring_env:
        for _ in range(args.rounds):
            for mode in MODES:
                wall, cpu = first_backup(args.work, data, mode, keyring_env)
                runs[mode].append((wall, cpu))
                print(f"  {mode:16} {wall:6.2f} s {cpu:6.2f} s CPU ({size / wall:4.0f} MB/s, "
                      f"{size / cpu:4.0f} MB per CPU s)", flush=True)
    shutil.rmtree(args.work / "keyring", ignore_errors=True)
    median = {mode: tuple(statistics.median(run[i] for run in rows) for i in (0, 1)) for mode, rows in runs.items()}
    for mode, (wall, cpu) in median.items():
        print(f"{mode:16} median {wall:6.2f} s, {cpu:6.2f} s CPU; encrypted / unencrypted: throughput "
              f"{median[MODES[0]][0] / wall:.3f}, per CPU second {median[MODES[0]][1] / cpu:.3f}")


if __name__ == "__main__":
    main()
