"""The app's own settings (which repository, window state, schedule, retention) in one JSON file.

The engine keeps what a repository needs on the drive (its retention rule and compression level among them);
these are the desktop app's choices on this machine, with the last rule and level the person applied, which
the settings dialog starts from. Paths come from an `AppPaths` passed in, so importing this module touches
nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from timekeep.core.api import atomic_write
from timekeep.core.types import Retention

log = logging.getLogger(__name__)

SCHEDULE_CHOICES = (0, 15, 30, 60, 120, 240, 1440)  # minutes; 0 = only by hand


@dataclass(frozen=True)
class AppPaths:
    """Where the app keeps its files; built once at start-up, passed to whoever needs it."""

    config_dir: Path
    cache_dir: Path
    agent_socket: Path | None = None  # where a running agent listens; None: never look for one
    # what the person was told (a repository others can read, once per repository), shared with the CLI
    state_dir: Path = field(default_factory=lambda: Path(platformdirs.user_state_dir("timekeep")))

    @classmethod
    def default(cls) -> AppPaths:
        from timekeep.core.agent.client import SocketPathTooLong, agent_socket  # builds a name, creates nothing

        try:
            socket: Path | None = agent_socket()
        except SocketPathTooLong as err:  # no agent could listen there: the app backs up by itself
            log.warning("%s", err)
            socket = None
        return cls(Path(platformdirs.user_config_dir("timekeep")), Path(platformdirs.user_cache_dir("timekeep")),
                   socket)

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "gui.json"


@dataclass(frozen=True)
class AppSettings:
    repository: str | None = None
    schedule_minutes: int = 60
    extra_excludes: tuple[str, ...] = ()
    retention: Retention = field(default_factory=Retention)
    compression_level: int = 3
    last_backup_ns: int | None = None  # remembered so a missing drive can still say when
    window_geometry: str | None = None  # hex of QWidget.saveGeometry()
    splitter_state: str | None = None
    notifications: bool = True

    def with_changes(self, **changes: Any) -> AppSettings:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra_excludes"] = list(self.extra_excludes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppSettings:
        """Unknown keys are ignored and bad values fall back to defaults: an old or hand-edited file still opens."""
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in known}
        clean["extra_excludes"] = tuple(str(p) for p in clean.get("extra_excludes", ()) or ())
        retention = clean.get("retention")
        clean["retention"] = _retention(retention) if isinstance(retention, dict) else Retention()
        try:
            return cls(**clean)
        except TypeError:
            return cls()


def _retention(data: dict[str, Any]) -> Retention:
    known = {f.name for f in fields(Retention)}
    return Retention(**{k: int(v) for k, v in data.items() if k in known})


def load_settings(paths: AppPaths) -> AppSettings:
    """The saved settings, or defaults when there are none or the file is unreadable."""
    try:
        data = json.loads(paths.settings_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return AppSettings()
    return AppSettings.from_json(data) if isinstance(data, dict) else AppSettings()


def save_settings(paths: AppPaths, settings: AppSettings) -> None:
    """Write atomically, so a crash mid-save leaves the previous settings rather than half a file."""
    os.makedirs(paths.config_dir, exist_ok=True)
    text = json.dumps(settings.to_json(), indent=2, sort_keys=True)
    atomic_write(paths.settings_file, text.encode("utf-8"))



class SettingsStore:
    """The live settings: changed in the GUI thread, written by `run_later` (the app hands in a worker starter).

    Saves are serialised by a lock, since two quick changes may be saved from two worker threads.
    """

    def __init__(self, paths: AppPaths, settings: AppSettings,
                 run_later: Callable[[Callable[[AppSettings], None], AppSettings], object] | None = None) -> None:
        self.paths, self.settings = paths, settings
        self.run_later = run_later or (lambda fn, value: fn(value))
        self._lock = threading.Lock()

    def update(self, **changes: Any) -> AppSettings:
        self.settings = self.settings.with_changes(**changes)
        self.run_later(self.save, self.settings)
        return self.settings

    def save(self, settings: AppSettings) -> None:
        with self._lock:
            save_settings(self.paths, settings)
