"""Commands that change or verify a repository: init, add, remove, folders, backup, check, rebuild-index,
make-private."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core.cli.exits import CANCELLED, FAILED, backup_exit
from timekeep.core.cli.key_cmd import offer_keyring, recovery_lines
from timekeep.core.cli.output import (
    failures,
    folder_json,
    folder_line,
    plural,
    print_backup,
    print_json,
    print_skipped,
    show_path,
)
from timekeep.core.cli.progress import make_reporter
from timekeep.core.cli.repo import cancel_on_interrupt, folder_path, open_repo, repo_path, state_folder, unlock
from timekeep.core.cli.via_agent import backup_via_agent
from timekeep.core.errors import BackupCancelled, NothingChanged, PassphraseUnavailable, UsageError
from timekeep.core.types import Lost, SnapshotInfo

if TYPE_CHECKING:
    from timekeep.core.types import CheckReport


def cmd_init(args: argparse.Namespace) -> int:
    from timekeep.core import api

    path = str(args.path) if api.is_remote(args.path) else os.path.abspath(args.path)
    endpoint = getattr(args, "endpoint", None)
    if endpoint and not api.is_remote(path):
        raise UsageError(f"--endpoint is for a repository in a bucket (s3://bucket/prefix), not for {path}")
    if not args.here and (refusal := api.init_refusal(path)) is not None:
        raise UsageError(refusal)  # an empty mount point: the repository would land on the system disk
    passphrase, given = None, getattr(args, "passphrase_file", None)
    if args.encryption != "none":
        passphrase = _init_passphrase(Path(given) if given else None)
    # --index local: the index in this computer's cache folder
    recovery = api.init_repository(path, index=args.index, encryption=args.encryption, passphrase=passphrase,
                                   endpoint=endpoint)
    quoted = shlex.quote(path)
    print(f"Created an empty {'encrypted ' if recovery else ''}repository at {path}.")
    if recovery:
        print("\n".join(recovery_lines(recovery)))
    if passphrase is not None:
        offer_keyring(path, passphrase, args.keyring, not api.passphrase_given(Path(given) if given else None))
    print(f"Use it with --repo {quoted} or: export TIMEKEEP_REPO={quoted}")
    print("Next: timekeep add FOLDER, then timekeep backup.")
    return 0


def _init_passphrase(given: Path | None) -> str:
    from timekeep.core import api

    try:
        return api.new_passphrase(given)
    except PassphraseUnavailable:
        raise PassphraseUnavailable("No passphrase for the new repository's encryption: set TIMEKEEP_PASSPHRASE, "
                                    "give --passphrase-file FILE, run in a terminal, or make an unencrypted one "
                                    "with --encryption none.") from None


def cmd_add(args: argparse.Namespace) -> int:
    with open_repo(args, writer=True) as tk:
        folder = tk.add_folder(folder_path(args.folder), tuple(args.exclude), not args.no_default_excludes)
    extra = f" (also excluding {', '.join(args.exclude)})" if args.exclude else ""
    print(f"Protecting {show_path(folder.path)}{extra}; `timekeep backup` takes its first snapshot.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    path = folder_path(args.folder)
    with open_repo(args, writer=True) as tk:
        tk.remove_folder(path)
    print(f"No longer protecting {show_path(path)}.")
    return 0


def cmd_folders(args: argparse.Namespace) -> int:
    with open_repo(args) as tk:
        folders = tk.folders()
    if args.json:
        print_json([folder_json(f) for f in folders])
    elif not folders:
        print("No folders are protected yet: timekeep add FOLDER")
    else:
        print("\n".join(folder_line(f) for f in folders))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    reporter = make_reporter(sys.stderr, args.quiet, args.json)
    via_agent = backup_via_agent(args, reporter)  # the agent knows what changed; else scan directly
    if via_agent is not None:
        return via_agent
    cancel = threading.Event()
    with open_repo(args, writer=True, progress=reporter) as tk:
        said = len(tk.notes)
        try:
            with cancel_on_interrupt(cancel):
                snap = tk.backup(trigger="manual", progress=reporter, cancel=cancel, skip_unchanged=True)
            for note in tk.notes[said:]:  # an index found damaged midway, and rebuilt
                print(f"timekeep: {note}", file=sys.stderr)
        except (BackupCancelled, KeyboardInterrupt):
            reporter.close()
            print("backup cancelled; nothing was lost", file=sys.stderr)
            return CANCELLED
        except NothingChanged as unchanged:
            reporter.close()
            print_skipped(str(unchanged), args.json, args.quiet)
            return 0
        reporter.close()
        errors = tk.snapshot_errors(snap.id)
    print_backup(snap, errors, args.json, args.quiet)
    return backup_exit(snap, failures(errors))


def cmd_check(args: argparse.Namespace) -> int:
    reporter = make_reporter(sys.stderr, False, args.json)
    with open_repo(args) as tk:
        try:
            report = tk.check(read_data=args.read_data, progress=reporter)
        finally:
            reporter.close()
    if args.json:
        print_json(check_json(report))
    else:
        print("\n".join(check_lines(report, args.read_data)))
    return 0 if report.ok else 1


def check_json(report: CheckReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "packs": report.packs,
        "chunks": report.chunks,
        "snapshots": report.snapshots,
        "chunks_read": report.chunks_read,
        "problems": list(report.problems),
        "notes": list(report.notes),
        "lost": [{"snapshot": sid, "path": os.fsdecode(item.path) if item.path is not None else None,
                  "reason": item.reason} for item in report.lost for sid in item.snapshots],
    }


def check_lines(report: CheckReport, read_data: bool) -> list[str]:
    read = f", re-read {plural(report.chunks_read, 'chunk')}" if read_data else ""
    counts = (f"{plural(report.packs, 'pack')}, {plural(report.chunks, 'chunk')} and "
              f"{plural(report.snapshots, 'snapshot')}")
    found = len(report.problems) + len(report.lost)
    verdict = "no problems found." if report.ok else f"{plural(found, 'problem')} found:"
    head = f"Checked {counts}{read}: {verdict}"
    from timekeep.core.api import describe_lost

    lost = [f"  lost: {describe_lost(item)}" for item in report.lost]
    return [head, *(f"  problem: {p}" for p in report.problems), *lost, *(f"  note: {n}" for n in report.notes)]


def cmd_rebuild_index(args: argparse.Namespace) -> int:
    """Exit 0 when the drive gave back everything, 1 when something was found lost (listed on stderr, and
    in `lost` with --json)."""
    reporter = make_reporter(sys.stderr, args.json, False)
    try:
        from timekeep.core import api

        path = repo_path(args)
        unlock(args, path)
        report = api.rebuild_index(path, progress=reporter)
    finally:
        reporter.close()
    if args.json:
        print_json({"snapshots": report.snapshots, "latest": report.latest.id if report.latest else None,
                    "problems": report.problems, "repaired": report.repaired,
                    "lost": [item.to_json() for item in report.lost]})
    else:
        print(rebuild_sentence(report.latest, report.snapshots))
        for problem in report.problems:
            print(f"timekeep: {problem}", file=sys.stderr)
        for reason, count in lost_reasons(report.lost).items():
            print(f"timekeep: {plural(count, 'file version')} lost: {reason}; `timekeep check` lists them",
                  file=sys.stderr)
    return FAILED if report.problems or report.lost else 0


def lost_reasons(lost: Iterable[Lost]) -> dict[str, int]:
    """How many file versions were lost for each reason (a whole lost snapshot is said on its own)."""
    counts: dict[str, int] = {}
    for item in lost:
        if item.path is not None:
            reason = item.reason.removeprefix("its pieces are lost: ")
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def rebuild_sentence(latest: SnapshotInfo | None, snapshots: int) -> str:
    if latest is None:
        return "Rebuilt index.db from the drive; the repository holds no snapshots yet."
    return (f"Rebuilt the index (index.db) from what the drive holds: {plural(snapshots, 'snapshot')}, the latest "
            f"is {latest.id}.")


def cmd_make_private(args: argparse.Namespace) -> int:
    """Take every group and other permission off the repository's files and folders (chmod -R go-rwx,
    symbolic links neither changed nor followed). Needs no lock: a running backup's files are private anyway."""
    from pathlib import Path

    from timekeep.core.api import is_remote, make_private, remember_notice, repository_id

    located = repo_path(args)
    if is_remote(located):
        raise UsageError(f"{located} is in a bucket, whose objects have no file permissions: who may read it is "
                         "set by the bucket's policy on its server")
    root = Path(located)
    rid = repository_id(root)  # a repository, or the one-line reason it is not
    changed = make_private(root)
    remember_notice(rid, state_folder())
    if changed:
        print(f"{root} is now readable by you alone ({plural(changed, 'file or folder', 'files and folders')} "
              "changed).")
    else:
        print(f"{root} was already readable by you alone.")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop app as a program of its own: the engine never imports Qt (tests/test_architecture.py
    holds it to that). A repository named with --repo or $TIMEKEEP_REPO is the one it opens."""
    repo = getattr(args, "repo", None) or os.environ.get("TIMEKEEP_REPO")
    where = ["--repo", repo if repo.startswith("s3://") else os.path.abspath(repo)] if repo else []
    if getattr(sys, "frozen", False):  # a PyInstaller bundle, whose Python is the program itself: its sibling
        os.execv(gui := os.path.join(os.path.dirname(sys.executable), "timekeep-gui"), [gui, *where])
    os.execv(sys.executable, [sys.executable, "-m", "timekeep.gui.app", *where])
    return 0  # not reached: execv replaces this process
