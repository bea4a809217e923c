"""`timekeep`'s entry point: a backup the running agent takes goes the slim way, in few imports
(`timekeep.core.cli.slim`); everything else through the argument parser (`timekeep.core.cli.parser`)."""

from __future__ import annotations

import os
import sys

from timekeep.core.cli.slim import backup_asked, backup_through_agent


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code is one of timekeep.core.cli.exits (0 done, 1 failed, 2 bad usage or repository,
    3 a backup that could not read some files, 4 the backup drive could not be written, 130 cancelled)."""
    args = sys.argv[1:] if argv is None else list(argv)
    done = backup_through_agent(args)
    if done is not None:
        return done
    from timekeep.core.cli.parser import parse_and_run  # the parser and the commands: loaded only now

    return parse_and_run(args)


def entry() -> None:
    """The `timekeep` command as a process: start-up's objects are not collected young (`collector`); a backup
    the agent took leaves without tearing the interpreter down (`leave`)."""
    from timekeep.core.cli.collector import defer_young_collections

    defer_young_collections()
    args = sys.argv[1:]
    done = backup_through_agent(args)
    if done is not None:
        leave(done)
    prefetch_if_backup(args)
    from timekeep.core.cli.parser import parse_and_run

    sys.exit(parse_and_run(args))


def prefetch_if_backup(args: list[str]) -> None:
    """A backup here meets the protected folders in a forked process while this one loads the engine
    (core/capture/prefetch.py): started now, before the imports, while this process is small and has one thread."""
    asked = backup_asked(args)
    if asked is None or (asked.repo or "").startswith("s3:"):  # (a bucket has no folder to read folders.json in)
        return
    from timekeep.core.capture import prefetch

    def repository() -> str | None:  # in the child: where the command will look, as `timekeep.core.cli.repo` says
        if asked.repo is not None:
            return os.path.abspath(asked.repo)
        from timekeep.core.cli.repo import configured_repository

        return configured_repository()

    prefetch.start(repository)


def leave(code: int) -> None:
    """End the process with `code` once what it printed is out, skipping the interpreter's teardown: freeing
    every module and object one by one costs a slim backup ~15% of its CPU (bench/README.md "The agent row,
    second pass"), and the slim path leaves nothing behind that needs it (no open files, no threads, no
    `atexit` work). A stream that cannot be flushed (a closed pipe) takes the usual exit, which reports it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    entry()
