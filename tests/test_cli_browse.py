"""Looking back from the command line: aligned tables, a file's log with its deletions and renames, names
that are not UTF-8 in JSON any language can read, and `ls` from above the protected folders."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.test_cli import ENTRY_FIELDS, Cli, exact
from tests.test_cli import cli as cli
from timekeep.core.api import Timekeep
from timekeep.core.index.journal import JournalEntry
from timekeep.core.index.moves import NEW

TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def _protect(cli: Cli, files: dict[str, bytes], *more: Path) -> None:
    for name, data in files.items():
        (cli.docs / name).write_bytes(data)
    cli.ok("init", str(cli.repo), "--encryption", "none")
    for folder in (cli.docs, *more):
        cli.ok("add", str(folder))


def test_the_snapshots_table_stays_aligned_whatever_the_trigger(cli: Cli) -> None:
    _protect(cli, {"a.txt": b"a"})
    triggers = ["manual", "drive-connected", "before-coalesce", "backup-now", "hourly"]
    with Timekeep.open(cli.repo, writer=True) as tk:
        for n, trigger in enumerate(triggers):
            (cli.docs / "a.txt").write_bytes(b"a" * (n + 1) * 5000)
            tk.backup(trigger=trigger)
    lines = cli.ok("snapshots").out.splitlines()
    assert len(lines) == 1 + len(triggers) and len({len(line) for line in lines}) == 1  # right edges meet
    start = lines[0].index("TRIGGER")
    scanned = lines[0].index("SCANNED")
    for line, trigger in zip(lines[1:], triggers, strict=True):
        assert line[start:].startswith(trigger + " ") and line[start - 2 : start] == "  "
        assert re.fullmatch(r" *1", line[scanned : scanned + len("SCANNED")])


def test_log_shows_a_deletion_as_deleted_with_no_size_mode_or_time(cli: Cli) -> None:
    _protect(cli, {"gone.txt": b"soon gone"})
    cli.backup()
    (cli.docs / "gone.txt").unlink()
    cli.backup()
    lines = cli.ok("log", str(cli.docs / "gone.txt")).out.splitlines()
    assert re.fullmatch(rf" +1  {TIME}  created +9  -[rwx-]{{9}}  {TIME}", lines[1]), lines
    assert re.fullmatch(rf" +2  {TIME}  deleted", lines[2]), lines
    assert "1970" not in lines[2] and "----------" not in lines[2]
    versions = cli.json("log", str(cli.docs / "gone.txt"))
    assert [v["state"] for v in versions] == ["created", "deleted"] and versions[1]["origin"] is None


def test_log_says_what_a_version_was_renamed_from(cli: Cli) -> None:
    """A rename the agent's watcher journaled: the moved file's history goes back through its old name."""
    _protect(cli, {"draft.txt": b"the draft, before its rename"})
    cli.backup()
    old, new = os.fsencode(cli.docs / "draft.txt"), os.fsencode(cli.docs / "final.txt")
    os.rename(old, new)
    with Timekeep.open(cli.repo, writer=True) as tk:
        root = os.fsencode(cli.docs)
        tk.journal.record([JournalEntry(root, new, 28, origin=old), JournalEntry(root, old, 0, origin=NEW)], 1)
        tk.backup(dirty=tk.journal.pending())
    versions = cli.json("log", str(cli.docs / "final.txt"))
    assert [(v["snapshot_id"], v["origin"]) for v in versions] == [(1, None), (2, str(cli.docs / "draft.txt"))]
    lines = cli.ok("log", str(cli.docs / "final.txt")).out.splitlines()
    assert lines[2].endswith(f"  renamed from {cli.docs / 'draft.txt'}") and "renamed" not in lines[1]


NOT_UTF8 = b"caf\xe9.txt"


def test_names_that_are_not_utf8_round_trip_through_json_any_reader_can_parse(cli: Cli) -> None:
    bad = os.path.join(os.fsencode(cli.docs), NOT_UTF8)
    with open(bad, "wb") as f:
        f.write(b"latin-1 name")
    os.symlink(NOT_UTF8, os.path.join(os.fsencode(cli.docs), b"link"))
    _protect(cli, {"plain.txt": b"plain"})
    cli.backup()
    outputs = {
        "ls": cli.ok("ls", str(cli.docs), "--json").out,
        "log": cli.ok("log", str(cli.docs / "link"), "--json").out,
        "restore": cli.ok("restore", os.fsdecode(bad), "--to", str(cli.tmp / "out"), "--json").out,
    }
    for command, text in outputs.items():
        assert not re.search(r"\\ud[89a-f]", text, re.I), command  # no lone surrogates for other readers
        text.encode("ascii")  # escaped, so valid UTF-8 in any locale
    entries = {exact(e, "name"): e for e in json.loads(outputs["ls"])}
    assert set(entries) == {NOT_UTF8, b"link", b"plain.txt"}
    latin = entries[NOT_UTF8]
    assert latin["name"] == "caf\ufffd.txt" and exact(latin, "path") == bad and set(latin) == ENTRY_FIELDS | {
        "name_b64", "path_b64"}
    assert set(entries[b"plain.txt"]) == ENTRY_FIELDS  # valid names get no extra field
    assert exact(entries[b"link"], "link_target") == NOT_UTF8
    assert exact(json.loads(outputs["log"])[0], "link_target") == NOT_UTF8
    restored = json.loads(outputs["restore"])
    assert base64_list(restored, "written") == [os.path.join(os.fsencode(cli.tmp / "out"), NOT_UTF8)]


def base64_list(record: dict[str, object], key: str) -> list[bytes]:
    """A list of names from `--json`, each exact (`<key>_b64` holds null for the valid ones)."""
    import base64

    texts, raws = record[key], record.get(f"{key}_b64")
    assert isinstance(texts, list)
    if raws is None:
        return [t.encode() for t in texts]
    assert isinstance(raws, list) and len(raws) == len(texts)
    return [base64.b64decode(r) if r is not None else t.encode() for t, r in zip(texts, raws, strict=True)]


def test_ls_above_the_protected_folders_lists_them_as_folders(cli: Cli) -> None:
    home = cli.docs.parent
    camera = home / "Pictures" / "Camera"
    camera.mkdir(parents=True)
    (camera / "img.jpg").write_bytes(b"jpeg")
    _protect(cli, {"a.txt": b"a"}, camera)
    cli.backup()
    entries = cli.json("ls", str(home))
    assert [(e["name"], e["kind"]) for e in entries] == [("Documents", "dir"), ("Pictures", "dir")]
    documents, pictures = entries
    assert isinstance(documents["mode"], int) and documents["snapshot_id"] == 1  # a protected folder, stored
    assert pictures["mode"] is None and pictures["mtime"] is None and set(pictures) == ENTRY_FIELDS
    lines = cli.ok("ls", str(home)).out.splitlines()
    assert re.fullmatch(rf"d rwx\S+ +\d+ {TIME} \* Documents/", lines[0]), lines
    assert lines[1] == "d" + " " * 46 + "Pictures/" and lines[1].index("P") == lines[0].index("D") and len(lines) == 2
    assert [e["name"] for e in cli.json("ls", str(home / "Pictures"))] == ["Camera"]
    assert [e["name"] for e in cli.json("ls", str(camera))] == ["img.jpg"]
    assert [e["name"] for e in cli.json("ls", str(home.parent))] == ["home"]
    missing = cli("ls", str(home / "Music"))
    assert missing.code == 2 and missing.err == f"timekeep: {home / 'Music'} was never backed up\n"
