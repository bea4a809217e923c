"""The shape of the house, checked on the source rather than hoped for: the engine never depends on Qt or on
the GUI; the GUI and the CLI come in through one door; the storage wing reads the drive without the index;
comments point inside the repository."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CORE = ROOT / "core"
FORBIDDEN = ("PySide6", "timekeep.gui", "shiboken6", "gui")
# what the GUI and the CLI may import of the engine: the facade, its plain records and errors, the agent's
# typed client, the connection beneath it (the CLI's slim path speaks it without the records) and its door, the
# pure path helpers, and the settings file they share with the agent
THE_DOOR = tuple(f"timekeep.core.{name}" for name in (
    "api", "types", "errors", "paths", "units", "agent.client", "agent.connection", "agent.messages", "agent.launch",
    "settings"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # a module or a name in one
    return names


def offenders(folder: Path, allowed: tuple[str, ...], within: str = "timekeep.core") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in folder.rglob("*.py"):
        bad = sorted(name for name in imported_modules(path)
                     if name.startswith(within + ".") and name != "timekeep.core.__version__"
                     and not any(name == a or name.startswith(a + ".") for a in allowed))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_core_imports_neither_qt_nor_gui() -> None:
    bad = {str(path.relative_to(ROOT)): name for path in CORE.rglob("*.py") for name in imported_modules(path)
           if name.startswith(tuple(f"{f}." for f in FORBIDDEN)) or name in FORBIDDEN}
    assert bad == {}


def test_the_gui_and_the_cli_come_in_through_the_door() -> None:
    """Everything the window and the command line do to a repository goes through timekeep.core.api (and the agent's
    client): the engine's wings stay free to change behind it."""
    assert offenders(ROOT / "gui", THE_DOOR) == {}
    # and the scan's prefetch, which the command line forks before it loads the door (core/capture/prefetch.py)
    assert offenders(CORE / "cli", (*THE_DOOR, "timekeep.core.cli", "timekeep.core.capture.prefetch")) == {}


def test_storage_reads_the_drive_without_the_index() -> None:
    """The layers point one way: storage (the on-drive format) never imports the index, capture, restore or
    the coalescer, so the drive can always be read without them."""
    above = tuple(f"timekeep.core.{name}" for name in ("index", "capture", "restore", "coalesce", "api", "repository"))
    bad = {str(p.relative_to(ROOT)): sorted(n for n in imported_modules(p) if n.startswith(above))
           for p in (CORE / "storage").rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_comments_point_inside_the_repository() -> None:
    """A reader of the project cannot follow DESIGN.md, STYLE.md or claim numbers: they are not in it."""
    pattern = re.compile(r"DESIGN\.md|STYLE\.md|DESIGN §|\bclaims? \d")
    cited = [f"{p.relative_to(ROOT)}:{n}" for folder in (CORE, ROOT / "gui") for p in folder.rglob("*.py")
             for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert cited == []


def test_core_files_stay_small() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    assert sizes and max(sizes.values()) <= 600, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_installed_packages_claim_no_generic_names() -> None:
    """The source folders `core/` and `gui/` are installed as `timekeep.core` and `timekeep.gui`: every module
    imports them by those names, and pyproject.toml lists every package folder (a missing one would be absent
    from an installed copy)."""
    bare = re.compile(r"^\s*(from|import)\s+(core|gui)\b", re.MULTILINE)
    found = [str(p.relative_to(ROOT)) for folder in (CORE, ROOT / "gui", ROOT / "tests", ROOT / "bench")
             for p in folder.rglob("*.py") if bare.search(p.read_text())]
    assert found == []
    listed = set(re.findall(r'"(timekeep\.[\w.]+)"', (ROOT / "pyproject.toml").read_text()))
    folders = {"timekeep." + ".".join(init.parent.relative_to(ROOT).parts)
               for top in ("core", "gui") for init in (ROOT / top).rglob("__init__.py")}
    assert folders <= listed


def test_a_drive_command_does_not_load_the_s3_client() -> None:
    """boto3 takes about 0.1 s to import: every command on a drive paid it when the offline open imported the
    S3 backend at the top of a module the facade loads. It loads when a bucket is used, not before; so does
    botocore, whose exceptions the S3 requests' retry rule names. Nor does the keyring's library load before
    a passphrase is kept or looked up, nor `cryptography` (about 11 ms) before a key is."""
    code = ("import sys, timekeep.core.api, timekeep.core.cli.main; "
            "print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('boto3', 'botocore', 'keyring', 'cryptography')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_command_line_entry_loads_little_before_it_knows_the_command() -> None:
    """Every `timekeep` command starts by importing its entry, and a backup the running agent takes needs no more
    than the slim path (socket, json, signal): the engine's records, the parser and the index's library load only
    on the full path, and neither `typing` (~2 ms) nor `datetime` load at all, nor the collector's own module
    before it is used (bench/README.md, "Startup and imports")."""
    code = ("import sys; before = set(sys.modules); import timekeep.core.cli.main; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "timekeep.core.cli.slim" in loaded
    assert not loaded & {"typing", "datetime", "dataclasses", "argparse", "peewee", "timekeep.core.types",
                         "timekeep.core.api", "timekeep.core.cli.parser", "timekeep.core.cli.collector"}, sorted(loaded)


def backed_up_once(tmp_path: Path) -> None:
    """A repository at tmp_path/repo protecting tmp_path/docs (one file), with one snapshot."""
    from timekeep.core.api import Timekeep, init_repository

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_bytes(b"kept" * 1000)
    init_repository(tmp_path / "repo")
    with Timekeep.open(tmp_path / "repo", writer=True) as tk:
        tk.add_folder(bytes(tmp_path / "docs"))
        tk.backup()


def test_a_restore_loads_nothing_of_backing_up_thinning_or_checking(tmp_path: Path) -> None:
    """`timekeep restore` of one file imports what it uses: the facade loads the journal (and the scanner beneath
    it), the backup, the thinning and the check only when they are called (bench/README.md, "Fourth pass: the
    image": ~26 ms of CPU at every command's start)."""
    backed_up_once(tmp_path)
    code = ("import sys; from timekeep.core.cli.main import main; "
            f"done = main(['restore', {str(tmp_path / 'docs' / 'a.txt')!r}, '--to', {str(tmp_path / 'out')!r}, "
            f"'--quiet', '--repo', {str(tmp_path / 'repo')!r}]); print(done, ' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    said, loaded = done.stdout.split(" ", 1)
    assert said == "0" and (tmp_path / "out" / "a.txt").read_bytes() == b"kept" * 1000, done.stderr
    assert "timekeep.core.restore.restore" in loaded.split()  # the check sees a real restore's modules
    unused = {"timekeep.core.journaling", "timekeep.core.capture.scan", "timekeep.core.storing",
              "timekeep.core.thinning", "timekeep.core.check"}
    assert not unused & set(loaded.split()), sorted(unused & set(loaded.split()))


def test_a_backup_of_an_unencrypted_drive_loads_no_keys_no_rebuild_no_migration(tmp_path: Path) -> None:
    """A `timekeep backup` with one file touched spends much of its time importing (bench/README.md, "Start-up,
    second pass"): the keys' code, the rebuild and the catching up, the schema migrations, the time parser and
    the capture processes' channel load only when an encrypted repository, a damaged or behind index, an old
    schema, a time or a first capture process asks for them; the records of the other commands (a check's
    report, find's and diff's answers...) when one is made."""
    from timekeep.core.api import Timekeep

    backed_up_once(tmp_path)
    (tmp_path / "docs" / "a.txt").write_bytes(b"touched")
    code = ("import sys; from timekeep.core.cli.main import main; "
            f"done = main(['backup', '--quiet', '--repo', {str(tmp_path / 'repo')!r}]); "
            "print(done, ' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
                               "XDG_RUNTIME_DIR": str(tmp_path / "no-agent")})
    said, loaded = done.stdout.split(" ", 1)
    assert said == "0", done.stderr
    with Timekeep.open(tmp_path / "repo") as tk:  # the backup the check watched was a real one
        assert len(tk.snapshots()) == 2
    assert "timekeep.core.capture.backup" in loaded.split()
    unused = {"timekeep.core.crypto.keys", "timekeep.core.crypto.kdf", "timekeep.core.crypto.sealing",
              "timekeep.core.rekeying", "timekeep.core.key_export", "timekeep.core.storage.conversion",
              "timekeep.core.index.rebuild", "timekeep.core.index.catchup", "playhouse.migrate",
              "timekeep.core.timespec", "timekeep.core.capture.channel", "pickle", "timekeep.core.report_types"}
    assert not unused & set(loaded.split()), sorted(unused & set(loaded.split()))
