"""`timekeep backup` taken by the running agent in few imports: the slim path of the command line.

With the agent running, a backup of one touched file is mostly the command's own start: building the argument
parser and loading the engine's records and the agent's client cost more CPU than the agent's storage time.
This path reads the few arguments it knows, asks the agent over its socket (`Connection`: `socket` and `json`)
and prints what the full command would, the same bytes and exit code. Whenever it cannot be sure of that (other
arguments, no agent, a repository the agent does not serve, a key to hand over) it leaves before asking for
anything and the full command line takes over. Progress to draw (a terminal, --json) and a finished backup with
more to say than nothing or one sentence are the full path's own code (`progress.make_reporter`,
`via_agent.report_finished`), loaded only then.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from timekeep.core.agent.connection import AgentError, Connection, Wire, open_socket

REPO_ENV = "TIMEKEEP_REPO"  # as timekeep.core.cli.repo names it
SOCKET_PATH_MAX = 107  # as timekeep.core.agent.paths: longer, and the full path says why it cannot be used
POLL_S = 0.25  # as the agent's client: how often a followed job looks whether it should be cancelled
CANCELLED = 130


class Asked:
    """The arguments of a `timekeep backup` this path can take: --repo, --json, --quiet."""

    def __init__(self, repo: str | None, as_json: bool, quiet: bool) -> None:
        self.repo = repo
        self.as_json = as_json
        self.quiet = quiet
        self.close_reporter: Callable[[], None] = _nothing  # leaves the terminal clean, as the reporter's close

    def silent(self) -> bool:
        """Whether the full command would show no progress (its `make_reporter` would choose `Silent`)."""
        return self.quiet or (not self.as_json and not sys.stderr.isatty())

    def reporter(self) -> Callable[[Wire], None] | None:
        """What shows the agent's progress events as the full command does; None when it shows none."""
        if self.silent():
            return None
        from timekeep.core.agent.messages import JobProgress, event_from
        from timekeep.core.cli.progress import make_reporter

        shown = make_reporter(sys.stderr, self.quiet, self.as_json)
        self.close_reporter = shown.close

        def show(message: Wire) -> None:
            event = event_from(message)
            if isinstance(event, JobProgress):
                shown(event.progress)
        return show


def backup_through_agent(argv: list[str]) -> int | None:
    """The exit code of a backup the running agent took, its outcome printed; None when the full command
    line should run instead (nothing was asked of the agent then)."""
    asked = backup_asked(argv)
    if asked is None:
        return None
    path = agent_socket()
    sock = None if path is None or not os.path.exists(path) else open_socket(path)
    if sock is None:
        return None
    connection = Connection(sock, timeout=30.0)
    try:
        return _back_up(connection, asked)
    except AgentError as err:
        return _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", CANCELLED)
    finally:
        connection.close()


def backup_asked(argv: list[str]) -> Asked | None:
    """`[--repo R] backup [--repo R] [--json] [--quiet]`, as argparse would read them; None for anything else."""
    repo, as_json, quiet, command = None, False, False, False
    tokens = iter(argv)
    for token in tokens:
        if token == "--repo":
            value = next(tokens, None)
            if value is None or value.startswith("-"):
                return None
            repo = value
        elif token.startswith("--repo="):
            repo = token[len("--repo="):]
        elif not command:
            if token != "backup":
                return None
            command = True
        elif token in ("--json", "--quiet"):
            as_json, quiet = as_json or token == "--json", quiet or token == "--quiet"
        else:
            return None
    return Asked(repo or os.environ.get(REPO_ENV) or None, as_json, quiet) if command else None


def agent_socket() -> str | None:
    """$XDG_RUNTIME_DIR/timekeep/agent.sock when $XDG_RUNTIME_DIR is a folder private to this user, as the agent
    requires of it; None otherwise (platformdirs' fallbacks and the reasons are the full path's)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not os.path.isabs(runtime):
        return None
    try:
        found = os.lstat(runtime)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o777 != 0o700:
        return None
    path = os.path.join(runtime, "timekeep", "agent.sock")
    return path if len(os.fsencode(path)) <= SOCKET_PATH_MAX else None


def _back_up(connection: Connection, asked: Asked) -> int | None:
    """Ask for a storage time and follow it, as `timekeep.core.agent.client.back_up_now` does."""
    cancel: list[bool] = []
    with _first_interrupt_cancels(cancel):
        job = _ask(connection, asked.repo)
        if job is None:
            return None
        finished = _follow(connection, job, cancel, asked.reporter())
    asked.close_reporter()
    return _report(finished, asked)


def _ask(connection: Connection, repo: str | None) -> int | None:
    """The job of a storage time queued on `repo` (or where the agent picks), subscribed to its events, in one
    round trip; None, nothing queued, when the full path should run it: a repository the agent does not take
    (S3 locations, which the full path names, included) or a key to hand over. An agent from before this
    request (it refuses the unknown parameters) is asked the older way: status, subscribe, backup_now."""
    if repo is not None and repo.startswith("s3:"):
        return None
    where = None if repo is None else os.path.abspath(repo)
    try:
        answer = connection.request("backup_now", destination=where, subscribe=True, if_taken=True)
    except AgentError as err:
        if err.kind == "KeyNeeded":  # nothing was queued: the full path hands over the passphrase
            return None
        if err.kind or not str(err).startswith("bad request"):
            raise
        return _ask_older(connection, repo)
    return None if answer.get("taken") is False else int(answer["job"])


def _ask_older(connection: Connection, repo: str | None) -> int | None:
    """`_ask` of an agent that knows only the separate requests."""
    if repo is not None and not takes(connection.request("status"), repo):
        return None
    connection.request("subscribe")
    try:
        return int(connection.request("backup_now", destination=repo)["job"])
    except AgentError as err:
        if err.kind == "KeyNeeded":
            return None
        raise


def takes(status: Wire, repo: str) -> bool:
    """Whether the agent takes a storage time of `repo`: one of its destinations, connected or kept on this
    computer while away (`Status.serves`, `Status.keeps_away`). An S3 location is left to the full path."""
    if repo.startswith("s3:"):
        return False
    wanted = os.path.abspath(repo)
    return any(str(d.get("path", "")) == wanted and (bool(d.get("present")) or bool(d.get("keeps_here")))
               for d in status.get("destinations") or ())


def _follow(connection: Connection, job: int, cancel: list[bool], progress: Callable[[Wire], None] | None) -> Wire:
    """The `job_finished` event of `job`, its progress events passed to `progress`; once `cancel` holds a Ctrl-C,
    the agent is asked to cancel it, once."""
    asked = False
    while True:
        if cancel and not asked:
            asked = True
            connection.request("cancel", job=job)
        message = connection.next_message(POLL_S)
        if message is None or message.get("job") != job:
            continue
        if message.get("event") == "job_finished":
            return message
        if message.get("event") == "progress" and progress is not None:
            progress(message)


def _report(finished: Wire, asked: Asked) -> int:
    """What the full command prints for a finished job: here when it is nothing or one sentence, else by the
    full path's own words."""
    snapshot, skipped = finished.get("snapshot"), str(finished.get("skipped") or "")
    ok, cancelled = bool(finished.get("ok", True)), bool(finished.get("cancelled"))
    quiet = asked.quiet and not asked.as_json
    if snapshot and not cancelled and quiet and not finished.get("errors") and not snapshot.get("errors"):
        return 0  # a complete snapshot: --quiet prints nothing
    if not snapshot and ok and skipped and not cancelled and not asked.as_json:
        if not asked.quiet:
            print(skipped)
        return 0
    from timekeep.core.agent.messages import JobFinished, JobInfo, JobResult
    from timekeep.core.cli.via_agent import report_finished

    return report_finished(JobFinished(JobInfo.from_wire(finished), JobResult.from_wire(finished)), asked.as_json,
                           asked.quiet)


@contextmanager
def _first_interrupt_cancels(cancel: list[bool]) -> Iterator[None]:
    """The first Ctrl-C asks for the job to be cancelled; a second one interrupts at once (as the full path's
    `cancel_on_interrupt`)."""
    def first(signum: int, frame: FrameType | None) -> None:
        cancel.append(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        previous = signal.signal(signal.SIGINT, first)
    except ValueError:  # not the main thread: Ctrl-C is not this thread's to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def _nothing() -> None:
    pass


def _fail(message: str, code: int) -> int:
    print(f"timekeep: {' '.join(message.split())}", file=sys.stderr)
    return code
