"""What encryption costs a first backup, measured alone: our encrypted mode against our unencrypted one,
in process, taken in turn so both meet the same moments of a shared machine.

Run from the repository root: `.venv/bin/python -m bench.enccost [--mib 512] [--rounds 4] [--profile]`.
Each round backs up the same files into a fresh repository of each mode (real repositories: sealed frames,
footers and manifests, keyed chunk ids, the index on the computer), and into an unencrypted one whose
frames alone are sealed (patched in), which tells the frames' share of the cost from the rest; the key
slot is made at Argon2id's least cost, since unlocking is not part of the per-byte cost. Prints each mode's
best and median wall-clock MB/s and MB per CPU second, and the ratios; then what one unlock costs, with the
passphrase (Argon2id at init's tuned cost) and through a keyring slot; `--profile` then prints where the
two real modes' CPU time goes: the CPU seconds spent inside the functions encryption adds or changes,
summed over every thread (cProfile sees only the calling thread; the work is in readers and compressors).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench.aead import _dataset, _encrypting
from bench.tools import PASSPHRASE, environment
from timekeep.core.crypto import kdf

MODES = ("unencrypted", "encrypted", "frames sealed only")  # the last: an unencrypted repository whose
# frames are sealed as an encrypted one's are (patched in, as bench/aead.py does): the frames' share of the cost


def backup_once(data: Path, repo: Path, mode: str) -> tuple[float, float]:
    """Wall and CPU seconds of one first backup of `data` into a new repository at `repo`."""
    from timekeep.core.api import Timekeep, init_repository

    if mode == "encrypted":
        init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=kdf.TEST_PARAMS)
    else:
        init_repository(repo)
    patch = _encrypting(keyed_chunker=False) if mode == MODES[2] else nullcontext()
    with Timekeep.open(repo, writer=True) as tk, patch:
        tk.add_folder(os.fsencode(data))
        started, cpu = time.perf_counter(), time.process_time()
        tk.backup()
        return time.perf_counter() - started, time.process_time() - cpu


def _data(work: Path, size: int) -> Path:
    """The files, written out to the disk (their writeback would fall inside the first backup) and backed up
    once unmeasured, so the first measured round does not pay the process's warm-up."""
    data = work / "data"
    data.mkdir()
    _dataset(data, size)
    os.sync()
    backup_once(data, work / "warm-up", MODES[0])
    shutil.rmtree(work / "warm-up")
    return data


def compare(size: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """(MB/s, MB per CPU second) of every round, by mode."""
    runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="timekeep-enccost-") as work, \
            environment({"XDG_CACHE_HOME": str(Path(work) / "cache")}):
        data = _data(Path(work), size)
        for attempt in range(rounds * len(MODES)):
            mode, repo = MODES[attempt % len(MODES)], Path(work) / f"repo{attempt}"
            wall, cpu = backup_once(data, repo, mode)
            runs[mode].append((size / wall / 1e6, size / cpu / 1e6))
            print(f"  {mode:12} {runs[mode][-1][0]:6.0f} MB/s {runs[mode][-1][1]:6.0f} MB per CPU s", flush=True)
            shutil.rmtree(repo)
    return runs


# (module, attribute path, label): what an encrypted backup does that an unencrypted one does differently
PROBES = (
    ("timekeep.core.storage.frame", "parts", "frame: zstd compress (both modes)"),
    ("timekeep.core.crypto.seal", "Sealer.sealed_frame_as", "sealed frame: compress, AES-256-GCM, its buffer"),
    ("timekeep.core.crypto.sealing", "Sealing.seal_frame", "sealed frame, whole (compress + seal + copies)"),
    ("timekeep.core.crypto.sealing", "Sealing.seal_footer", "sealed pack footers"),
    ("timekeep.core.crypto.sealing", "Sealing.seal_manifest", "sealed manifests"),
    ("timekeep.core.crypto.chunk_ids", "ChunkIds.of", "chunk ids (keyed when encrypted)"),
)


class Probe:
    """CPU seconds (of the calling thread) and calls inside one function, from every thread."""

    def __init__(self) -> None:
        self.seconds, self.calls, self.lock = 0.0, 0, threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with self.lock:
                    self.seconds, self.calls = self.seconds + spent, self.calls + 1
        return timed


@contextmanager
def probed() -> Iterator[dict[str, Probe]]:
    import importlib

    probes: dict[str, Probe] = {}
    with ExitStack() as undo:
        for module_name, path, label in PROBES:
            owner: Any = importlib.import_module(module_name)
            *parents, attribute = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = getattr(owner, attribute)
            probes[label] = Probe()
            setattr(owner, attribute, probes[label].wrap(original))
            undo.callback(setattr, owner, attribute, original)
        yield probes


def profile(size: int) -> None:
    """One backup of each mode with the probes in: the CPU seconds inside each, beside the whole."""
    with tempfile.TemporaryDirectory(prefix="timekeep-enccost-") as work, \
            environment({"XDG_CACHE_HOME": str(Path(work) / "cache")}):
        data = _data(Path(work), size)
        for mode in MODES[:2]:
            with probed() as probes:
                wall, cpu = backup_once(data, Path(work) / f"repo-{mode}", mode)
            print(f"{mode}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            for label, probe in probes.items():
                if probe.calls:
                    print(f"  {label:50} {probe.seconds:6.2f} s CPU in {probe.calls} calls "
                          f"({100 * probe.seconds / cpu:4.1f}% of the backup's CPU)")


def unlocks(rounds: int = 5) -> tuple[float, float, float]:
    """Median seconds (wall) and CPU seconds of one unlock with the passphrase, its key slot made at the cost
    init tunes here (Argon2id), and the median seconds of one through a keyring slot (HKDF), as an unattended
    unlock from the keyring does."""
    from timekeep.core.crypto import keys

    with tempfile.TemporaryDirectory(prefix="timekeep-enccost-") as work:
        root, rid = Path(work), "0" * 32
        created = keys.create(root, rid, PASSPHRASE, kdf.tune())
        _, secret = keys.add_keyring_slot(root, rid, created.key)
        walls, cpus, fast = [], [], []
        for _ in range(rounds):
            started, cpu = time.perf_counter(), time.process_time()
            keys.unlock(root, rid, PASSPHRASE)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
            started = time.perf_counter()
            keys.unlock_with_keyring_secret(root, rid, secret)
            fast.append(time.perf_counter() - started)
    return statistics.median(walls), statistics.median(cpus), statistics.median(fast)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    runs = compare(args.mib << 20, args.rounds)
    summary = {mode: [(max(r[i] for r in rows), statistics.median(r[i] for r in rows)) for i in (0, 1)]
               for mode, rows in runs.items()}
    for mode, ((wall_best, wall_mid), (cpu_best, cpu_mid)) in summary.items():
        print(f"{mode:12} MB/s best {wall_best:5.0f} median {wall_mid:5.0f}; "
              f"MB per CPU s best {cpu_best:5.0f} median {cpu_mid:5.0f}")
    plain = summary[MODES[0]]
    for mode in MODES[1:]:
        sealed = summary[mode]
        print(f"{mode} / unencrypted: throughput {sealed[0][0] / plain[0][0]:.3f} (best) "
              f"{sealed[0][1] / plain[0][1]:.3f} (median); per CPU second {sealed[1][0] / plain[1][0]:.3f} (best) "
              f"{sealed[1][1] / plain[1][1]:.3f} (median)")
    wall, cpu, fast = unlocks()
    print(f"unlock with the passphrase (Argon2id at init's cost): {wall:.3f} s, {cpu:.3f} s CPU; "
          f"through a keyring slot: {fast * 1e3:.2f} ms")
    if args.profile:
        profile(args.mib << 20)


if __name__ == "__main__":
    main()
