"""Where the agent keeps its socket, lock, log, state and config: platformdirs folders, built on request.

Nothing is created or read at import time; `AgentPaths.from_platform()` honours the XDG variables, so tests
point every folder at a temporary one.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from timekeep.core.errors import TimekeepError

APP = "timekeep"
# sun_path holds 108 bytes with the terminating NUL; a longer path fails with an obscure "AF_UNIX path too long".
SOCKET_PATH_MAX = 107


class SocketPathTooLong(TimekeepError):
    """The agent's socket would not fit in a Unix socket address: neither the agent nor a client can use it."""


@dataclass(frozen=True)
class AgentPaths:
    runtime: Path  # the socket and the one-per-user lock: $XDG_RUNTIME_DIR/timekeep
    logs: Path
    state: Path
    config: Path

    @property
    def socket(self) -> Path:
        """The agent's socket; SocketPathTooLong, naming it and the limit, when the kernel could not take it."""
        path = self.runtime / "agent.sock"
        size = len(os.fsencode(path))
        if size > SOCKET_PATH_MAX:
            raise SocketPathTooLong(
                f"the agent's socket path {path} is {size} bytes long, but Unix socket paths are limited to "
                f"{SOCKET_PATH_MAX} bytes; set XDG_RUNTIME_DIR to a shorter folder (such as /run/user/{os.getuid()})")
        return path

    @property
    def lock(self) -> Path:
        return self.runtime / "agent.lock"

    @property
    def log_file(self) -> Path:
        return self.logs / "agent.log"

    @property
    def config_file(self) -> Path:
        return self.config / "settings.json"  # shared with the window and the CLI

    @property
    def known_drives(self) -> Path:
        return self.state / "destinations.json"

    @property
    def guard_file(self) -> Path:
        return self.state / "guard.json"  # an incident the guard holds open (timekeep.core.guard.incident)

    @classmethod
    def from_platform(cls) -> AgentPaths:
        dirs = platformdirs.PlatformDirs(APP, appauthor=False)
        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (a bare ssh or cron session): the fallback is fine
            warnings.simplefilter("ignore")
            runtime = Path(dirs.user_runtime_dir)
        return cls(runtime, Path(dirs.user_log_dir), Path(dirs.user_state_dir), Path(dirs.user_config_dir))

    def ensure(self) -> None:
        """Create the agent's folders, readable by the user alone (the socket inherits the runtime folder's 0700).
        A socket path too long fails here, before anything is created or locked."""
        _ = self.socket
        for folder in (self.runtime, self.logs, self.state, self.config):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.runtime.chmod(0o700)
