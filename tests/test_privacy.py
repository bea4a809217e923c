"""A repository is private to its owner: what Timekeep creates is 0600 (files) and 0700 (folders) whatever
the umask, and another local user can read nothing in it. An existing repository that others can read is
reported once per repository (on a terminal, with an offer to fix it), and `timekeep make-private` fixes it
without following links. The desktop app makes the same offer through its prompts."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_tree, new_repo
from tests.test_cli import ROOT, Cli, one_error_line
from tests.test_cli import cli as cli
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.storage.atomic import atomic_write, create_private, make_private_dir
from timekeep.core.storage.layout import Layout, load_config
from timekeep.core.storage.pack import PackWriter
from timekeep.core.storage.privacy import exposed, notice_due
from timekeep.gui.app import TimekeepApp
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings

NOBODY = 65534
CREATED_ELSEWHERE = ("index.db", ".manifest")  # the index's and the manifests' own writers set their modes


@pytest.fixture
def umask() -> Iterator[None]:
    """The most permissive umask: whatever is private below is private by Timekeep's own doing."""
    old = os.umask(0)
    yield
    os.umask(old)


def modes_under(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_a_new_repository_is_private_whatever_the_umask(tmp_path: Path, umask: None) -> None:
    docs = tmp_path / "docs"
    make_tree(docs, {"a.txt": b"alpha", "b.bin": os.urandom(300_000)})
    repo = new_repo(tmp_path, docs)
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
        tk.set_compression_level(5)  # config.json written again
    modes = {rel: mode for rel, mode in modes_under(repo).items()
             if not any(part in rel for part in CREATED_ELSEWHERE)}
    assert {"config.json", "folders.json", "lock", "packs", "snapshots"} <= modes.keys()
    assert any(rel.endswith(".pack") for rel in modes)
    for rel, mode in modes.items():
        want = 0o700 if (repo / rel).is_dir() else 0o600
        assert mode == want, f"{rel} is {mode:o}"
    assert exposed(repo) == []


def test_an_empty_folder_made_beforehand_becomes_private(tmp_path: Path, umask: None) -> None:
    repo = tmp_path / "repo"
    repo.mkdir(mode=0o777)
    init_repository(repo)
    assert stat.S_IMODE(repo.stat().st_mode) == 0o700


def test_temporaries_and_new_folders_are_private_too(tmp_path: Path, umask: None) -> None:
    layout = Layout(tmp_path / "repo")
    layout.packs.mkdir(parents=True)
    writer = PackWriter(layout)
    writer.add(b"\x01\x00\x00\x00" + (5).to_bytes(4, "little") * 2 + b"hello", [(b"d" * 32, 0, 5)])
    [tmp] = layout.packs.glob(".*.tmp")
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
    writer.abort()
    os.umask(0o277)  # even one that takes the owner's own bits
    os.close(create_private(tmp_path / "f"))
    make_private_dir(tmp_path / "d")
    atomic_write(tmp_path / "w", b"x")
    assert [stat.S_IMODE((tmp_path / n).stat().st_mode) for n in "fdw"] == [0o600, 0o700, 0o600]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="timekeep-private-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


TRY_ALL = """
import json, os, sys
results = {}
for path in json.loads(sys.stdin.read()):
    try:
        if os.path.isdir(path) or path.endswith("/"):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        results[path] = "read"
    except OSError as err:
        results[path] = err.errno
print(json.dumps(results))
"""


def as_nobody(paths: list[str]) -> dict[str, object]:
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c", TRY_ALL]
    run = subprocess.run(command, input=json.dumps(paths), env={"PATH": os.environ["PATH"]}, cwd="/",
                         capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, object] = json.loads(run.stdout)
    return result


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_another_user_can_read_nothing_in_a_new_repository(shared_tmp: Path) -> None:
    docs = shared_tmp / "docs"
    make_tree(docs, {"secret.txt": b"for my eyes only"})
    (docs / "secret.txt").chmod(0o600)
    old = os.umask(0o022)  # the usual one, under which files used to be readable by all
    try:
        repo = new_repo(shared_tmp, docs)
        with Timekeep.open(repo, writer=True) as tk:
            tk.backup()
    finally:
        os.umask(old)
    everything = [str(repo), *(os.path.join(folder, name) for folder, dirs, files in os.walk(repo)
                               for name in (*dirs, *files))]
    assert len(everything) > 8
    results = as_nobody([str(repo.parent), *everything])
    assert results.pop(str(repo.parent)) == "read"  # the way in is open: only the repository keeps them out
    assert set(results.values()) == {13}, {p: r for p, r in results.items() if r != 13}  # EACCES, every one


def exposed_repo(cli: Cli) -> Path:
    """A repository as the first release left it: readable by everyone."""
    cli.ok("init", str(cli.repo), "--encryption", "none")
    for folder, _dirs, files in os.walk(cli.repo):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return cli.repo


def test_an_exposed_repository_is_reported_once(cli: Cli, tmp_path: Path) -> None:
    repo = exposed_repo(cli)
    first = cli("folders")
    assert first.code == 0 and first.out.startswith("No folders")
    line = one_error_line(first.err)
    assert "other users" in line and str(repo) in line and "timekeep make-private" in line
    assert exposed(repo) != []  # not a terminal: told, not changed
    again = cli("folders")
    assert again.code == 0 and again.err == ""
    other = Cli(tmp_path / "second", cli.capsys)
    exposed_repo(other)
    assert "other users" in one_error_line(other("snapshots").err)  # another repository: told about too


def test_make_private_takes_every_group_and_other_bit_and_follows_no_link(cli: Cli, tmp_path: Path) -> None:
    repo = exposed_repo(cli)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the repository's")
    outside.chmod(0o644)
    (repo / "link").symlink_to(outside)
    (repo / "packs" / "ab").mkdir(mode=0o755)
    (repo / "packs" / "ab" / "x.pack").write_bytes(b"")
    fixed = cli("make-private")
    assert fixed.code == 0 and "readable by you alone" in fixed.out and fixed.err == ""
    modes = modes_under(repo)
    assert all(mode & 0o077 == 0 for rel, mode in modes.items() if rel != "link"), modes
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert exposed(repo) == []
    assert cli("folders").err == ""
    assert "already" in cli("make-private").out


def test_make_private_refuses_a_folder_that_is_not_a_repository(cli: Cli, tmp_path: Path) -> None:
    run = cli("make-private", repo=False)
    assert run.code == 2
    cli.repo.mkdir(parents=True)
    run = cli("make-private")
    assert run.code == 2 and "not a Timekeep repository" in one_error_line(run.err)


def on_terminal(repo: Path, answer: bytes) -> tuple[int, bytes]:
    """`timekeep folders` with a terminal for stdin and stderr, answering its question with `answer`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    main, tty = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "timekeep.core.cli.main", "folders", "--repo", str(repo)], cwd=ROOT,
                            env=env, stdin=tty, stderr=tty, stdout=subprocess.DEVNULL)
    os.close(tty)
    said = b""
    try:
        while proc.poll() is None or select.select([main], [], [], 0)[0]:
            if not select.select([main], [], [], 30)[0]:
                break
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the other end closed
                break
            said += chunk
            if said.endswith(b"[Y/n] "):
                os.write(main, answer)
    finally:
        os.close(main)
        proc.wait(timeout=30)
    return proc.returncode, said


@pytest.mark.parametrize("answer, private", [(b"\n", True), (b"y\n", True), (b"n\n", False)])
def test_on_a_terminal_it_offers_to_fix_it(cli: Cli, answer: bytes, private: bool) -> None:
    repo = exposed_repo(cli)
    code, said = on_terminal(repo, answer)
    assert code == 0 and b"Make it private now? [Y/n]" in said and b"Traceback" not in said
    assert (exposed(repo) == []) is private
    assert (b"now readable by you alone" in said) is private
    code, said = on_terminal(repo, b"y\n")
    assert code == 0 and said == b""  # asked once


def test_the_desktop_app_offers_to_fix_it(qtbot, cli: Cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = exposed_repo(cli)
    state = tmp_path / "state"
    prompts = ScriptedPrompts()
    prompts.confirmations.append(True)
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache", state_dir=state), prompts,
                      AppSettings(repository=str(repo)), tray=False)
    app.start()
    assert app.window is not None
    qtbot.addWidget(app.window)
    try:
        qtbot.waitUntil(lambda: any(kind == "confirm" for kind, _, _ in prompts.said), timeout=10_000)
        [(_, _title, text)] = [s for s in prompts.said if s[0] == "confirm"]
        assert str(repo) in text and "readable by you alone" in text
        qtbot.waitUntil(lambda: exposed(repo) == [], timeout=10_000)
        assert notice_due(repo, load_config(repo).repository_id, state) == []
    finally:
        app.shut_down()
