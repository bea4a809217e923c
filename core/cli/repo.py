"""What a command's arguments point at: the repository (--repo, $TIMEKEEP_REPO) and paths as bytes; and, once per
repository, the notice that other users can read it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from timekeep.core.errors import DriveGone, NotARepository, TimekeepError, UsageError

if TYPE_CHECKING:
    from timekeep.core.api import Timekeep
    from timekeep.core.types import Progress

REPO_ENV = "TIMEKEEP_REPO"


def repo_path(args: argparse.Namespace) -> str | Path:
    """`--repo` if given, else $TIMEKEEP_REPO, else the repository in settings.json (the one the window set
    up); a UsageError (exit 2) if none. A folder comes back absolute; s3://bucket/prefix comes back located
    (the root every call of the command shares, on the server `--endpoint` names or the one remembered)."""
    path = getattr(args, "repo", None) or os.environ.get(REPO_ENV) or configured_repository()
    if not path:
        raise UsageError(f"no repository given: use --repo PATH or set {REPO_ENV} (or set one up in the "
                         "Timekeep window)")
    from timekeep.core.api import is_remote, locate

    if is_remote(path):
        return locate(path, endpoint_given(args))
    if endpoint_given(args):
        raise UsageError(f"--endpoint is for a repository in a bucket (s3://bucket/prefix), not for {path}")
    return os.path.abspath(path)


def endpoint_given(args: argparse.Namespace) -> str | None:
    """The --endpoint of the command line, if any: remembered for the repository once the command worked."""
    return getattr(args, "endpoint", None)


def configured_repository() -> str | None:
    """The repository settings.json names; a UsageError in one line when that file is unusable."""
    from timekeep.core import settings
    from timekeep.core.agent.launch import settings_file

    return settings.configured_repository(settings.read(settings_file()))


def open_repo(args: argparse.Namespace, writer: bool = False, progress: Callable[[Progress], None] | None = None
              ) -> Timekeep:
    """The repository, open; what opening found and did (an index rebuilt, a lost manifest written again) is
    said on stderr, one line each. `progress` follows a rebuild a writer may need first."""
    tk = _open(args, writer, progress)
    for note in tk.notes:
        print(f"timekeep: {note}", file=sys.stderr)
    return tk


def _open(args: argparse.Namespace, writer: bool, progress: Callable[[Progress], None] | None) -> Timekeep:
    from timekeep.core.api import (  # here, not at the top: a backup through the agent never opens the repository
        Timekeep,
        is_remote,
        out_of_reach,
    )

    path = repo_path(args)
    unreachable = None if writer else out_of_reach(path)
    if unreachable is not None:  # one quick look says so: the retries of a full open would only make it wait
        return _offline(args, path, unreachable)
    try:
        unlock(args, path)
        tk = Timekeep.open(path, writer=writer, progress=progress)
        remember_endpoint(args, path)
    except DriveGone as gone:
        if writer or not is_remote(path):
            raise
        return _offline(args, path, gone)
    except NotARepository:
        from timekeep.core.api import missing_drive

        absent = missing_drive(path)
        kept = None if writer else _away_store(args, path, absent or f"the repository {path} is not there")
        if kept is not None:
            return kept
        if absent is None:
            raise
        raise NotARepository(absent) from None  # say the drive is away, not that the folder is not a repository
    try:
        tell_if_exposed(tk.root, tk.repository_id)
    except BaseException:
        tk.close()
        raise
    return tk


def _away_store(args: argparse.Namespace, path: str | Path, absent: str) -> Timekeep | None:
    """While the drive is away, what the agent kept on this computer meanwhile is read in its place (an
    encrypted one opened with the drive's passphrase)."""
    from timekeep.core.api import Timekeep, away_store

    given = getattr(args, "passphrase_file", None)
    found = away_store(path, Path(given) if given else None, interactive=True)
    if found is None:
        return None
    print(f"timekeep: {absent}; showing the snapshots kept on this computer while it is away (trigger "
          "\"away\"), which move onto the drive when it is back", file=sys.stderr)
    return Timekeep.open(found)


def _offline(args: argparse.Namespace, path: str | Path, gone: DriveGone) -> Timekeep:
    """The bucket is out of reach: its history as this computer's index holds it, read-only, and where the
    snapshots its away store kept meanwhile are read (a repository of its own). Without an index of it here,
    the bucket's own error."""
    from timekeep.core.api import away_store_of, away_summary, open_offline

    given = getattr(args, "passphrase_file", None)
    tk = open_offline(path, Path(given) if given else None, interactive=True)
    if tk is None:
        raise gone
    kept, store = away_summary(path), away_store_of(str(path))
    if kept is not None and store is not None:
        print(f"timekeep: {kept}, not in this list: `timekeep --repo {store} snapshots` lists them",
              file=sys.stderr)
    return tk


def remember_endpoint(args: argparse.Namespace, root: str | Path) -> None:
    """An --endpoint that just opened an S3 repository is the one later commands, the agent and the window use."""
    from timekeep.core.api import remember_endpoint as remember

    remember(root, endpoint_given(args))


def unlock(args: argparse.Namespace, path: str | Path) -> None:
    """Unlock an encrypted repository before anything reads its drive ($TIMEKEEP_PASSPHRASE, --passphrase-file,
    the keyring, the terminal); nothing for an unencrypted one."""
    from timekeep.core.api import unlock as unlock_repository
    from timekeep.core.api import unlock_away_store

    given = getattr(args, "passphrase_file", None)
    if not unlock_away_store(path, Path(given) if given else None):
        unlock_repository(path, Path(given) if given else None)


def state_folder() -> Path:
    from timekeep.core.agent.launch import state_folder as folder

    return folder()


def tell_if_exposed(root: Path, repository_id: str) -> None:
    """Once per repository: say on stderr that other users can read it and how to fix that; on a terminal,
    offer to fix it now. Advice only: the command goes on whatever happens here."""
    from timekeep.core.api import answer_notice, notice, notice_due

    state = state_folder()
    try:
        found = notice_due(root, repository_id, state)
    except OSError:
        return  # a repository that cannot be looked through fails the command itself, in its own words
    if not found:
        return
    print(f"timekeep: {notice(root, found)}", file=sys.stderr)
    fix = sys.stdin.isatty() and sys.stderr.isatty() and _yes("Make it private now? [Y/n] ")
    try:
        answer_notice(root, repository_id, state, fix)
    except (TimekeepError, OSError) as err:
        print(f"timekeep: {err}", file=sys.stderr)
    else:
        if fix:
            print(f"timekeep: {root} is now readable by you alone", file=sys.stderr)


def _yes(question: str) -> bool:
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return bool(answer) and answer.strip().lower() in ("", "y", "yes")


def user_path(text: str) -> bytes:
    """A path made absolute, resolving only its parent's symlinks so that a link itself can be named."""
    absolute = os.path.abspath(text)
    parent, name = os.path.split(absolute)
    return os.fsencode(os.path.join(os.path.realpath(parent), name))


def folder_path(text: str) -> bytes:
    """A folder to protect, fully resolved: the real place its files live."""
    return os.fsencode(os.path.realpath(text))


@contextmanager
def cancel_on_interrupt(cancel: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets `cancel` so the engine stops cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first_interrupt(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
