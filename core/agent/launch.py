"""The agent's door for the CLI and the app, beside its typed client (core/agent/client.py): run it in this
process, install or uninstall it with the session, and where it keeps its state."""

from __future__ import annotations

from pathlib import Path


def run(repo: str | None = None) -> int:
    """Run the agent here until it is stopped; `repo`, when given, is one of its destinations."""
    from timekeep.core.agent.config import SettingsFile
    from timekeep.core.agent.paths import AgentPaths
    from timekeep.core.agent.run import run_agent

    paths = AgentPaths.from_platform()
    settings = SettingsFile(paths.config_file, repo)
    return run_agent(paths, settings.load(), settings=settings)


def install(repo: str | None = None) -> list[str]:
    """Start the agent with every session (and now); `repo` is remembered among its destinations first.
    Lines to show a person; a UsageError when the agent would have nowhere to store. The file managers'
    right-click items come with it."""
    from timekeep.core.agent import file_managers
    from timekeep.core.agent import install as session
    from timekeep.core.agent.config import add_destination, load_config
    from timekeep.core.agent.paths import AgentPaths

    config_file = AgentPaths.from_platform().config_file
    if repo is not None:
        add_destination(config_file, repo)
    load_config(config_file)  # refuse to install an agent that would have nowhere to store
    return [*session.install(session.places(), session.command(), session.systemctl()), *file_managers.install()]


def uninstall() -> list[str]:
    from timekeep.core.agent import file_managers
    from timekeep.core.agent import install as session

    return [*session.uninstall(session.places(), session.systemctl()), *file_managers.uninstall()]


def state_folder() -> Path:
    """Where notes the person has seen are remembered (the agent's state folder)."""
    from timekeep.core.agent.paths import AgentPaths

    return AgentPaths.from_platform().state
