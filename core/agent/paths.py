"""Where the agent keeps its socket, lock, log, state and config: platformdirs folders, built on request.

Nothing is created or read at import time; `AgentPaths.from_platform()` honours the XDG variables, so tests
point every folder at a temporary one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "timekeep"


@dataclass(frozen=True)
class AgentPaths:
    runtime: Path  # the socket and the one-per-user lock: $XDG_RUNTIME_DIR/timekeep
    logs: Path
    state: Path
    config: Path

    @property
    def socket(self) -> Path:
        return self.runtime / "agent.sock"

    @property
    def lock(self) -> Path:
        return self.runtime / "agent.lock"

    @property
    def log_file(self) -> Path:
        return self.logs / "agent.log"

    @property
    def config_file(self) -> Path:
        return self.config / "agent.json"

    @property
    def known_drives(self) -> Path:
        return self.state / "destinations.json"

    @classmethod
    def from_platform(cls) -> AgentPaths:
        dirs = platformdirs.PlatformDirs(APP, appauthor=False)
        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (a bare ssh or cron session): the fallback is fine
            warnings.simplefilter("ignore")
            runtime = Path(dirs.user_runtime_dir)
        return cls(runtime, Path(dirs.user_log_dir), Path(dirs.user_state_dir), Path(dirs.user_config_dir))

    def ensure(self) -> None:
        """Create the agent's folders, readable by the user alone (the socket inherits the runtime folder's 0700)."""
        for folder in (self.runtime, self.logs, self.state, self.config):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.runtime.chmod(0o700)
