"""The slim path of `timekeep backup` (timekeep.core.cli.slim): with a real agent process running, the command
says exactly what the full command line says (stdout, stderr, exit code) for a backup that found nothing new,
one that stored a snapshot, one that failed and one the agent kept on this computer, and it loads neither the
engine's records nor the argument parser to do it; it leaves everything else to the full path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_support import (
    ROOT,
    agent_process,
    cli,
    kept,
    settled_agent_env,
    wait_for,
)
from tests.helpers import backup, make_tree, new_repo
from tests.treeops import film_on_a_small_drive
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.connection import AgentError, Connection, open_socket
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.api import Timekeep, repository_id
from timekeep.core.away import store
from timekeep.core.cli.slim import Asked, _ask, _ask_older, agent_socket, backup_asked, backup_through_agent

# the full command line, as it ran before the slim path existed: the parser and the commands
FULL = "import sys; from timekeep.core.cli.parser import parse_and_run; sys.exit(parse_and_run(sys.argv[1:]))"
# the entry point, then which modules it loaded, into the file named first
PROBE = ("import sys; from timekeep.core.cli.main import main; code = main(sys.argv[2:]); "
         "open(sys.argv[1], 'w').write('\\n'.join(sorted(sys.modules))); sys.exit(code)")
ENGINE = {"timekeep.core.types", "timekeep.core.agent.messages", "timekeep.core.agent.client",
          "timekeep.core.cli.parser", "timekeep.core.api", "peewee", "argparse", "platformdirs",
          "typing", "datetime",  # these two cost the slim path's start ~3 ms: names for the type checker, a date
          "socket", "selectors"}  # ~2 ms more: the C module `_socket` holds all a client needs


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    found = settled_agent_env(tmp_path / "home", journal_max_paths=10**9)
    yield found
    shutil.rmtree(found["XDG_RUNTIME_DIR"], ignore_errors=True)


def full(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", FULL, *args], env=env, capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)


def said(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return done.returncode, done.stdout, done.stderr


def pending(paths: AgentPaths) -> int:
    with AgentClient.connect(paths.socket) as client:  # type: ignore[union-attr]
        return client.status().destinations[0].pending_paths


def touched(src: Path, paths: AgentPaths, text: bytes) -> None:
    """A file changed, and the agent's journal holding it (so the next backup stores it)."""
    (src / "notes.txt").write_bytes(text)
    wait_for(lambda: pending(paths) >= 1, what="the change to be journaled")


def progress_kept(stderr: str) -> tuple[set[tuple[str, ...]], str | None]:
    """The --json progress lines (each a JSON object: phase, counts, elapsed) as the fields they carry and the last
    phase: which phases come before the last, how many lines a throttle lets through, and their counts and times
    depend on timing."""
    lines = [json.loads(line) for line in stderr.splitlines()]
    return {tuple(sorted(line)) for line in lines}, lines[-1]["phase"] if lines else None


def without_moment(text: str) -> str:
    """A backup's words with what differs between two snapshots (id, times, duration, compressed size) taken out."""
    text = re.sub(r"Snapshot \d+ taken at [\d: -]+ in [\d.]+ s", "Snapshot N taken at T in D s", text)
    text = re.sub(r"[\d.]+ \w+ new on the drive", "B new on the drive", text)
    return re.sub(r'"(id|time_ns|time|duration_s|bytes_new)": [^,\n]+', r'"\1": X', text)


def test_with_the_agent_running_the_slim_path_says_what_the_full_path_says(tmp_path: Path,
                                                                             env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with agent_process(env, repo) as (_proc, paths):
        for args in (["backup"], ["backup", "--quiet"], ["backup", "--json", "--quiet"],
                     ["--repo", str(repo), "backup"], ["backup", f"--repo={repo}", "--quiet"], ["backup", "--json"]):
            slim, whole = cli(env, *args), full(env, *args)  # nothing changed: the same sentence, or nothing
            assert (slim.returncode, slim.stdout) == (whole.returncode, whole.stdout), args
            assert progress_kept(slim.stderr) == progress_kept(whole.stderr), args
            quiet_text = "--quiet" in args and "--json" not in args
            assert slim.returncode == 0 and (slim.stdout == "") == quiet_text, slim
            assert quiet_text or "Nothing changed since snapshot 1" in slim.stdout
        for args in (["backup", "--quiet"], ["backup"], ["backup", "--json", "--quiet", "--repo", str(repo)],
                     ["backup", "--json"]):
            outcomes = []
            for n, run in enumerate((cli, full)):  # the same size of change for both, so the same bytes read
                touched(src, paths, f"{args} {n}".encode())
                outcomes.append(run(env, *args))
            slim, whole = outcomes
            assert (slim.returncode, without_moment(slim.stdout)) == (whole.returncode, without_moment(whole.stdout))
            if "--json" in args and "--quiet" not in args:  # progress, one JSON line at a time
                assert progress_kept(slim.stderr) == progress_kept(whole.stderr)
                assert progress_kept(slim.stderr)[1] == "commit"
            else:
                assert slim.stderr == whole.stderr == "", args
            assert slim.returncode == 0 and (slim.stdout == "") == ("--quiet" in args and "--json" not in args)
    with Timekeep.open(repo) as tk:
        snaps = tk.snapshots()
    assert [s.trigger for s in snaps] == ["manual"] + ["backup-now"] * 8  # every one of them the agent's


def on_a_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str, list[str]]:
    """`command` with its stderr on a terminal (a pty): its exit code, its stdout, and the phases its progress bar
    showed, each once (how often a phase is redrawn depends on timing); the bar must be erased at the end."""
    # the bar's words for the phases: timekeep.core.cli.progress.PHASES
    leader, follower = os.openpty()
    with subprocess.Popen(command, env={**env, "COLUMNS": "80"}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=follower, cwd=ROOT, text=True) as proc:
        os.close(follower)
        out, _ = proc.communicate(timeout=60)
    shown = b""
    while True:
        try:
            data = os.read(leader, 1 << 16)
        except OSError:  # the terminal's other end is closed and everything was read
            break
        if not data:
            break
        shown += data
    os.close(leader)
    drawn = shown.decode().split("\r\x1b[K")
    assert drawn[-1] == "", drawn  # the bar was erased before the summary
    phases = [seg.split()[0] for seg in drawn if seg.strip()]
    return proc.returncode, out, [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]


def test_on_a_terminal_the_slim_path_draws_the_same_progress_bar(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with agent_process(env, repo) as (_proc, paths):
        outcomes = []
        for n, command in enumerate(([sys.executable, "-m", "timekeep.core.cli.main"], [sys.executable, "-c", FULL])):
            touched(src, paths, f"drawn {n}".encode())
            outcomes.append(on_a_terminal([*command, "backup", "--repo", str(repo)], env))
    (slim_code, slim_out, slim_phases), (code, out, phases) = outcomes
    assert (slim_code, without_moment(slim_out)) == (code, without_moment(out))
    # which phases the engine reports before the last depends on timing (its own throttle); the last is the commit
    assert slim_phases[-1:] == phases[-1:] == ["saving"], outcomes
    assert set(slim_phases + phases) <= {"scanning", "storing", "saving"}, outcomes


def test_the_slim_path_loads_neither_the_engine_nor_the_parser(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    loaded = tmp_path / "modules.txt"
    with agent_process(env, repo) as (_proc, paths):
        touched(src, paths, b"stored by the slim path")
        for args in (["backup", "--quiet", "--repo", str(repo)], ["backup"]):  # a snapshot stored; nothing new
            done = subprocess.run([sys.executable, "-c", PROBE, str(loaded), *args], env=env, capture_output=True,
                                  text=True, timeout=60, cwd=ROOT, check=False)
            assert done.returncode == 0 and done.stderr == "", done
            modules = set(loaded.read_text().split("\n"))
            assert "timekeep.core.cli.slim" in modules and not modules & ENGINE, modules & ENGINE
        assert done.stdout.startswith("Nothing changed since snapshot 2")
    with Timekeep.open(repo) as tk:
        assert [s.trigger for s in tk.snapshots()] == ["manual", "backup-now"]


def test_one_request_queues_and_subscribes_or_says_the_repository_is_not_taken(
        tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The slim path's one round trip: `backup_now` with `subscribe` and `if_taken` queues the storage time and
    follows it on the same connection, or queues nothing for a repository the agent does not take; the older
    requests still work, and an unknown parameter is refused as a bad request (what `_ask` falls back on)."""
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with agent_process(env, repo) as (_proc, paths):
        monkeypatch.chdir(tmp_path)  # the agent's folder is another: a relative name must be made absolute here
        connection = Connection(open_socket(paths.socket), timeout=30)  # type: ignore[arg-type]
        try:
            assert _ask(connection, str(tmp_path / "elsewhere")) is None  # not one of its destinations
            assert _ask(connection, "s3://bucket/prefix") is None  # left to the full path before asking
            job = _ask(connection, os.path.relpath(repo))  # relative to this process, made absolute here
            assert isinstance(job, int)
            events = _events_of(connection, job)  # the agent's start-up job may still be telling its end
            assert [e.get("event") for e in events if e.get("event") != "progress"] == [
                "job_started", "job_finished"], events
            older = _ask_older(connection, str(repo))
            assert isinstance(older, int) and older > job
            with pytest.raises(AgentError) as refused:
                connection.request("backup_now", destination=str(repo), unheard_of=True)
            assert refused.value.kind == "" and str(refused.value).startswith("bad request"), refused.value
        finally:
            connection.close()
    with Timekeep.open(repo) as tk:  # the two asked for, each a storage time (nothing new: no snapshot)
        assert [s.trigger for s in tk.snapshots()] == ["manual"]


def _events_of(connection: Connection, job: int) -> list[dict[str, Any]]:
    """The events of `job` up to its end, as `_follow` picks them out of whatever else the subscription hears."""
    events: list[dict[str, Any]] = []
    while not events or events[-1].get("event") != "job_finished":
        message = connection.next_message(30)
        assert message is not None, events
        if message.get("job") == job:
            events.append(message)
    return events


def test_a_failing_backup_says_the_same_line_and_exit_code(tmp_path: Path, env: dict[str, str]) -> None:
    with film_on_a_small_drive(tmp_path) as repo, agent_process(env, repo) as _:
        slim, whole = cli(env, "backup", "--repo", str(repo)), full(env, "backup", "--repo", str(repo))
    assert said(slim) == said(whole)
    assert slim.returncode == 4 and slim.stderr.startswith("timekeep: the backup drive is full"), slim


def test_a_backup_kept_on_this_computer_while_the_drive_is_away_says_the_same(tmp_path: Path,
                                                                               env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    # where the agent journals while the drive is away: the away store in its data folder
    away = Path(env["XDG_DATA_HOME"]) / "timekeep" / store.home().name / repository_id(repo)
    with agent_process(env, repo) as (_proc, paths):
        with AgentClient.connect(paths.socket, timeout=30) as client:  # type: ignore[union-attr]
            wait_for(lambda: client.status().destinations[0].present, 60, what="the drive to be seen")
            os.rename(repo, repo.with_name("unplugged"))
            wait_for(lambda: not client.status().destinations[0].present, 60, what="the drive to be gone")
        outcomes = []
        for n, run in enumerate((cli, full)):
            (src / "notes.txt").write_bytes(f"asked for while away, {n}".encode())
            wait_for(lambda: os.fsencode(src / "notes.txt") in kept(away), 60,
                     what="the change journaled on this computer")
            outcomes.append(run(env, "backup", "--json", "--quiet", "--repo", str(repo)))
    slim, whole = outcomes
    assert (slim.returncode, without_moment(slim.stdout), slim.stderr) == \
           (whole.returncode, without_moment(whole.stdout), whole.stderr)
    assert slim.returncode == 0 and json.loads(slim.stdout)["kept_on_this_computer"] is True, slim


def test_without_an_agent_the_slim_path_leaves_the_backup_to_the_full_path(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert agent_socket() == str(AgentPaths.from_platform().socket)  # the very socket the agent listens at
    assert backup_through_agent(["backup", "--quiet"]) is None  # nothing listens there
    runtime.chmod(0o755)  # a runtime folder others could read: the full path decides where to look
    assert agent_socket() is None
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/run")
    assert agent_socket() is None


@pytest.mark.parametrize(("argv", "repo", "as_json", "quiet"), [
    (["backup"], None, False, False),
    (["backup", "--quiet", "--json"], None, True, True),
    (["--repo", "/r", "backup"], "/r", False, False),
    (["--repo", "/r", "backup", "--repo", "/s"], "/s", False, False),
    (["backup", "--repo=/s", "--quiet"], "/s", False, True),
    (["backup", "--repo="], "/from-env", False, False),  # an empty --repo: $TIMEKEEP_REPO, as argparse's `or`
])
def test_the_arguments_the_slim_path_takes(argv: list[str], repo: str | None, as_json: bool, quiet: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEKEEP_REPO", "/from-env") if repo == "/from-env" else monkeypatch.delenv(
        "TIMEKEEP_REPO", raising=False)
    asked = backup_asked(argv)
    assert isinstance(asked, Asked) and (asked.repo, asked.as_json, asked.quiet) == (repo, as_json, quiet)


@pytest.mark.parametrize("argv", [
    [], ["status"], ["backup", "--help"], ["backup", "-h"], ["backup", "--qui"], ["backup", "--endpoint", "x"],
    ["backup", "--passphrase-file", "f"], ["backup", "--repo"], ["backup", "--repo", "--quiet"], ["--quiet", "backup"],
    ["backup", "extra"], ["--version"], ["backup", "backup"],
])
def test_anything_else_goes_to_the_full_path(argv: list[str]) -> None:
    assert backup_asked(argv) is None
