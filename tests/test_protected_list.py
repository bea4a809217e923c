"""The list of protected folders the file managers read: written when a writer reads or changes the folders,
one entry per repository, their union under "folders", never rewritten when nothing changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers import make_tree, new_repo
from timekeep.core import protected
from timekeep.core.api import Timekeep
from timekeep.core.protected import list_path, publish, read_list


def listed() -> dict[str, object]:
    return json.loads(list_path().read_text())


def test_adding_and_removing_folders_keeps_the_list_current(tmp_path: Path) -> None:
    docs, photos = tmp_path / "home" / "Documents", tmp_path / "home" / "Photos"
    make_tree(docs, {"a.txt": b"a"})
    make_tree(photos, {"p.jpg": b"p"})
    repo = new_repo(tmp_path, docs)
    assert str(list_path()).startswith(os.environ["XDG_STATE_HOME"])
    assert listed()["folders"] == [str(docs)]
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(photos))
        assert listed()["folders"] == sorted([str(docs), str(photos)])
        tk.remove_folder(os.fsencode(docs))
    assert listed()["folders"] == [str(photos)]
    assert listed()["repositories"] == {str(repo): [str(photos)]}


def test_a_writer_reading_the_folders_restores_a_lost_list_and_a_reader_never_writes(tmp_path: Path) -> None:
    docs = tmp_path / "Documents"
    make_tree(docs, {"a.txt": b"a"})
    repo = new_repo(tmp_path, docs)
    list_path().unlink()
    with Timekeep.open(repo) as tk:
        assert [f.path for f in tk.folders()] == [os.fsencode(docs)]
    assert not list_path().exists()
    with Timekeep.open(repo, writer=True) as tk:
        tk.folders()
    assert read_list() == {str(repo): [str(docs)]}


def test_two_repositories_are_both_kept_and_an_unchanged_list_is_not_written(tmp_path: Path) -> None:
    target = tmp_path / "state" / protected.FILE_NAME
    assert publish("/drive/a", [b"/home/u/Documents"], target)
    assert publish("/drive/b", ["/home/u/Music"], target)
    before = target.stat().st_mtime_ns, target.stat().st_ino
    assert not publish("/drive/a", [b"/home/u/Documents"], target)
    assert (target.stat().st_mtime_ns, target.stat().st_ino) == before
    assert json.loads(target.read_text())["folders"] == ["/home/u/Documents", "/home/u/Music"]


def test_a_damaged_list_reads_as_empty_and_is_written_again(tmp_path: Path) -> None:
    target = tmp_path / protected.FILE_NAME
    target.write_text("{not json")
    assert read_list(target) == {}
    assert publish("/drive/a", [b"/home/u/Documents"], target)
    assert read_list(target) == {"/drive/a": ["/home/u/Documents"]}


def test_the_agent_publishes_what_a_drive_protects_when_it_reads_it(tmp_path: Path) -> None:
    from timekeep.core.agent.destination import Destination

    docs = tmp_path / "Documents"
    make_tree(docs, {"a.txt": b"a"})
    repo = new_repo(tmp_path, docs)
    list_path().unlink()
    drive = Destination(repo)
    assert drive.refresh_folders()
    assert read_list() == {str(repo): [str(docs)]}
    list_path().unlink()
    assert not drive.refresh_folders() and not list_path().exists()  # unchanged: not read or written again
