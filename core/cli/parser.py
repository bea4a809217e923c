"""`timekeep`'s argument parser, dispatch to a command, one-line errors, no tracebacks (the entry point is
`timekeep.core.cli.main`)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import TypeAlias

from timekeep.core import __version__
from timekeep.core.cli import exits
from timekeep.core.errors import TimekeepError

Command = Callable[[argparse.Namespace], int]


def lazy(module: str, name: str) -> Command:
    """A command whose module is imported only when it runs: `timekeep backup` should not pay for
    loading what `restore` or the agent need (a tenth of a second of a quick backup)."""

    def command(args: argparse.Namespace) -> int:
        found: Command = getattr(importlib.import_module(f"timekeep.core.cli.{module}"), name)
        return found(args)

    command.__name__ = name
    return command

TIME_HELP = (
    "the time to look at: latest (default), a snapshot id (12), an ISO date or time "
    "(2026-11-20, '2026-11-20 14:03'; local time unless it has Z or an offset), "
    "or a relative time ('2 hours ago', 3d ago, yesterday)"
)
DESCRIPTION = (
    "Timekeep keeps every version your folders have been through on a drive, "
    "and gets any file or folder back exactly as it was at any snapshot."
)


def parse_and_run(argv: list[str] | None = None) -> int:
    """Run one command; its exit code is one of timekeep.core.cli.exits (0 done, 1 failed, 2 bad usage or repository,
    3 a backup that could not read some files, 4 the backup drive could not be written, 130 cancelled)."""
    parser = build_parser(None if argv is None else chosen_command(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and argparse's own usage errors
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help()  # no command named: the whole parser was built
        return 0
    return run(args.func, args)


def run(command: Command, args: argparse.Namespace) -> int:
    """Call the command, turning deliberate errors into one line on stderr and their exit code."""
    try:
        return command(args)
    except TimekeepError as err:
        return fail(str(err), err.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        return exits.FAILED
    except OSError as err:
        return fail(_os_message(err), exits.FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", exits.CANCELLED)


def fail(message: str, code: int) -> int:
    print(f"timekeep: {' '.join(message.split())}", file=sys.stderr)
    return code


def _os_message(err: OSError) -> str:
    if err.strerror and err.filename is not None:
        return f"{err.strerror}: {os.fsdecode(err.filename)}"
    return str(err)


def _silence_stdout() -> None:
    """The reader went away (`timekeep ls | head`): drop what is left instead of failing again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` (a command's name) alone: a parser costs argparse a few look-ups
    of its message catalogue, so all ~40 of them are ~5 ms of CPU that one command does not need."""
    parser = argparse.ArgumentParser(prog="timekeep", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"timekeep {__version__}")
    parser.add_argument("--repo", metavar="PATH", help="the repository, a folder or s3://bucket/prefix "
                        "(default: $TIMEKEEP_REPO)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repo", metavar="PATH", default=argparse.SUPPRESS,
                        help="the repository: a folder, or s3://bucket/prefix")
    common.add_argument("--endpoint", metavar="URL", default=argparse.SUPPRESS,
                        help="the S3 server of an s3://bucket/prefix repository (remembered once it worked; "
                        "default: the one remembered, else AWS_ENDPOINT_URL_S3 or the AWS profile's, else AWS)")
    common.add_argument("--passphrase-file", metavar="FILE", default=argparse.SUPPRESS,
                        help="read an encrypted repository's passphrase from FILE (else $TIMEKEEP_PASSPHRASE, "
                        "the keyring, or the terminal)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in COMMANDS:
        if only is None or only == name:
            add(sub, common)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    """The command `argv` names, read as the parser will (after the top level's --repo); None when it names none
    or anything else comes first (--help, --version, an abbreviation): the whole parser is built then."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--repo":
            next(tokens, None)
        elif not token.startswith("--repo="):
            return token if token in NAMES else None
    return None


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Adder = Callable[[Subparsers, argparse.ArgumentParser], object]


def _command(sub: Subparsers, common: argparse.ArgumentParser, name: str, func: Command, text: str,
             json: bool = False) -> argparse.ArgumentParser:  # fmt: skip
    parser = sub.add_parser(name, parents=[common], help=text, description=text)
    parser.set_defaults(func=func)
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def _simple(name: str, module: str, func: str, text: str, json: bool = False,
            arguments: Callable[[argparse.ArgumentParser], object] | None = None) -> tuple[str, Adder]:
    """A command of its own module's function, its help `text` and its `arguments` (beside the common ones)."""
    def add(sub: Subparsers, common: argparse.ArgumentParser) -> None:
        parser = _command(sub, common, name, lazy(module, func), text, json)
        if arguments is not None:
            arguments(parser)
    return name, add


def _init(init: argparse.ArgumentParser) -> None:
    init.add_argument("path", metavar="PATH", help="a new or empty folder, e.g. on a backup drive, or "
                      "s3://bucket/prefix in an existing bucket (see --endpoint)")
    init.add_argument("--here", action="store_true",
                      help="create it even where no drive is mounted (on the disk beneath the mount point)")
    init.add_argument("--index", choices=("drive", "local"), default="drive", help=argparse.SUPPRESS)
    init.add_argument("--encryption", choices=("none", "repokey"), default="repokey",
                      help="repokey (the default) encrypts everything on the drive under a passphrase; none "
                      "keeps it readable by anyone who holds the drive")
    keyring = init.add_mutually_exclusive_group()
    keyring.add_argument("--keyring", action="store_true", default=None,
                         help="keep the passphrase in the system keyring without asking")
    keyring.add_argument("--no-keyring", dest="keyring", action="store_false",
                         help="never keep it there (else a passphrase typed on the terminal is offered to it)")


def _add(add: argparse.ArgumentParser) -> None:
    add.add_argument("folder", metavar="FOLDER")
    add.add_argument("--exclude", metavar="GLOB", action="append", default=[], help="skip matching names")
    add.add_argument("--no-default-excludes", action="store_true", help="also back up caches and temp files")


def _folder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="FOLDER")


def _quiet(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--quiet", action="store_true", help=text)


def _coalesce(coalesce: argparse.ArgumentParser) -> None:
    coalesce.add_argument("--dry-run", action="store_true", help="only show which snapshots would go")
    coalesce.add_argument("--drop", metavar="SNAPSHOT", nargs="+", help="thin exactly these snapshots (ids or "
                          "times) instead of following the rule; a file's only copy is still kept")
    _quiet(coalesce, "no progress, no summary unless problems")


def _retention(retention: argparse.ArgumentParser) -> None:
    retention.add_argument("--keep-all-hours", type=int, metavar="N", help="keep every snapshot of the last N hours")
    retention.add_argument("--daily-days", type=int, metavar="N", help="then the last of each day for N days")
    retention.add_argument("--weekly-weeks", type=int, metavar="N", help="then the last of each week for N weeks "
                           "(0: for ever)")


def _at(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", metavar="T", default="latest", help=TIME_HELP)


def _ls(ls: argparse.ArgumentParser) -> None:
    ls.add_argument("path", metavar="PATH", nargs="?", help="default: the protected folders")
    _at(ls)


def _cat(cat: argparse.ArgumentParser) -> None:
    cat.add_argument("file", metavar="FILE")
    _at(cat)


def _restore(restore: argparse.ArgumentParser) -> None:
    restore.add_argument("path", metavar="PATH")
    _at(restore)
    restore.add_argument("--to", metavar="DEST", help="restore into DEST/<name> instead of in place")
    restore.add_argument("--overwrite", action="store_true", help="replace files that differ")
    _quiet(restore, "print only errors")


def _find(find: argparse.ArgumentParser) -> None:
    find.add_argument("pattern", metavar="PATTERN", help="a glob ('*.pdf') or a word found anywhere in the name; "
                      "case-insensitive")
    find.add_argument("--deleted", action="store_true", help="only what the latest snapshot no longer holds")
    find.add_argument("--in", dest="inside", metavar="FOLDER", help="only at or under FOLDER")
    find.add_argument("--between", nargs=2, metavar=("T1", "T2"), help="only what existed from T1 to T2 "
                      "(snapshot ids or times, as --at takes them)")
    find.add_argument("--limit", type=int, default=1000, metavar="N", help="show the first N paths and say how "
                      "many more there are (default 1000; 0 shows them all)")


def _diff(diff: argparse.ArgumentParser) -> None:
    diff.add_argument("before", metavar="T1", help="the earlier moment: " + TIME_HELP)
    diff.add_argument("after", metavar="T2", help="the later moment, the same way, or now (the folders as they are)")
    diff.add_argument("path", metavar="PATH", nargs="?", help="only at or under PATH")


def _mount(mount: argparse.ArgumentParser) -> None:
    mount.add_argument("mountpoint", metavar="MOUNTPOINT", help="an empty folder")
    mount.add_argument("--foreground", action="store_true",
                       help="stay attached until Ctrl-C (default: go to the background once mounted)")


def _agent(agent: argparse.ArgumentParser) -> None:
    which = agent.add_mutually_exclusive_group()
    which.add_argument("--install", action="store_true", help="start the agent with every session")
    which.add_argument("--uninstall", action="store_true", help="stop starting the agent with sessions")
    which.add_argument("--if-configured", action="store_true",
                       help="run only if a backup drive is set up (else exit quietly): for session autostart")


def _key(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from timekeep.core.cli.key_cmd import add_key_commands  # here: it builds on this module's helpers

    add_key_commands(sub, common)


def _guard(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from timekeep.core.cli.guard_cmd import add_guard_commands

    add_guard_commands(sub, common)


# every command, in the order `timekeep --help` lists them
COMMANDS: list[tuple[str, Adder]] = [
    _simple("init", "commands", "cmd_init", "create an empty repository", arguments=_init),
    _simple("add", "commands", "cmd_add", "protect a folder", arguments=_add),
    _simple("remove", "commands", "cmd_remove", "stop protecting a folder", arguments=_folder),
    _simple("folders", "commands", "cmd_folders", "list the protected folders", json=True),
    _simple("backup", "commands", "cmd_backup", "take a snapshot now", json=True,
            arguments=lambda p: _quiet(p, "no progress, no summary unless errors")),
    _simple("check", "commands", "cmd_check", "verify the index against the packs", json=True,
            arguments=lambda p: p.add_argument("--read-data", action="store_true",
                                               help="also re-read and re-hash every chunk")),
    _simple("rebuild-index", "commands", "cmd_rebuild_index",
            "recreate index.db from the drive (the old one is replaced only once the new one is whole)", json=True),
    _simple("encrypt", "encrypt_cmd", "cmd_encrypt", "encrypt an unencrypted repository in place (asks a new "
            "passphrase)", arguments=lambda p: _quiet(p, "no progress")),
    _simple("make-private", "commands", "cmd_make_private",
            "make the repository readable by you alone (chmod -R go-rwx)"),
    _simple("coalesce", "thin", "cmd_coalesce",
            "thin old snapshots by the retention rule and free the space they held", json=True, arguments=_coalesce),
    _simple("retention", "thin", "cmd_retention", "show or change how history is thinned", json=True,
            arguments=_retention),
    _simple("snapshots", "browse", "cmd_snapshots", "list snapshots, oldest first", json=True),
    _simple("errors", "browse", "cmd_errors", "files a snapshot could not back up", json=True,
            arguments=lambda p: p.add_argument("snapshot", metavar="SNAPSHOT", nargs="?", default="latest",
                                               help=TIME_HELP)),
    _simple("ls", "browse", "cmd_ls", "list a folder as it was", json=True, arguments=_ls),
    _simple("log", "browse", "cmd_log", "every stored version of a file", json=True,
            arguments=lambda p: p.add_argument("file", metavar="FILE")),
    _simple("cat", "browse", "cmd_cat", "write a file as it was to stdout", arguments=_cat),
    _simple("restore", "browse", "cmd_restore", "bring a file or folder back", json=True, arguments=_restore),
    _simple("find", "search", "cmd_find", "every path in all of history whose name matches, present or deleted",
            json=True, arguments=_find),
    _simple("diff", "search", "cmd_diff", "what was added, changed, deleted and renamed between two moments",
            json=True, arguments=_diff),
    _simple("mount", "mount_cmd", "cmd_mount",
            "show all of history as a read-only folder: by-time/, latest/ and versions/ (FUSE)", arguments=_mount),
    _simple("unmount", "mount_cmd", "cmd_unmount",
            "unmount history mounted by `timekeep mount` (also one whose process was killed)",
            arguments=lambda p: p.add_argument("mountpoint", metavar="MOUNTPOINT")),
    _simple("agent", "agent_cmd", "cmd_agent",
            "run the background agent: it watches the folders and backs them up on schedule", arguments=_agent),
    _simple("status", "agent_cmd", "cmd_status", "what the agent is doing and what waits", json=True),
    _simple("unlock", "unlock_cmd", "cmd_unlock",
            "give the running agent an encrypted repository's passphrase (kept in its memory only)",
            arguments=lambda p: p.add_argument("--remember", action="store_true",
                                               help="also keep it in the system keyring")),
    ("key", _key),
    ("guard", _guard),
    _simple("gui", "commands", "cmd_gui", "open the desktop app (the same as timekeep-gui)"),
]
NAMES = frozenset(name for name, _ in COMMANDS)
