"""A big folder restored from a process that runs threads (the window) is restored by a `timekeep restore` of
its own, which can share it over the cores (core/restore/apart.py): what it writes, and what it says (every name
exact, every error, the progress), is what a restore in the caller's process would write and say; a passphrase
the caller holds reaches it through a pipe; where it gives no result, the caller restores in its own process."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import PASSPHRASE, make_tree, read_tree
from tests.restore_support import restored_apart
from tests.restore_support import src as src
from tests.test_gui_window import history as history
from tests.test_gui_window import restore_sub_elsewhere
from tests.test_gui_window import running as running
from tests.treeops import flip, pack_file
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.restore import shares
from timekeep.core.storage import frame
from timekeep.core.types import Progress, RestoreResult
from timekeep.core.units import size

ODD = b"caf\xe9 menu.txt"  # not UTF-8
MIB = 1 << 20


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[RestoreResult | None]:
    return restored_apart(monkeypatch)


def made(src: Path, tmp_path: Path, encrypted: bool = False) -> tuple[Path, int]:
    make_tree(src, {"a.txt": b"alpha\n", "big.bin": os.urandom(3 * MIB), "sub": {"b.txt": b"beta\n", "c": {}},
                    "link": "-> a.txt"})
    (src / os.fsdecode(ODD)).write_bytes(b"soup\n")
    repo = tmp_path / "drive" / "Timekeep" / "repo"
    if encrypted:
        init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    else:
        init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        return repo, tk.backup().id


def on_a_thread(repo: Path, path: Path, sid: int, dest: Path, secret: str | None = None,
                progress: list[Progress] | None = None) -> RestoreResult:
    """As the window restores: on a worker thread (so the process runs threads), asking for it apart."""
    with Timekeep.open(repo) as tk, ThreadPoolExecutor(1) as pool:
        return pool.submit(tk.restore, os.fsencode(path), sid, os.fsencode(dest), False,
                           None if progress is None else progress.append, True, secret).result()


def test_a_big_folder_is_restored_by_a_command_of_its_own_exactly(
        src: Path, tmp_path: Path, commands: list[RestoreResult | None]) -> None:
    repo, sid = made(src, tmp_path)
    progress: list[Progress] = []
    result = on_a_thread(repo, src, sid, tmp_path / "out", progress=progress)
    assert commands == [result] and result is not None, "the command restored it, and its result is the one given"
    assert read_tree(tmp_path / "out" / "src") == read_tree(src)
    assert result.errors == () and result.warnings == ()
    names = {os.path.relpath(p, os.fsencode(tmp_path / "out" / "src")) for p in result.written}
    assert names == {b"a.txt", b"big.bin", b"sub/b.txt", b"link", ODD}, "each name written, its bytes exact"
    assert progress and progress[-1].bytes_done == 3 * MIB + len(b"alpha\nbeta\nsoup\n")
    again = on_a_thread(repo, src, sid, tmp_path / "out", progress=progress)  # all there: nothing written
    assert again.written == () and again.unchanged == 5 and commands[-1] == again


def test_an_encrypted_repository_is_unlocked_by_the_passphrase_piped_to_the_command(
        src: Path, tmp_path: Path, commands: list[RestoreResult | None]) -> None:
    repo, sid = made(src, tmp_path, encrypted=True)
    result = on_a_thread(repo, src, sid, tmp_path / "out", secret=PASSPHRASE)
    assert commands == [result]
    assert read_tree(tmp_path / "out" / "src") == read_tree(src)


def test_where_the_command_gives_no_result_the_folder_is_restored_in_this_process(
        src: Path, tmp_path: Path, commands: list[RestoreResult | None]) -> None:
    repo, sid = made(src, tmp_path, encrypted=True)
    result = on_a_thread(repo, src, sid, tmp_path / "out")  # no passphrase for the command to unlock with
    assert commands == [None]
    assert read_tree(tmp_path / "out" / "src") == read_tree(src)
    assert len(result.written) == 5 and result.errors == ()


def test_the_commands_errors_are_the_restores_each_path_exact(
        src: Path, tmp_path: Path, commands: list[RestoreResult | None]) -> None:
    repo, sid = made(src, tmp_path)
    with Timekeep.open(repo) as tk:
        digest = tk.plan(os.fsencode(src / "big.bin"), sid).pieces[-1].digest
        where = tk._repo.source.locate([digest])[digest]  # type: ignore[attr-defined]
    flip(pack_file(repo, where.pack), where.offset + frame.FRAME.size + where.inner + 1, 0x10)
    result = on_a_thread(repo, src, sid, tmp_path / "out")
    (error,) = result.errors
    assert commands == [result]
    assert error.path == os.fsencode(src / "big.bin") and digest.hex()[:16] in error.message
    assert not (tmp_path / "out" / "src" / "big.bin").exists()
    assert (tmp_path / "out" / "src" / os.fsdecode(ODD)).read_bytes() == b"soup\n"


def test_a_file_or_a_process_with_one_thread_is_never_handed_over(
        src: Path, tmp_path: Path, commands: list[RestoreResult | None], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, sid = made(src, tmp_path)
    monkeypatch.setattr(shares, "alone", lambda: True)
    monkeypatch.setattr(shares, "SHARES", 1)  # nor shared here: a one-core machine
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src), sid, os.fsencode(tmp_path / "one"), apart=True)
    monkeypatch.setattr(shares, "alone", lambda: False)
    on_a_thread(repo, src / "big.bin", sid, tmp_path / "file")
    assert commands == []
    assert (tmp_path / "file" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert read_tree(tmp_path / "one" / "src") == read_tree(src)


def test_the_windows_restore_to_of_a_big_folder_is_run_apart(  # type: ignore[no-untyped-def]
        qtbot, running, tmp_path: Path, commands: list[RestoreResult | None]) -> None:
    _app, window, prompts, _docs, states = running
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    elsewhere = restore_sub_elsewhere(qtbot, running, tmp_path)
    assert shown[0] in {f"Restoring sub… {size(n)} written" for n in (6, 5, 11)}, "the command's progress, shown"
    assert len(commands) == 1 and commands[0] is not None and len(commands[0].written) == 2
    assert read_tree(elsewhere / "sub") == {k[4:]: v for k, v in states[1].items() if k.startswith(b"sub/")}
    assert prompts.said[-1][0] == "inform" and prompts.said[-1][2].endswith(f"into {elsewhere}: 2 items written.")
