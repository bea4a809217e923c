"""The tools behind one small interface, each run as its own process under /usr/bin/time -v.

Settings are chosen for a fair race: restic with compression (repository v2, its only encryption),
borg without encryption and zstd level 3, Timekeep with its defaults (zstd level 3). The encrypted race
adds Timekeep's encrypted mode (`timekeep-enc`) and borg with `repokey-blake2` (`borg-enc`), each beside
its unencrypted self, so one run gives both the cost of encryption and the comparison with restic.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from timekeep.core.crypto.kdf import Argon2Params

TIME = "/usr/bin/time"
PASSPHRASE = "correct horse battery staple, bench"  # every encrypting tool's, given through its environment


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    stdout: str
    cpu_seconds: float = 0.0  # user + system: what other work on a shared machine disturbs least


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run a command to completion under /usr/bin/time -v; raise with its output if it fails."""
    started = time.perf_counter()
    wrapper = [TIME, "-v"] if os.path.exists(TIME) else []  # without it (apt unreachable) memory reads 0
    proc = subprocess.run([*wrapper, *cmd], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=cwd, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr))
    return Run(seconds, int(match.group(1)) / 1024 if match else 0.0, proc.stdout, cpu)


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Tool:
    name = ""

    def __init__(self, work: Path, source: Path) -> None:
        self.repo = work / f"repo-{self.name}"
        self.source = source
        self.snapshots: list[str] = []

    @property
    def location(self) -> str:
        """Where the repository is, as the tool's command line names it (a folder here; a URL on S3)."""
        return str(self.repo)

    def version(self) -> str:
        raise NotImplementedError

    def anew(self) -> None:
        """Remove the repository and forget its snapshots: the next `init` and first backup start from nothing."""
        shutil.rmtree(self.repo, ignore_errors=True)
        self.snapshots = []

    def init(self) -> None:
        raise NotImplementedError

    def backup(self) -> Run:
        raise NotImplementedError

    def restore_file(self, snapshot: str, relpath: str, dest: Path) -> Run:
        raise NotImplementedError

    def list_dir(self, snapshot: str, relpath: str) -> Run:
        raise NotImplementedError

    def thin(self, snapshots: list[str]) -> float:
        """Drop these snapshots and give their space back; seconds taken (all commands it needs)."""
        raise NotImplementedError

    def repo_bytes(self) -> int:
        return tree_bytes(self.repo)


class Timekeep(Tool):
    name = "timekeep"

    def __init__(self, work: Path, source: Path) -> None:
        super().__init__(work, source)
        # one cache folder for the commands and the agent, as a person's session has: a writer trusts an index it
        # finds as the last writer left it (core/index/checked.py), and an agent with a cache of its own ran a
        # full integrity check of the index at its first storage time, inside the agent row
        self.env: dict[str, str] = {"XDG_CACHE_HOME": str(self.agent_home / "cache")}

    python = sys.executable  # the interpreter whose installed Timekeep runs (`TimekeepBefore`: another checkout's)

    def _cli(self, *args: str) -> list[str]:
        return [self.python, "-m", "timekeep.core.cli.main", *args, "--repo", self.location]

    def version(self) -> str:
        from timekeep.core import __version__

        return __version__

    def anew(self) -> None:
        # The agent's own folders go with the repository they served: an agent started on a repository made
        # anew at the same path would otherwise remember the old one's id, take the new one for an impostor and
        # leave every backup to the full command (a full scan, the touched row's time, in the agent row)
        super().anew()
        shutil.rmtree(self.agent_home, ignore_errors=True)

    def init(self) -> None:
        subprocess.run([self.python, "-m", "timekeep.core.cli.main", "init", "--encryption", "none",
                        self.location, *self.init_options()], check=True, capture_output=True,
                       env={**os.environ, **self.env})
        self._add_source()

    def endpoint(self) -> str | None:
        """The S3 server of a repository in a bucket; None for a folder."""
        return None

    def init_options(self) -> list[str]:
        """More options for `timekeep init`: an S3 repository's endpoint."""
        endpoint = self.endpoint()
        return [] if endpoint is None else ["--endpoint", endpoint]

    def _add_source(self) -> None:
        subprocess.run(self._cli("add", str(self.source), "--no-default-excludes"), check=True,
                       capture_output=True, env={**os.environ, **self.env})

    def backup(self) -> Run:
        run = timed(self._cli("backup", "--json"), self.env)
        self.snapshots.append(str(json.loads(run.stdout)["id"]))
        return run

    def restore_file(self, snapshot: str, relpath: str, dest: Path) -> Run:
        return timed(self._cli("restore", str(self.source / relpath), "--at", snapshot, "--to", str(dest),
                               "--quiet"), self.env)

    def list_dir(self, snapshot: str, relpath: str) -> Run:
        return timed(self._cli("ls", str(self.source / relpath), "--at", snapshot), self.env)

    @contextmanager
    def in_process(self) -> Iterator[None]:
        """This process set up as the tool's commands are (their environment, the repository unlocked), so the
        GUI's own calls can be timed here."""
        from timekeep.core.api import unlock

        with environment(self.env):
            unlock(self.repo, interactive=False)
            yield

    # The agent: its own private XDG folders, so it never meets a real session's agent. The runtime folder
    # is a short one under /tmp: a Unix socket's path may not exceed 107 bytes.
    @property
    def agent_home(self) -> Path:
        return self.repo.parent / f"agent-home-{self.name}"

    def agent_env(self) -> dict[str, str]:
        home = self.agent_home
        if not hasattr(self, "_runtime"):
            self._runtime = tempfile.mkdtemp(prefix="tk-agent-")
        return {f"XDG_{name.upper()}_HOME": str(home / name) for name in ("config", "state", "data")} | {
            "XDG_CACHE_HOME": self.env.get("XDG_CACHE_HOME", str(home / "cache"))} | {
            "XDG_RUNTIME_DIR": self._runtime}

    def start_agent(self, timeout: float = 60.0) -> subprocess.Popen[bytes]:
        """The agent started and answering (its destinations may not be connected or reconciled yet: `settled`)."""
        env = self.agent_env()
        agent = subprocess.Popen(self._cli("agent"), env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        if not self.agent_shows(lambda status: bool(status.get("agent")), timeout):
            agent.kill()
            raise RuntimeError("the Timekeep agent did not start")
        return agent

    def agent_shows(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 60.0,
                    every: float = 0.1) -> bool:
        """Whether the agent's status (`timekeep status --json`) came to meet `condition` within `timeout`,
        looked at `every` seconds (the pause between two looks at another process's state)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.agent_status()):
                return True
            time.sleep(every)
        return False

    def agent_status(self) -> dict[str, Any]:
        """`timekeep status --json` as this tool's agent answers it; {} when the command fails."""
        done = subprocess.run(self._cli("status", "--json"), env={**os.environ, **self.agent_env()},
                              capture_output=True, text=True, check=False)
        answer: dict[str, Any] = json.loads(done.stdout or "{}") if done.returncode == 0 else {}
        return answer

    def thin(self, snapshots: list[str]) -> float:
        return timed(self._cli("coalesce", "--drop", *snapshots, "--quiet"), self.env).seconds

    def backup_via_agent(self) -> Run:
        return timed(self._cli("backup", "--quiet"), self.agent_env())


def settled(status: dict[str, Any]) -> bool:
    """The agent idle, with every destination connected and its start-up reconciliation done."""
    destinations = status.get("destinations") or []
    return (status.get("state") == "idle" and bool(destinations)
            and all(d.get("present") and not d.get("needs_reconcile") for d in destinations))


def journaled(status: dict[str, Any]) -> bool:
    """The agent's watcher has journaled a change for the next storage time."""
    return any(int(d.get("pending_paths") or 0) > 0 for d in status.get("destinations") or [])


class TimekeepBefore(Timekeep):
    """Timekeep as another checkout has it (`bench.run --before PYTHON`, that checkout's venv interpreter), raced
    beside this one in the same run: a change measured against what it changes, on a shared machine."""

    name = "timekeep-before"

    def __init__(self, work: Path, source: Path, python: str) -> None:
        super().__init__(work, source)
        self.python = python

    def version(self) -> str:
        return subprocess.run([self.python, "-c", "from timekeep.core import __version__; print(__version__)"],
                              capture_output=True, text=True, check=True).stdout.strip() + " (before)"


class TimekeepEncrypted(Timekeep):
    """Timekeep's encrypted mode: `init --encryption repokey`, the passphrase in TIMEKEEP_PASSPHRASE, as a
    script would give it. Its index lives on the computer, here in a cache folder of the bench's own (its
    repository size is the drive's, as restic's and borg's leave out their caches). Every command unlocks
    the key first: one Argon2id derivation at the cost tuned by init, inside each timed row.

    `argon2` makes the key slot in process at that cost instead (the smoke test's least cost); None runs
    the CLI's init, which tunes the cost to this machine as a user's would.
    """

    name = "timekeep-enc"

    def __init__(self, work: Path, source: Path, argon2: Argon2Params | None = None) -> None:
        super().__init__(work, source)
        self.argon2 = argon2
        self.env = {"TIMEKEEP_PASSPHRASE": PASSPHRASE, "XDG_CACHE_HOME": str(work / f"cache-{self.name}")}

    def anew(self) -> None:
        super().anew()
        shutil.rmtree(self.env["XDG_CACHE_HOME"], ignore_errors=True)  # the index it kept of the repository

    def init(self) -> None:
        if self.argon2 is None:
            subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", "init", self.location, "--encryption",
                            "repokey", *self.init_options()], check=True, capture_output=True,
                           env={**os.environ, **self.env})
        else:
            from timekeep.core.api import init_repository

            with environment(self.env):
                init_repository(self.location, encryption="repokey", passphrase=PASSPHRASE, argon2=self.argon2,
                                endpoint=self.endpoint())
        self._add_source()

    def unlock_seconds(self) -> float:
        """One unlock of the key as every command does it: the Argon2id derivation and opening the slot."""
        from timekeep.core.crypto import keys
        from timekeep.core.storage.layout import load_config

        config = load_config(self.repo.absolute())
        started = time.perf_counter()
        keys.unlock(self.repo.absolute(), config.repository_id, PASSPHRASE, config.key_check)
        return time.perf_counter() - started


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the duration, then what was there before."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Restic(Tool):
    name = "restic"
    env: ClassVar[dict[str, str]] = {"RESTIC_PASSWORD": "bench", "RESTIC_COMPRESSION": "auto"}

    def version(self) -> str:
        return subprocess.run(["restic", "version"], capture_output=True, text=True, check=True).stdout.split()[1]

    def init(self) -> None:
        subprocess.run(["restic", "init", "--repository-version", "2", "--repo", self.location],
                       env={**os.environ, **self.env}, check=True, capture_output=True)

    def backup(self) -> Run:
        run = timed(["restic", "--repo", self.location, "backup", "--json", str(self.source)], self.env)
        summary = [json.loads(line) for line in run.stdout.splitlines() if '"summary"' in line][-1]
        self.snapshots.append(summary["snapshot_id"])
        return run

    def restore_file(self, snapshot: str, relpath: str, dest: Path) -> Run:
        return timed(["restic", "--repo", self.location, "restore", snapshot, "--target", str(dest),
                      "--include", str(self.source / relpath)], self.env)

    def list_dir(self, snapshot: str, relpath: str) -> Run:
        return timed(["restic", "--repo", self.location, "ls", snapshot, str(self.source / relpath)], self.env)

    def thin(self, snapshots: list[str]) -> float:
        return timed(["restic", "--repo", self.location, "forget", "--prune", *snapshots], self.env).seconds


class Borg(Tool):
    name = "borg"
    encryption = "none"
    env: ClassVar[dict[str, str]] = {"BORG_PASSPHRASE": "", "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
           "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes"}

    def version(self) -> str:
        return subprocess.run(["borg", "--version"], capture_output=True, text=True, check=True).stdout.split()[1]

    def init(self) -> None:
        subprocess.run(["borg", "init", "--encryption", self.encryption, str(self.repo)],
                       env={**os.environ, **self.env}, check=True, capture_output=True)

    def backup(self) -> Run:
        name = f"a{len(self.snapshots) + 1}"
        run = timed(["borg", "create", "--compression", "zstd,3", f"{self.repo}::{name}", str(self.source)],
                    self.env)
        self.snapshots.append(name)
        return run

    def restore_file(self, snapshot: str, relpath: str, dest: Path) -> Run:
        dest.mkdir(parents=True, exist_ok=True)
        stored = str(self.source / relpath).lstrip("/")
        return timed(["borg", "extract", f"{self.repo}::{snapshot}", stored], self.env, cwd=dest)

    def list_dir(self, snapshot: str, relpath: str) -> Run:
        stored = str(self.source / relpath).lstrip("/")
        return timed(["borg", "list", f"{self.repo}::{snapshot}", stored], self.env)

    def thin(self, snapshots: list[str]) -> float:  # borg frees space only when compacted
        deleted = timed(["borg", "delete", str(self.repo), *snapshots], self.env)
        return deleted.seconds + timed(["borg", "compact", str(self.repo)], self.env).seconds


class BorgEncrypted(Borg):
    """borg as it is mostly used: `repokey-blake2` (AES-256-CTR, HMAC by keyed BLAKE2b, keyed chunk ids and
    a keyed chunker), its key unlocked from BORG_PASSPHRASE by every command."""

    name = "borg-enc"
    encryption = "repokey-blake2"
    env: ClassVar[dict[str, str]] = {"BORG_PASSPHRASE": PASSPHRASE, "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}


TOOLS: dict[str, type[Tool]] = {t.name: t for t in (Timekeep, TimekeepEncrypted, Restic, Borg, BorgEncrypted)}
ENCRYPTED = ("timekeep", "timekeep-enc", "restic", "borg-enc")  # the encrypted race, with our unencrypted mode


def ensure_installed(names: list[str]) -> list[str]:
    """Install missing peers and /usr/bin/time from Debian's packages; returns the tools that are usable."""
    binaries = {"restic": "restic", "restic-s3": "restic", "borg": "borg", "borg-enc": "borg"}
    wanted = {"restic": "restic", "borg": "borgbackup"}
    packages = sorted({wanted[binaries[n]] for n in names if n in binaries and shutil.which(binaries[n]) is None})
    if not os.path.exists(TIME):
        packages.append("time")
    if packages:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-q"], capture_output=True, check=False)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                       capture_output=True, check=False)
    return [n for n in names if n not in binaries or shutil.which(binaries[n]) is not None]
