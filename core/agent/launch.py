"""The agent's door for the CLI and the app, beside its typed client (core/agent/client.py): run it in this
process, install or uninstall it with the session, turn protection on for a repository, and where it keeps
its state."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from timekeep.core.agent.where import key_of

Systemctl = Callable[[list[str]], bool]


@dataclass(frozen=True)
class Starter:
    """How the agent is started: the user manager (None: none answers) or a detached process (`spawn`), and
    how to tell one already runs. Tests hand in their own to see the commands without running them."""

    manager: Systemctl | None
    spawn: Callable[[list[str]], object]
    running: Callable[[], bool]

    @classmethod
    def for_this_session(cls) -> Starter:
        from timekeep.core.agent import install as session

        return cls(session.systemctl(), session.spawn_detached, agent_answers)


@dataclass(frozen=True)
class Protection:
    """What turning protection on did: whether the agent runs now, one sentence for the window, every step."""

    started: bool
    sentence: str
    lines: tuple[str, ...]


def agent_answers() -> bool:
    from timekeep.core.agent.client import AgentClient, agent_socket

    client = AgentClient.connect(agent_socket(), timeout=5.0)
    if client is None:
        return False
    client.close()
    return True


def socket_present() -> bool:
    """Whether anything is at the agent's socket path: a look that loads neither the client nor the wire
    format, so a command with no agent running pays nothing for asking (SocketPathTooLong as `agent_socket`)."""
    from timekeep.core.agent.paths import AgentPaths

    return AgentPaths.from_platform().socket.exists()


def settings_file() -> Path:
    """settings.json, which the agent follows (shared with the window and the CLI)."""
    from timekeep.core.agent.paths import AgentPaths

    return AgentPaths.from_platform().config_file


def run(repo: str | None = None) -> int:
    """Run the agent here until it is stopped; `repo`, when given, is one of its destinations."""
    from timekeep.core.agent.config import SettingsFile
    from timekeep.core.agent.paths import AgentPaths
    from timekeep.core.agent.run import run_agent

    paths = AgentPaths.from_platform()
    settings = SettingsFile(paths.config_file, repo)
    return run_agent(paths, settings.load(), settings=settings)


def configured() -> bool:
    """Whether settings name a destination: what `timekeep agent --if-configured` needs to run at all."""
    from timekeep.core.agent.config import has_destination

    return has_destination(settings_file())


def note_not_configured() -> None:
    """The one log line of an agent started by a session that never set Timekeep up."""
    import logging

    from timekeep.core.agent.logs import setup_logging
    from timekeep.core.agent.paths import AgentPaths

    handler = setup_logging(AgentPaths.from_platform().log_file)
    try:
        logging.getLogger(__name__).info("no backup drive is set up yet (%s names none): the agent does not run",
                                         settings_file())
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def install(repo: str | None = None) -> list[str]:
    """Start the agent with every session (and now, where a user manager answers); `repo` is remembered among
    its destinations first, else the configured repository is. Lines to show a person; a UsageError when the
    agent would have nowhere to store. The file managers' right-click items come with it."""
    from timekeep.core.agent import file_managers
    from timekeep.core.agent import install as session
    from timekeep.core.agent.config import load_config

    _remember(repo)
    load_config(settings_file())  # refuse to install an agent that would have nowhere to store
    return [*session.install(session.places(), session.command(), session.systemctl()), *file_managers.install()]


def _remember(repo: str | None) -> None:
    from timekeep.core import settings

    chosen = repo or settings.configured_repository(settings.read(settings_file()))
    if chosen is not None:
        settings.add_destination(settings_file(), chosen)


def protect(repo: str, starter: Starter | None = None) -> Protection:
    """Make `repo` a destination, install the session entries and start the agent now: through the user
    manager where one answers, else detached in a session of its own, so closing the window leaves it running."""
    from timekeep.core.agent import file_managers
    from timekeep.core.agent import install as session

    starter = starter or Starter.for_this_session()
    _remember(repo)
    where = session.places()
    exec_command = session.command()
    lines = session.write_entries(where, exec_command)
    try:  # the right-click items are a convenience: their failure leaves protection as it is
        lines += file_managers.install()
    except OSError as err:
        lines.append(f"The file managers' right-click items were not installed: {err.strerror or err}.")
    if starter.manager is not None and starter.manager(["daemon-reload"]) \
            and starter.manager(["enable", "--now", session.UNIT_NAME]):
        return Protection(True, _on(repo), (*lines, f"Enabled and started {session.UNIT_NAME}."))
    session.enable_by_hand(where)
    lines.append(f"Enabled {session.UNIT_NAME} by linking it from {where.wants.parent}.")
    if starter.running():
        return Protection(True, _on(repo), (*lines, "The agent was running already: it reads the new settings."))
    try:
        starter.spawn(session.agent_argv(exec_command))
    except OSError as err:
        why = f"the agent could not be started ({err.strerror or err})"
        return Protection(False, f"Protection is off: {why}.", (*lines, why))
    return Protection(True, _on(repo), (*lines, "Started the agent in the background."))


def _on(repo: str) -> str:
    return (f"Protection is on: the background agent backs up to {key_of(repo)} on its schedule, "
            "also when this window is closed.")


def uninstall() -> list[str]:
    """Remove what `install` wrote, and stop an agent still running (one started detached, where no user
    manager stopped it with its unit): the person asked for protection to end."""
    from timekeep.core.agent import file_managers
    from timekeep.core.agent import install as session

    return [*session.uninstall(session.places(), session.systemctl()), *stop_running(),
            *file_managers.uninstall()]


def stop_running(socket: Path | None = None) -> list[str]:
    """Ask the agent that answers on this user's socket to stop (SIGTERM: it journals what is pending and ends
    a running backup cleanly first). Lines to show a person; none when no agent answers."""
    import signal

    from timekeep.core.agent.client import AgentClient, agent_socket
    from timekeep.core.agent.protocol import AgentError

    client = AgentClient.connect(socket or agent_socket(), timeout=5.0)
    if client is None:
        return []
    try:
        with client:
            pid = client.status().pid
        os.kill(pid, signal.SIGTERM)
    except (AgentError, ProcessLookupError):
        return []
    except PermissionError:
        return [f"The running agent (process {pid}) belongs to someone else: it was left running."]
    return [f"Asked the running agent (process {pid}) to stop; it finishes what it is doing first."]


def state_folder() -> Path:
    """Where notes the person has seen are remembered (the agent's state folder)."""
    from timekeep.core.agent.paths import AgentPaths

    return AgentPaths.from_platform().state
