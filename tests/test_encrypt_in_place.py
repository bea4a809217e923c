"""`timekeep encrypt`: an unencrypted repository with a real history (several snapshots, one thinned away,
deleted files, a watched move) becomes an encrypted one in place. Every snapshot restores byte-exact after,
here and on a computer that builds its index from the sealed drive; the drive then shows no name and no
content and holds no index; refusals are one line with their exit codes; progress is reported; and kill -9 at
points spread over a conversion leaves a repository that opens and restores every snapshot, old or new, which
the next `timekeep encrypt` (or the next opener) finishes without stray objects."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import depth
from tests.helpers import Tree, make_tree, new_repo, read_tree
from tests.treeops import payload, restore_into
from timekeep.core import encrypting
from timekeep.core.api import Timekeep, encrypt_repository, init_repository, rebuild_index, unlock
from timekeep.core.cli.main import main
from timekeep.core.crypto import kdf, sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import RepositoryLocked
from timekeep.core.index.journal import JournalEntry
from timekeep.core.index.moves import NEW
from timekeep.core.storage import conversion
from timekeep.core.storage.layout import load_config, local_index_home
from timekeep.core.storage.lock import WriterLock
from timekeep.core.types import Progress

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "a long walk on a short pier"
SECRET_LINE = b"the spare key is under the third flowerpot\n"
FILE_NAME = "diary-wombat.txt"
FOLDER_NAME = "medical-letters-quokka"
GONE_NAME = "resignation-draft-narwhal.txt"
MOVED_NAME = "holiday-film-axolotl.bin"


@dataclass
class History:
    repo: Path
    src: Path
    trees: dict[int, Tree]

    def copy(self, where: Path) -> Path:
        shutil.copytree(self.repo, where, symlinks=True)
        return where


def _snapshot(repo: Path, moves: list[tuple[Path, Path]] = ()) -> int:  # type: ignore[assignment]
    with Timekeep.open(repo, writer=True) as tk:
        if not moves:
            return tk.backup().id
        folder = os.fsencode(moves[0][0].parent)
        entries = []
        for old, new in moves:
            entries += [JournalEntry(folder, os.fsencode(new), new.stat().st_size, os.fsencode(old)),
                        JournalEntry(folder, os.fsencode(old), 0, NEW)]
        tk.journal.record(entries, 1_000)
        return tk.backup(dirty=tk.journal.pending()).id


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    base = tmp_path_factory.mktemp("history")
    src = Path(os.path.realpath(base)) / "home-folder-tapir"
    make_tree(src, {FILE_NAME: SECRET_LINE * 30, "film.bin": payload(1, 900_000), GONE_NAME: SECRET_LINE,
                    FOLDER_NAME: {"letter.txt": b"Dear doctor,\n" + SECRET_LINE, "scan.bin": payload(2, 300_000)}})
    repo = new_repo(base, src)
    trees = {_snapshot(repo): read_tree(src)}
    (src / FILE_NAME).write_bytes(SECRET_LINE * 31)
    (src / "film.bin").write_bytes(payload(1, 400_000) + payload(3, 500_000))
    trees[_snapshot(repo)] = read_tree(src)
    (src / GONE_NAME).unlink()
    (src / FOLDER_NAME / "letter.txt").unlink()
    (src / FOLDER_NAME / "new.txt").write_bytes(b"added later\n" + SECRET_LINE)
    trees[_snapshot(repo)] = read_tree(src)
    (src / "film.bin").rename(src / MOVED_NAME)  # a watched move: its history follows it
    trees[_snapshot(repo, [(src / "film.bin", src / MOVED_NAME)])] = read_tree(src)
    with Timekeep.open(repo, writer=True) as tk:
        assert list(tk.coalesce(drop=[2]).snapshots_dropped) == [2]
    del trees[2]
    (src / FILE_NAME).write_bytes(SECRET_LINE * 32 + payload(4, 70_000, "text"))
    trees[_snapshot(repo)] = read_tree(src)
    with Timekeep.open(repo) as tk:
        assert [v.snapshot_id for v in tk.versions(os.fsencode(src / MOVED_NAME))][:1] == [1]  # followed
    return History(repo, src, trees)


def restores_exactly(repo: Path, h: History, scratch: Path) -> None:
    with Timekeep.open(repo) as tk:
        assert sorted(s.id for s in tk.snapshots()) == sorted(h.trees)
        for sid, tree in h.trees.items():
            got, result = restore_into(tk, os.fsencode(h.src), sid, scratch / f"at-{sid}")
            assert not result.errors and got == tree, f"snapshot {sid} restored differently"


def new_computer(monkeypatch: pytest.MonkeyPatch, home: Path, repo: Path) -> None:
    """Another process on another computer: nothing unlocked, an empty cache folder, the passphrase given."""
    sealing.forget(load_config(repo).repository_id)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    assert unlock(repo, interactive=False)


def every_file(repo: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(repo) for f in files]


def shows_nothing(repo: Path, h: History) -> None:
    needles = [FILE_NAME, FOLDER_NAME, GONE_NAME, MOVED_NAME, "letter.txt", h.src.name, str(h.src)]
    found = [n.encode() for n in needles] + [SECRET_LINE.strip(), b"Dear doctor"]
    files = every_file(repo)
    assert any(p.suffix == ".pack" for p in files) and any(p.suffix == ".manifest" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in found:
            assert needle not in data and needle not in path.name.encode(), f"{needle!r} in {path}"


def test_a_history_converts_and_every_snapshot_restores_byte_exact_with_nothing_readable_left(
        history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = history.copy(tmp_path / "repo")
    restores_exactly(repo, history, tmp_path / "before")
    seen: list[Progress] = []
    recovery = encrypt_repository(repo, PASSPHRASE, seen.append, argon2=TEST_PARAMS)
    assert len(recovery.split("-")) == 9
    assert seen and {p.phase for p in seen} >= {"encrypt"}
    copying = [p for p in seen if p.phase == "encrypt"]
    assert [p.bytes_done for p in copying] == sorted(p.bytes_done for p in copying)
    assert copying[-1].bytes_done == copying[-1].bytes_total > 1_000_000
    config = load_config(repo)
    assert config.encrypted and config.index == "local"
    assert not (repo / "index.db").exists() and not conversion.begun(repo)
    restores_exactly(repo, history, tmp_path / "after")
    shows_nothing(repo, history)
    new_computer(monkeypatch, tmp_path / "elsewhere", repo)
    restores_exactly(repo, history, tmp_path / "elsewhere-restores")
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.check(read_data=True).problems == ()
        latest = tk.backup()  # nothing changed on the computer: the converted content ids still match
        assert latest.files_changed == 0, latest


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_converts_then_refuses_in_one_line(
        history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(kdf, "tune", lambda *a, **k: TEST_PARAMS)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    repo = history.copy(tmp_path / "repo")
    code, out, err = cli(capsys, "encrypt", "--repo", str(repo))
    assert code == 0, err
    assert "Recovery key (shown only now): " in out and "wiped drive" in out
    assert load_config(repo).encrypted
    code, out, err = cli(capsys, "encrypt", "--repo", str(repo))
    assert (code, out) == (2, "") and err.count("\n") == 1 and "encrypted already" in err
    code, out, err = cli(capsys, "encrypt", "--repo", str(tmp_path / "nowhere"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_a_drive_without_room_is_refused_saying_how_much_and_nothing_changes(
        history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr(encrypting, "free_space", lambda path: 1_000_000)
    repo = history.copy(tmp_path / "repo")
    before = {p: p.read_bytes() for p in every_file(repo) if not p.name.startswith("index.db")}
    code, _, err = cli(capsys, "encrypt", "--repo", str(repo))
    assert code == 4 and err.count("\n") == 1 and "needs about" in err and "1.0 MB is free" in err, err
    assert {p: p.read_bytes() for p in every_file(repo) if not p.name.startswith("index.db")} == before


def test_a_damaged_repository_is_refused_saying_what_to_run(
        history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    repo = history.copy(tmp_path / "repo")
    next(repo.glob("packs/*/*.pack")).unlink()
    code, _, err = cli(capsys, "encrypt", "--repo", str(repo))
    assert code == 2 and err.count("\n") == 1 and "timekeep check" in err, err
    assert not load_config(repo).encrypted and not conversion.begun(repo)


def test_a_repository_whose_index_was_rebuilt_converts(history: History, tmp_path: Path) -> None:
    """A rebuilt index holds a pack row without a name for chunks no pack held: empty, it is no damage."""
    repo = history.copy(tmp_path / "repo")
    assert rebuild_index(repo).lost == []
    encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    restores_exactly(repo, history, tmp_path / "after")


def test_an_empty_passphrase_is_refused(
        history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", "")
    repo = history.copy(tmp_path / "repo")
    code, _, err = cli(capsys, "encrypt", "--repo", str(repo))
    assert code == 2 and err.count("\n") == 1 and not load_config(repo).encrypted


# --- kill -9 part way ----------------------------------------------------------------------------------------

CHEAP_KDF = ("import sys; from timekeep.core.crypto import kdf; kdf.tune = lambda *a, **k: kdf.TEST_PARAMS; "
             "from timekeep.core.cli.main import main; sys.exit(main(sys.argv[1:]))")


def spawn(repo: Path, cache: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "TIMEKEEP_PASSPHRASE": PASSPHRASE,
           "XDG_CACHE_HOME": str(cache)}
    return subprocess.Popen([sys.executable, "-c", CHEAP_KDF, "encrypt", "--quiet", "--repo", str(repo)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def written(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/io") as fh:
            return int(dict(line.split(": ") for line in fh.read().splitlines())["wchar"])
    except (OSError, KeyError, ValueError):
        return None


def ended(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def measure(proc: subprocess.Popen[bytes]) -> int:
    most = 0
    while not ended(proc, 0.002):
        most = max(most, written(proc.pid) or 0)
    _, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    return most


def kill_when_written(proc: subprocess.Popen[bytes], threshold: int) -> bool:
    """SIGKILL once the process has written `threshold` bytes; False when it ended first."""
    while (done := written(proc.pid)) is not None and done < threshold:
        if ended(proc, 0.002):
            return False
    if done is None:
        pytest.skip("/proc/PID/io cannot tell how far a process got here")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def full_run(history: History, tmp_path_factory: pytest.TempPathFactory) -> int:
    base = tmp_path_factory.mktemp("measure")
    return measure(spawn(history.copy(base / "repo"), base / "cache"))


def after_the_kill(repo: Path, h: History, scratch: Path) -> None:
    """Old or new, never between: it opens and every snapshot restores; nothing of the other state is seen."""
    config = load_config(repo)  # finishes a committed conversion
    if config.encrypted:
        assert unlock(repo, interactive=False)
        assert not conversion.begun(repo) and not (repo / "index.db").exists()
    else:
        assert not (repo / "keys").exists()
    restores_exactly(repo, h, scratch)


def no_strays(repo: Path) -> None:
    with Timekeep.open(repo, writer=True) as tk:
        report = tk.check(read_data=True)
        assert report.problems == (), report.problems
        assert report.packs == len(list(repo.glob("packs/*/*.pack")))
    names = {p.name for p in every_file(repo)}
    assert not [n for n in names if n.endswith(".tmp")] and not conversion.begun(repo)
    assert not [p for p in every_file(repo) if p.name.startswith("index.db")]


def kill_points(total: int, count: int, seed: int) -> list[int]:
    """Points spread over the whole run, from the first writes to the last (seeded, so a failure repeats)."""
    rng = random.Random(seed)
    return [int(total * (i + rng.random()) / count) for i in range(count)]


@pytest.mark.parametrize("point", range(5))
def test_kill_9_leaves_old_or_new_and_the_next_run_finishes(
        history: History, full_run: int, point: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    repo = history.copy(tmp_path / "repo")
    killed = kill_when_written(spawn(repo, cache), kill_points(full_run, 5, 12)[point])
    after_the_kill(repo, history, tmp_path / "after-kill")
    if not load_config(repo).encrypted:
        assert killed
        encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)  # starts over
    assert load_config(repo).encrypted
    no_strays(repo)
    restores_exactly(repo, history, tmp_path / "finished")


@pytest.mark.slow
@pytest.mark.parametrize("point", depth.sample(range(12), 4, seed=13))  # all twelve with TIMEKEEP_FULL_LOOPS=1
def test_kill_9_at_more_points(history: History, full_run: int, point: int, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    repo = history.copy(tmp_path / "repo")
    kill_when_written(spawn(repo, cache), kill_points(full_run, 12, 13)[point])
    after_the_kill(repo, history, tmp_path / "after-kill")
    if not load_config(repo).encrypted:
        encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    no_strays(repo)
    restores_exactly(repo, history, tmp_path / "finished")


# --- a crash at each step after the commit -------------------------------------------------------------------


class Crash(BaseException):
    """Stands for kill -9 between two steps of finishing: nothing after it runs."""


def crashing_at(step: int) -> tuple[SimpleNamespace, SimpleNamespace]:
    """Stand-ins for the os and shutil that core/storage/conversion.py uses: the step-th change to the drive
    (counting from the commit's rename) never happens, and neither does anything after it. A crash inside a
    removal of a folder leaves part of it removed."""
    count = [0]

    def counted(fn: Any, partial: bool = False) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if count[0] == step:
                if partial and Path(args[0]).is_dir():
                    first = next(iter(sorted(Path(args[0]).iterdir())), None)
                    if first is not None and first.is_dir():
                        shutil.rmtree(first)
                raise Crash
            count[0] += 1
            return fn(*args, **kwargs)
        return run

    fake_os = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    for name in ("rename", "replace", "unlink"):
        setattr(fake_os, name, counted(getattr(os, name)))
    fake_shutil = SimpleNamespace(rmtree=counted(shutil.rmtree, partial=True))
    return fake_os, fake_shutil


@pytest.mark.parametrize("step", range(0, 10, 2))
def test_a_crash_at_any_step_after_the_commit_is_finished_by_the_next_opener(
        history: History, step: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crashed_at_step(history, step, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("step", range(1, 10, 2))
def test_a_crash_at_the_other_steps_after_the_commit(
        history: History, step: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crashed_at_step(history, step, tmp_path, monkeypatch)


def crashed_at_step(history: History, step: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    repo = history.copy(tmp_path / "repo")
    with pytest.MonkeyPatch.context() as patch:
        fake_os, fake_shutil = crashing_at(step)
        patch.setattr(conversion, "os", fake_os)
        patch.setattr(conversion, "shutil", fake_shutil)
        with pytest.raises(Crash):
            encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    committed = b'"encryption"' in (repo / "config.json").read_bytes()  # read without finishing anything
    assert committed == (step > 0)  # step 0 is the commit itself
    if step > 0:  # after the commit: finished by the next opener, who waits for no one still holding the lock
        held = WriterLock(repo / "lock")
        held.acquire()
        try:
            with pytest.raises(RepositoryLocked):
                load_config(repo)
        finally:
            held.release()
    after_the_kill(repo, history, tmp_path / "after-crash")
    if not load_config(repo).encrypted:
        encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    no_strays(repo)
    restores_exactly(repo, history, tmp_path / "finished")


def test_a_half_done_copy_confuses_no_other_command_and_the_next_run_starts_over(
        history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    repo = history.copy(tmp_path / "repo")
    with pytest.MonkeyPatch.context() as patch:
        fake_os, fake_shutil = crashing_at(0)  # the whole copy staged, killed just before the commit
        patch.setattr(conversion, "os", fake_os)
        patch.setattr(conversion, "shutil", fake_shutil)
        with pytest.raises(Crash):
            encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    assert conversion.begun(repo) and not load_config(repo).encrypted
    with Timekeep.open(repo, writer=True) as tk:  # the agent backs up meanwhile: the old repository, as ever
        later = tk.backup().id
        assert tk.check(read_data=True).problems == ()
    grown = History(repo, history.src, {**history.trees, later: history.trees[max(history.trees)]})
    restores_exactly(repo, grown, tmp_path / "meanwhile")
    encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    no_strays(repo)
    restores_exactly(repo, grown, tmp_path / "finished")


def chunk_ids(index: Path) -> set[bytes]:
    with contextlib.closing(sqlite3.connect(index)) as db:
        return {row[0] for row in db.execute("SELECT digest FROM chunk")}


def test_a_repository_keeping_its_index_on_this_computer_converts_and_that_index_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src, {FILE_NAME: SECRET_LINE * 3, FOLDER_NAME: {"a.bin": payload(5, 200_000)}})
    repo = tmp_path / "drive" / "repo"
    init_repository(repo, index="local")
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        h = History(repo, src, {tk.backup().id: read_tree(src)})
    rid = load_config(repo).repository_id
    plain_ids = chunk_ids(local_index_home(rid) / "index.db")
    encrypt_repository(repo, PASSPHRASE, argon2=TEST_PARAMS)
    assert load_config(repo).repository_id == rid  # the agent still knows its drive
    assert plain_ids and not plain_ids & chunk_ids(local_index_home(rid) / "index.db")  # the plaintext index went
    no_strays(repo)
    restores_exactly(repo, h, tmp_path / "after")
