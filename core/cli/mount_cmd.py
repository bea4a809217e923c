"""`timekeep mount` and `timekeep unmount`: history as a read-only folder for any file manager.

`mount` goes to the background once the kernel has the mount (a file manager is the reader, not the terminal),
as borg does; `--foreground` stays attached, as restic does, and Ctrl-C unmounts. The background mount is a
fork made after the repository was unlocked, so a passphrase typed once serves it; it is told apart from the
command by its record and its log in the agent's state folder (`mounts/`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from timekeep.core.cli import exits
from timekeep.core.cli.repo import open_repo, repo_path, state_folder, unlock
from timekeep.core.errors import TimekeepError, UsageError


class MountUnavailable(UsageError):
    """No FUSE on this computer: nothing was done (exit 2)."""


def records_folder() -> Path:
    return state_folder() / "mounts"


def cmd_mount(args: argparse.Namespace) -> int:
    from timekeep.core.api import mount_unavailable, mountpoint_checked

    missing = mount_unavailable()
    if missing is not None:
        raise MountUnavailable(missing)
    mountpoint = mountpoint_checked(Path(args.mountpoint))
    unlock(args, repo_path(args))
    if args.foreground:
        _serve(args, mountpoint, lambda: print(f"History is mounted at {mountpoint}; Ctrl-C unmounts it.",
                                               flush=True))
        return exits.DONE
    return _background(args, mountpoint)


def _serve(args: argparse.Namespace, mountpoint: Path, ready: Callable[[], None]) -> None:
    from timekeep.core.api import serve_mount

    with open_repo(args) as tk:
        serve_mount(tk, mountpoint, records_folder(), ready)


def _background(args: argparse.Namespace, mountpoint: Path) -> int:
    """Fork; the child mounts and says "ok" (or its error) through a pipe once the kernel has the mount, and the
    command returns then, so what follows (a file manager opened on it) finds it there."""
    from timekeep.core.api import mount_log

    records = records_folder()
    records.mkdir(parents=True, exist_ok=True, mode=0o700)
    logged = mount_log(records, mountpoint)
    sys.stdout.flush()
    sys.stderr.flush()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the mount's process: its own session, its output to the log
        os.close(reader)
        ended = _child(args, mountpoint, logged, writer)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(ended)  # never back into the command's own ending: the parent says what happened
    os.close(writer)
    with os.fdopen(reader, "rb") as said:
        answer = said.read().decode(errors="replace")
    if answer.startswith("ok"):
        print(f"History is mounted at {mountpoint} (process {pid}, log {logged}); `timekeep unmount "
              f"{mountpoint}` unmounts it.")
        return exits.DONE
    code, _, message = answer.partition("\t")
    os.waitpid(pid, 0)
    print(f"timekeep: {message.strip() or f'the mount ended at once; its log {logged} says why'}",
          file=sys.stderr)
    return int(code) if code.isdigit() else exits.FAILED


def _child(args: argparse.Namespace, mountpoint: Path, logged: Path, writer: int) -> int:
    os.setsid()
    fd = os.open(logged, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    told = False

    def ready() -> None:
        nonlocal told
        os.write(writer, b"ok")
        os.close(writer)
        told = True

    try:
        _serve(args, mountpoint, ready)
    except TimekeepError as err:
        if not told:
            os.write(writer, f"{err.exit_code}\t{err}".encode())
        print(f"timekeep: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # the log keeps the whole story; the command says one line
        logging.getLogger("timekeep.mount").exception("the mount failed")
        if not told:
            os.write(writer, f"{exits.FAILED}\t{err}".encode())
        return exits.FAILED
    return exits.DONE


def cmd_unmount(args: argparse.Namespace) -> int:
    from timekeep.core.api import unmount

    unmount(Path(args.mountpoint), records_folder())
    print(f"Unmounted {os.path.abspath(args.mountpoint)}.")
    return exits.DONE
