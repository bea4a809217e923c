"""The damage matrix (issue 9): every piece of a repository damaged as drives damage it, crossed with the next
command a person or the agent runs, then the recovery a person would run.

Each cell copies one small history (damage_support.py), damages one piece, runs one command in process, and
holds it to the promises of issue 9: no traceback and only `timekeep: ` lines on stderr; no exit 0 with wrong
bytes and no wrong file left under a final name; a non-zero exit names the damaged piece, and where the damage
destroyed what the command needed it must be non-zero; nothing on the drive that held data is overwritten,
no snapshot id is used twice, and only `coalesce` deletes, only what an undamaged run deletes. Then the
recovery: `rebuild-index` when the index is damaged (or when a command says to), `backup`, a restore of every
snapshot compared with what it held, and `check --read-data --json`, which must list exactly what the restores
could not bring back. A failing cell lists every promise it broke.

These tests are the specification of the engine being rewritten; many cells fail on today's code by design.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_support import agent_env, paths_for, ready, short_runtime_dir, wait_for
from tests.damage_support import (
    DEFAULT_TARGET,
    DROP,
    Damage,
    Findings,
    History,
    Key,
    Run,
    Thinning,
    build_history,
    data_files,
    drive_broken,
    index_damage,
    index_snapshot_ids,
    keep_index_locally,
    manifest_damage,
    manifest_id,
    pack_damage,
    timekeep,
)
from tests.helpers import PASSPHRASE, Tree, index_file, read_tree
from tests.index_flips import FLIPS, LIVE_FLIPS
from tests.restore_support import in_shares
from tests.treeops import tree_diff, truncate
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.messages import JobFinished
from timekeep.core.agent.protocol import AgentError

ROOT = Path(__file__).resolve().parent.parent

# a bit turned over in a file, version, extent or chunk row of the file the cells ask for, or a file's `live` flag
FLIPPED = (*FLIPS, *LIVE_FLIPS)
INDEX = ("index-missing", "index-empty", "index-half", *FLIPPED, "index-stale")
UNOPENABLE = ("index-missing", "index-empty", "index-half")  # readers say: run `timekeep rebuild-index`
PACK = ("pack-missing", "pack-truncated", "pack-flipped", "pack-flipped-footer")
MANIFEST = ("manifest-missing", "manifest-truncated", "manifest-flipped")
FILES = ("config-garbled", "config-empty", "folders-garbled", "folders-empty")

WRITERS = ("backup", "coalesce", "coalesce-rule", "agent")
READERS = ("restore-file", "restore-folder", "cat", "ls")
BASIC = ("backup", "coalesce", "restore-file", "restore-folder", "cat", "ls", "check", "rebuild-index")
AGENT_ROWS = ("index-missing", "index-stale", "pack-missing", "manifest-flipped", "folders-empty")


# A flipped row under the commands that hand back what it holds, the writers that copy rows into manifests,
# and `check`: not every column four times over.
FLIPPED_COLUMNS = {
    "index-flipped-path": ("backup", "coalesce", "restore-folder", "ls", "check"),
    "index-flipped-version": ("coalesce-rule", "restore-file", "ls", "check"),
    "index-flipped-extent": ("coalesce", "restore-folder", "cat", "check-read-data"),
    "index-flipped-chunk": ("backup", "coalesce-rule", "restore-file", "cat", "check"),
    "index-flipped-live": ("backup", "restore-folder", "ls", "check"),
    "index-flipped-dead": ("backup", "ls", "check"),
}


def columns(name: str) -> tuple[str, ...]:
    """The commands worth crossing with one damage: `coalesce` by the rule (the agent's daily run) where the
    index is hurt, `check --read-data` where data is."""
    if name in FLIPPED:
        return FLIPPED_COLUMNS[name]
    extra = ("coalesce-rule",) if name in INDEX else ()
    extra += ("check-read-data",) if name in PACK else ()
    return BASIC + extra + (("agent",) if name in AGENT_ROWS else ())


CELLS = [(name, command) for name in INDEX + PACK + MANIFEST + FILES for command in columns(name)]
# Again with the index kept on this computer (its cache folder), not on the drive: every damage to the index
# under the main commands, and a representative few to the drive.
MAIN = ("backup", "coalesce", "restore-file", "ls", "check", "rebuild-index")
LOCAL_CELLS = [(n, c) for n in INDEX if n not in FLIPPED for c in MAIN] + [
    ("index-flipped-path", "coalesce"), ("index-flipped-version", "restore-file"),
    ("index-flipped-extent", "cat"), ("index-flipped-chunk", "backup"),
    ("pack-missing", "backup"), ("pack-missing", "coalesce"), ("pack-truncated", "restore-file"),
    ("pack-flipped", "check-read-data"), ("manifest-missing", "backup"), ("manifest-missing", "ls"),
    ("manifest-flipped", "rebuild-index"), ("folders-garbled", "backup")]
# Again encrypted (its index kept on this computer, every pack frame and footer, manifest and folders.json
# sealed): each artifact under a writer and a reader, not every cell again. The local index missing, cut
# short, flipped and stale (an older copy of it); sealed frames and footers flipped; manifests lost or flipped.
# And the agent's whole column, the agent unlocking from $TIMEKEEP_PASSPHRASE (after a reboot, no keyring).
ENCRYPTED_CELLS = [
    ("index-missing", "backup"), ("index-missing", "ls"), ("index-half", "coalesce"),
    ("index-half", "restore-file"), ("index-flipped-path", "backup"),
    ("index-flipped-version", "ls"), ("index-flipped-extent", "cat"), ("index-flipped-chunk", "restore-folder"),
    ("index-flipped-live", "ls"), ("index-flipped-dead", "backup"),
    ("index-stale", "backup"), ("index-stale", "coalesce-rule"), ("index-stale", "ls"),
    ("pack-missing", "backup"), ("pack-truncated", "restore-file"), ("pack-flipped", "check-read-data"),
    ("pack-flipped", "restore-folder"), ("pack-flipped-footer", "rebuild-index"), ("pack-flipped-footer", "backup"),
    ("manifest-missing", "backup"), ("manifest-flipped", "rebuild-index"), ("manifest-flipped", "ls"),
    ("folders-garbled", "backup"), ("config-garbled", "ls")] + [(n, "agent") for n in AGENT_ROWS]
# And a folder restore in shares (core/restore/shares.py: every share walks the folder and meets the damage):
# each damage a folder restore reads past (a stale index it refuses before: no share is made).
SHARED_CELLS = [(n, "restore-folder-shared") for n in (*FLIPPED, *PACK, "manifest-missing")]
MODES = [(n, c, "drive") for n, c in CELLS + SHARED_CELLS] + [(n, c, "local") for n, c in LOCAL_CELLS] + \
    [(n, c, "encrypted") for n, c in ENCRYPTED_CELLS]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def encrypted_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The same history, encrypted; this process keeps it unlocked, as the command it runs would."""
    return build_history(tmp_path_factory.mktemp("encrypted-history"), "encrypted")


@pytest.fixture(autouse=True)
def private_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`backup` first asks a running agent; no agent of this machine's may answer (and the socket path must
    stay short)."""
    runtime = short_runtime_dir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    yield
    shutil.rmtree(runtime, ignore_errors=True)


# --- the damages -------------------------------------------------------------------------------------------------


def file_damage(h: History, repo: Path, name: str) -> Damage:
    """config.json or folders.json emptied, or garbled in the middle."""
    artifact, _, how = name.partition("-")
    path = repo / f"{artifact}.json"
    data = path.read_bytes()
    if how == "empty":
        truncate(path, 0)
    else:  # sixteen bytes in the middle gone to NULs, as a torn sector leaves them
        middle = len(data) // 2
        path.write_bytes(data[: middle - 8] + bytes(16) + data[middle + 8 :])
    return Damage(name, artifact, path, (path.name,), DEFAULT_TARGET, (5, b""))


DAMAGES: dict[str, Callable[[History, Path, str], Damage]] = {
    **dict.fromkeys(INDEX, index_damage), **dict.fromkeys(PACK, pack_damage),
    **dict.fromkeys(MANIFEST, manifest_damage), **dict.fromkeys(FILES, file_damage),
}


# --- what each cell may and must do ----------------------------------------------------------------------------


def expectation(d: Damage, command: str, local: bool = False) -> str:
    """"ok": must work exactly; "fail": must exit non-zero naming the damage; "either": exact or named."""
    if d.artifact == "config":
        return "fail"  # nothing can be read without it
    if local and command.startswith("check") and d.name in (*UNOPENABLE, "index-stale"):
        return "either"  # an index kept on this computer is first brought up to the drive, and says so
    if command.startswith("check"):
        silent = d.name == "pack-flipped" and command == "check"  # only re-reading the data can see it
        return "either" if silent else "fail"
    if d.artifact == "index":
        return "ok" if command == "rebuild-index" else "either"
    if d.artifact == "folders":
        return "ok" if command in READERS else "either"
    if d.artifact == "manifest":
        return "fail" if command == "rebuild-index" else "ok"
    return pack_expectation(d, command)


def pack_expectation(d: Damage, command: str) -> str:
    sid, rel = d.target
    if command in ("restore-file", "cat"):
        return "fail" if (sid, rel) in d.certain else "ok"
    if command == "restore-folder":
        return "fail" if any(k[0] == sid for k in d.certain) else "ok"
    if command == "ls":
        return "ok"
    if command == "rebuild-index":
        return "fail" if d.footer_lost else "either"
    return "either"


# --- one cell ------------------------------------------------------------------------------------------------------


class Cell:
    """A damaged copy of the history, the promises it broke so far, and what the drive held at the last look."""

    def __init__(self, h: History, tmp: Path, name: str, index_mode: str = "drive") -> None:
        self.h, self.tmp = h, tmp
        self.repo = h.copy(tmp / "repo")
        self.local = index_mode != "drive"
        if index_mode == "local":
            keep_index_locally(self.repo)
        self.index = index_file(self.repo)  # known before the damage: config.json may be what is damaged
        self.d = DAMAGES[name](h, self.repo, name)
        self.f = Findings()
        self.drive = data_files(self.repo)
        self.index_ino = inode(self.index)
        self.rebuilt = False  # the index was made anew from the drive (what the drive alone knows is what counts)
        self.dropped: set[int] = set()  # snapshots a thinning took away

    def run(self, *args: str) -> Run:
        return timekeep(self.repo, *args)

    def fresh(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="to-", dir=self.tmp))

    def index_rebuilt(self) -> bool:
        """Was the index made anew from the drive (by the recovery, a command, or the engine on its own)?"""
        return self.rebuilt or inode(self.index) != self.index_ino

    def at_risk(self) -> set[Key]:
        """What the damage may cost by now: more once the index was rebuilt from the drive."""
        return self.d.at_risk(self.index_rebuilt())

    def must(self, run: Run, why: str) -> bool:
        return self.f.clean_run(run) and self.f.expect(run.code == 0, f"{why}: {run}")


def inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def matches(got: tuple[str, bytes, int] | None, want: tuple[str, bytes, int] | None) -> bool:
    """Same kind and, for files and links, the same bytes (a folder's mode is set last and may lag on failure)."""
    if got is None or want is None or got[0] != want[0]:
        return False
    return got[0] == "dir" or got[1] == want[1]


def judge_written(cell: Cell, run: Run, got: Tree, truth: Tree, strict: set[bytes] = frozenset()) -> set[bytes]:
    """Every file a restore left is exact (or absent); exit 0 means the whole tree is exact; `strict` files must
    be there. Returns the files and links that did not come back exactly."""
    f = cell.f
    failed = {rel for rel, entry in truth.items() if entry[0] != "dir" and not matches(got.get(rel), entry)}
    if run.code == 0:
        f.expect(got == truth, lambda: f"{run}: exit 0 but the restored tree differs: {tree_diff(truth, got)}")
        return failed
    wrong = sorted(rel for rel in got if not matches(got[rel], truth.get(rel)))
    f.expect(not wrong, lambda: f"{run}: left wrong or unknown files under final names: {wrong[:5]}")
    missed = sorted(failed & strict)
    f.expect(not missed, lambda: f"{run}: files whose pieces are intact did not come back: {missed[:5]}")
    return failed


# --- the commands --------------------------------------------------------------------------------------------------


def restore_file(cell: Cell) -> Run:
    sid, rel = cell.d.target
    dest = cell.fresh()
    run = cell.run("restore", cell.h.path(rel), "--at", str(sid), "--to", str(dest))
    judge_written(cell, run, read_tree(dest), {os.path.basename(rel): cell.h.trees[sid][rel]})
    return run


def restore_folder(cell: Cell) -> Run:
    sid = cell.d.target[0]
    dest = cell.fresh()
    run = cell.run("restore", str(cell.h.src), "--at", str(sid), "--to", str(dest))
    truth = cell.h.trees[sid]
    possible = cell.at_risk()
    partial = run.code in (0, 1) and cell.d.artifact in ("pack", "manifest", "folders")
    strict = {rel for rel, e in truth.items() if e[0] != "dir" and (sid, rel) not in possible} if partial else set()
    judge_written(cell, run, read_tree(dest / cell.h.src.name), truth, strict)
    return run


def cat(cell: Cell) -> Run:
    sid, rel = cell.d.target
    run = cell.run("cat", cell.h.path(rel), "--at", str(sid))
    want = cell.h.trees[sid][rel][1]
    if run.code == 0:
        cell.f.expect(run.out == want, lambda: f"{run}: exit 0 with wrong bytes ({len(run.out)} bytes, "
                                               f"{len(want)} stored)")
    return run


def ls(cell: Cell) -> Run:
    sid, rel = cell.d.listed
    run = cell.run("ls", cell.h.path(rel), "--at", str(sid), "--json")
    if run.code == 0:
        try:
            shown = {e["name"]: (e["kind"], e["size"] if e["kind"] == "file" else 0) for e in run.json()}
        except (ValueError, KeyError, TypeError):
            shown = {}
        want = children(cell.h.trees[sid], rel)
        differ = sorted(shown.items() ^ want.items())[:4]
        cell.f.expect(shown == want, lambda: f"{run}: exit 0 with a wrong listing: {differ}")
    return run


def children(tree: Tree, folder: bytes) -> dict[str, tuple[str, int]]:
    return {os.fsdecode(os.path.basename(rel)): (kind, len(data) if kind == "file" else 0)
            for rel, (kind, data, _) in tree.items() if os.path.dirname(rel) == folder}


def simple(*args: str) -> Callable[[Cell], Run]:
    return lambda cell: cell.run(*args)


COMMANDS: dict[str, Callable[[Cell], Run]] = {
    "backup": simple("backup"),
    "coalesce": simple("coalesce", "--drop", str(DROP)),
    "coalesce-rule": simple("coalesce"),
    "restore-file": restore_file,
    "restore-folder": restore_folder,
    "cat": cat,
    "ls": ls,
    "check": simple("check"),
    "check-read-data": simple("check", "--read-data"),
    "rebuild-index": simple("rebuild-index"),
}


# --- the agent: started on the damaged drive, asked for one storage time ---------------------------------------------


def agent_start(cell: Cell) -> Run:
    """`timekeep agent` on the repository, asked for one storage time once it answers. Its outcome stands in for
    an exit code (0 a snapshot, 1 an error); what it logged and printed must hold no traceback."""
    runtime = short_runtime_dir()
    env = agent_env(runtime, cell.tmp / "home")
    if cell.h.encrypted:  # this computer's cache (where the index is) and no keyring: it unlocks from its environment
        env.update(XDG_CACHE_HOME=os.environ["XDG_CACHE_HOME"], TIMEKEEP_PASSPHRASE=PASSPHRASE,
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    settings = Path(env["XDG_CONFIG_HOME"]) / "timekeep" / "agent.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"interval_minutes": 24 * 60, "at_shutdown": False, "journal_max_paths": 10**9,
                                    "quiet_seconds": 0, "tick_seconds": 0.05}))
    proc = subprocess.Popen([sys.executable, "-m", "timekeep.core.cli.main", "agent", "--repo", str(cell.repo)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    paths = paths_for(env)
    try:
        wait_for(lambda: proc.poll() is not None or ready(paths), 30, 0.05, "the agent to start")
        finished = one_storage_time(paths.socket, cell.repo) if proc.poll() is None else {}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)
    log = paths.log_file.read_text(errors="replace") if paths.log_file.exists() else ""
    for where, text in (("stderr", err.decode(errors="replace")), ("log", log), ("job", str(finished))):
        cell.f.expect("Traceback" not in text and "internal error" not in text,
                      lambda where=where, text=text: f"the agent's {where} shows a crash: {text[-1500:]}")
    if not finished:  # the agent ended before it answered: what it said is its message
        return Run(("agent",), proc.returncode, b"", err)
    message = f"timekeep: {finished.get('error') or ''}\n".encode() if finished.get("error") else b""
    return Run(("agent", "+ backup_now"), 0 if finished.get("ok") else 1, b"", message)


def one_storage_time(socket: Path, repo: Path) -> dict[str, Any]:
    """Ask the agent for a storage time on `repo` and wait for its end: its job_finished event (or the refusal)."""
    client = AgentClient.connect(socket, timeout=60)
    assert client is not None, "the agent stopped answering"
    with client:
        client.subscribe()
        try:
            job = client.backup_now(repo).job
        except AgentError as err:
            return {"ok": False, "error": str(err)}
        for event in client.events(timeout=60):
            if isinstance(event, JobFinished) and event.job == job:
                return event.to_wire()
    return {"ok": False, "error": "the storage time did not end within a minute"}


COMMANDS["agent"] = agent_start


# --- judging the command -------------------------------------------------------------------------------------------


def judge_command(cell: Cell, command: str, run: Run) -> None:
    d, f = cell.d, cell.f
    if command != "agent":
        f.clean_run(run)
    wanted = expectation(d, command, cell.local)
    said = run.text if command.startswith("check") else run.err_text
    failed = run.code not in (0, None)
    f.expect(wanted != "ok" or run.code == 0, lambda: f"{run}: should work despite {d.name}")
    f.expect(wanted != "fail" or failed, lambda: f"{run}: exit 0 although {d.name} destroyed what it needs")
    if failed:
        f.expect(d.named(said) or names_target(cell, command, said),
                 lambda: f"{run}: the message does not name the damaged piece ({d.names or d.manifest})")
    if d.artifact == "index":
        judge_index_rules(cell, command, run, said)
    after = data_files(cell.repo)
    allowed = cell.h.thinning["drop" if command == "coalesce" else "rule"] if command.startswith("coalesce") else None
    judge_drive(cell, cell.drive, after, f"`{command}`", allowed)
    if allowed is not None:
        cell.dropped = {manifest_id(n) or 0 for n in cell.drive.keys() - after.keys() if manifest_id(n)}
    cell.drive = after


def names_target(cell: Cell, command: str, said: str) -> bool:
    """Readers of a flipped index may name the file they could not vouch for instead of the index."""
    rel = cell.d.listed[1] if command == "ls" else cell.d.target[1]
    return cell.d.name in FLIPPED and command in READERS and os.fsdecode(os.path.basename(rel)) in said


def judge_index_rules(cell: Cell, command: str, run: Run, said: str) -> None:
    """Readers of a missing or unopenable index exit 2 telling the person to run `timekeep rebuild-index`;
    writers rebuild it first (saying so) or refuse with that remedy, and never write through it."""
    d, f = cell.d, cell.f
    failed = run.code not in (0, None)
    if command in READERS and d.name in UNOPENABLE and failed:
        f.expect(run.code == 2 and "rebuild-index" in said, lambda: f"{run}: should exit 2 saying to run "
                                                                  "`timekeep rebuild-index`")
    if command not in WRITERS or d.name in FLIPPED:
        return
    if failed:
        f.expect("rebuild-index" in said, lambda: f"{run}: refuses without the remedy `timekeep rebuild-index`")
        return
    if command != "agent":
        f.expect("index" in run.err_text,
                 lambda: f"{run}: wrote through the damaged index ({d.name}) without saying it rebuilt it first")
    known = index_snapshot_ids(cell.repo) or set()
    on_drive = {manifest_id(n) for n in data_files(cell.repo)} - {None}
    f.expect(on_drive <= known, lambda: f"{run}: afterwards the index does not know snapshots "
                                        f"{sorted(on_drive - known)} on the drive (it wrote without rebuilding)")


def judge_drive(cell: Cell, before: dict[str, str], after: dict[str, str], when: str,
                allowed: Thinning | None) -> None:
    repair = frozenset({cell.d.manifest}) if cell.d.name == "manifest-missing" else frozenset()
    for broken in drive_broken(before, after, allowed, cell.h.max_id, repair):
        cell.f.expect(False, f"{when} {broken}")


# --- the recovery a person runs ----------------------------------------------------------------------------------


def recover(cell: Cell) -> None:
    """Put back what a person can (config.json from a copy), `rebuild-index` if the index is damaged or a
    command says to, `add` the folder again if folders.json is what stops the backup; then `backup`, restore
    every snapshot, and `check --read-data --json`."""
    h, d, f = cell.h, cell.d, cell.f
    before = data_files(cell.repo)
    if d.artifact == "config":
        shutil.copyfile(h.repo / "config.json", cell.repo / "config.json")
    if d.artifact == "index":
        cell.rebuilt = True
        cell.must(cell.run("rebuild-index"), "recovery: rebuild-index")
    backup = cell.run("backup")
    if backup.code == 2 and "rebuild-index" in backup.err_text:
        cell.rebuilt = True
        cell.must(cell.run("rebuild-index"), "recovery: rebuild-index, as `backup` said")
        backup = cell.run("backup")
    elif d.artifact == "folders" and backup.code != 0:
        cell.must(cell.run("add", str(h.src)), "recovery: add the folder again")
        backup = cell.run("backup")
    cell.must(backup, "recovery: backup")
    listing = cell.run("snapshots", "--json")
    if not cell.must(listing, "recovery: snapshots"):
        return
    ids = {s["id"] for s in listing.json()}
    may_vanish = {d.manifest} if d.manifest is not None and cell.index_rebuilt() else set()
    gone = sorted(set(h.trees) - cell.dropped - may_vanish - ids)
    f.expect(not gone, lambda: f"after the recovery, snapshots {gone} are gone although their manifests are intact")
    failed: set[Key] = set()
    for sid in sorted(ids):
        failed |= restore_snapshot(cell, sid)
    judge_check(cell, failed)
    judge_drive(cell, before, data_files(cell.repo), "the recovery", None)


def restore_snapshot(cell: Cell, sid: int) -> set[Key]:
    """Restore a whole snapshot and hold it to the ground truth; returns the (snapshot, file) pairs that did not
    come back. A fixture snapshot loses only what the damage may cost; a new one (of the current tree) may lose
    what the damage costs it, but must say so."""
    h, f = cell.h, cell.f
    truth = h.trees.get(sid) if sid in h.trees else h.current if sid > h.max_id else None
    if not f.expect(truth is not None, f"snapshot {sid} is listed, but no snapshot {sid} was ever taken of this"):
        return set()
    assert truth is not None
    possible = cell.at_risk()
    dest = cell.fresh()
    run = cell.run("restore", str(h.src), "--at", str(sid), "--to", str(dest), "--json", "--quiet")
    f.clean_run(run)
    strict = {rel for rel, e in truth.items() if e[0] != "dir" and (sid, rel) not in possible} if sid in h.trees \
        else set()
    failed = judge_written(cell, run, read_tree(dest / h.src.name), truth, strict)
    reported = reported_paths(cell, run, sid)
    silent = sorted(rel for rel in failed if not any(covers(r, rel) for r in reported))
    f.expect(not silent or run.code == 0,  # exit 0 with files missing is reported above
             lambda: f"snapshot {sid}: {len(silent)} files did not come back and the restore did not say so: "
                     f"{silent[:5]}")
    return {(sid, rel) for rel in failed}


def covers(reported: bytes, rel: bytes) -> bool:
    """A failure reported for a folder (b"": the whole snapshot) covers everything beneath it."""
    return reported in (b"", rel) or rel.startswith(reported + b"/")


def reported_paths(cell: Cell, run: Run, sid: int) -> set[bytes]:
    """The paths (relative) a restore said it could not bring back; all of them when it refused the snapshot."""
    if run.code in (0, 1):
        try:
            errors = run.json()["errors"]
        except (ValueError, KeyError, TypeError):
            cell.f.expect(False, f"{run}: `restore --json` did not print its JSON report")
            return set()
        return {os.path.relpath(os.fsencode(e["path"]), cell.h.folder) for e in errors}
    cell.f.expect(cell.d.named(run.err_text) or f"snapshot {sid}" in run.err_text,
                  lambda: f"{run}: refused snapshot {sid} without naming the damage")
    return {b""}


def judge_check(cell: Cell, failed: set[Key]) -> None:
    """`check --read-data --json` is valid JSON listing exactly what the restores could not bring back (by
    snapshot and path); exit 1 and the damaged piece named while anything is lost or damaged, else exit 0."""
    d, f = cell.d, cell.f
    run = cell.run("check", "--read-data", "--json")
    f.clean_run(run)
    try:
        report = run.json()
    except ValueError:
        f.expect(False, f"{run}: not JSON: {run.out[:200]!r}")
        return
    lost = report.get("lost") if isinstance(report, dict) else None
    manifest_gone = d.manifest is not None and cell.index_rebuilt() and not d.rewritten()
    damaged = d.persists() or manifest_gone
    f.expect(isinstance(lost, list) or not (failed or damaged),  # with nothing lost, no list says the same
             "`check --json` has no `lost` list (each lost file by `snapshot` and `path`)")
    listed = {(e.get("snapshot"), os.path.relpath(os.fsencode(e.get("path") or ""), cell.h.folder))
              for e in lost or [] if isinstance(e, dict)}
    if isinstance(lost, list) and not manifest_gone:  # no list can be exact when a manifest is gone
        f.expect(listed == failed, lambda: f"`check --json` lists as lost {sorted(listed - failed)[:4]} that came "
                                           f"back, and not {sorted(failed - listed)[:4]} that did not")
    f.expect(run.code == (1 if failed or damaged else 0), lambda: f"{run}: wrong exit for "
             f"{len(failed)} lost files and {'the' if damaged else 'no'} damage left on the drive")
    if damaged:
        f.expect(d.named(run.text), lambda: f"{run}: does not name the damaged piece ({d.names or d.manifest})")


# --- the matrix ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("damaged", "command", "index_mode"), MODES,
                         ids=[f"{n}-{c}" + ("" if m == "drive" else f"-{m}") for n, c, m in MODES])
def test_cell(request: pytest.FixtureRequest, tmp_path: Path, damaged: str, command: str, index_mode: str) -> None:
    history = request.getfixturevalue("encrypted_history" if index_mode == "encrypted" else "history")
    cell = Cell(history, tmp_path, damaged, index_mode)
    shared = command.endswith("-shared")
    command = command.removesuffix("-shared")
    with pytest.MonkeyPatch.context() as patch:
        forks = in_shares(patch) if shared else []
        run = COMMANDS[command](cell)
    cell.f.expect(len(forks) == shared, lambda: f"{run}: {len(forks)} shares forked")
    judge_command(cell, command, run)
    recover(cell)
    if index_mode != "drive":
        on_drive = sorted(p.name for p in cell.repo.glob("index.db*"))
        cell.f.expect(not on_drive, f"the index is kept on this computer, yet the drive holds {on_drive}")
    cell.f.verdict()


# --- the key slots of an encrypted drive -----------------------------------------------------------------------


@pytest.mark.parametrize("slot", ["passphrase", "recovery"])
@pytest.mark.parametrize("how", ["missing", "truncated", "flipped"])
def test_a_damaged_key_slot_the_other_slot_still_opens(encrypted_history: History, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, slot: str, how: str) -> None:
    """One of the two key slots lost, cut short or flipped: a process that has not unlocked the drive opens it
    with the other slot's secret, backs up, and every snapshot restores exactly; the damaged slot's own secret
    is refused in one line (exit 2), and nothing else is read."""
    from timekeep.core.crypto import sealing
    from timekeep.core.storage.layout import load_config

    h = encrypted_history
    cell = Cell(h, tmp_path, "index-missing", "encrypted")  # a computer new to the drive: no index yet
    slots = {p: p.read_bytes() for p in (cell.repo / "keys").glob("*.json")}
    (damaged,) = [p for p, data in slots.items() if f'"kind": "{slot}"'.encode() in data.replace(b'":"', b'": "')]
    if how == "missing":
        damaged.unlink()
    elif how == "truncated":
        truncate(damaged, len(slots[damaged]) // 2)
    else:
        data = bytearray(slots[damaged])
        data[data.index(b'"wrapped"') + 14] ^= 0x5A
        damaged.write_bytes(bytes(data))
    secrets = {"passphrase": PASSPHRASE, "recovery": h.recovery}
    rid = load_config(cell.repo).repository_id
    sealing.forget(rid)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", secrets[slot])
    refused = cell.run("snapshots")
    cell.f.clean_run(refused)
    cell.f.expect(refused.code == 2 and len(refused.err_text.strip().splitlines()) == 1 and
                  (how == "missing" or damaged.stem in refused.err_text or "passphrase" in refused.err_text.lower()
                   or "recovery key" in refused.err_text.lower()),
                  f"the damaged slot's own secret: {refused}")
    sealing.forget(rid)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", secrets["recovery" if slot == "passphrase" else "passphrase"])
    recover(cell)  # rebuild-index (a computer new to the drive), backup, every snapshot restored, check
    cell.f.verdict()
