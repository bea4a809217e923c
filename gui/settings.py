"""The app's choices on this machine (which repository, schedule, retention, notifications) and its window state.

The choices live in settings.json, shared with the CLI and the agent (`timekeep.core.settings`): the schedule
set here is the agent's. Window geometry, the splitter and the last backup seen are state, not choices: they
live in the state folder (window.json). The engine keeps what a repository needs on the drive (its retention
rule and compression level among them); these are the last rule and level the person applied, which the
settings dialog starts from. Paths come from an `AppPaths` passed in, so importing this module touches nothing.
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

from timekeep.core import settings as shared
from timekeep.core.api import atomic_write
from timekeep.core.types import Retention

log = logging.getLogger(__name__)

SCHEDULE_CHOICES = (15, 30, 60, 120, 240, 1440)  # minutes between the agent's backups
WINDOW_STATE = ("window_geometry", "splitter_state", "last_backup_ns")  # kept in the state folder


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
        return self.config_dir / shared.FILE_NAME

    @property
    def window_file(self) -> Path:
        return self.state_dir / "window.json"


@dataclass(frozen=True)
class AppSettings:
    repository: str | None = None
    interval_minutes: int = 60  # the agent's schedule
    clock_times: tuple[str, ...] = ()  # ...and the times of day it also backs up at ("13:00")
    extra_excludes: tuple[str, ...] = ()
    retention: Retention = field(default_factory=Retention)
    compression_level: int = 3
    last_backup_ns: int | None = None  # remembered so a missing drive can still say when
    window_geometry: str | None = None  # hex of QWidget.saveGeometry()
    splitter_state: str | None = None
    notifications: bool = True
    guard: bool = True  # the agent watches for mass damage: settings.json's "guard": {"enabled": ...}

    def with_changes(self, **changes: Any) -> AppSettings:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra_excludes"] = list(self.extra_excludes)
        data["clock_times"] = list(self.clock_times)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppSettings:
        """Unknown keys are ignored and bad values fall back to defaults: an old or hand-edited file still opens."""
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in known and k != "guard"}
        clean["guard"] = guard_enabled(data.get("guard"))
        clean["extra_excludes"] = tuple(str(p) for p in clean.get("extra_excludes", ()) or ())
        clean["clock_times"] = tuple(str(p) for p in clean.get("clock_times", ()) or ())
        if not isinstance(clean.get("interval_minutes", 60), int | float):
            del clean["interval_minutes"]
        elif "interval_minutes" in clean:
            clean["interval_minutes"] = int(clean["interval_minutes"])
        retention = clean.get("retention")
        clean["retention"] = _retention(retention) if isinstance(retention, dict) else Retention()
        try:
            return cls(**clean)
        except TypeError:
            return cls()


def guard_enabled(guard: object) -> bool:
    """settings.json's "guard" object as the switch: on unless it says "enabled": false (the agent's reading)."""
    return not (isinstance(guard, dict) and guard.get("enabled") is False)


def _retention(data: dict[str, Any]) -> Retention:
    known = {f.name for f in fields(Retention)}
    return Retention(**{k: int(v) for k, v in data.items() if k in known})


def load_settings(paths: AppPaths) -> AppSettings:
    """The saved settings and window state, or defaults for whatever is missing or unreadable."""
    window = _read_object(paths.window_file)
    return AppSettings.from_json({**shared.read_or_defaults(paths.settings_file),
                                  **{k: v for k, v in window.items() if k in WINDOW_STATE}})


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(paths: AppPaths, settings: AppSettings, keys: tuple[str, ...] | None = None) -> None:
    """Write `keys` (all when None): choices into settings.json, changing no other key there (the agent's and
    the CLI's stay as they are), window state into the state folder; both atomically."""
    data = settings.to_json()
    wanted = tuple(data) if keys is None else keys
    choices = {k: data[k] for k in wanted if k not in WINDOW_STATE}
    if choices:
        shared.change(paths.settings_file, lambda now: _merged(now, choices))
    if any(k in WINDOW_STATE for k in wanted):
        os.makedirs(paths.state_dir, exist_ok=True)
        text = json.dumps({k: data[k] for k in WINDOW_STATE}, indent=2, sort_keys=True)
        atomic_write(paths.window_file, text.encode("utf-8"))


def _merged(now: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:
    """settings.json with the window's choices: a choice of None removes its key; the guard's switch is one
    key of the "guard" object, whose thresholds (set by hand) stay as they are."""
    merged = {**now, **{k: v for k, v in choices.items() if v is not None and k != "guard"}}
    if "guard" in choices:
        given = now.get("guard")
        merged["guard"] = {**(given if isinstance(given, dict) else {}), "enabled": bool(choices["guard"])}
    return {k: v for k, v in merged.items() if choices.get(k, True) is not None}


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
        keys = tuple(changes)
        self.run_later(lambda settings: self.save(settings, keys), self.settings)
        return self.settings

    def save(self, settings: AppSettings, keys: tuple[str, ...] | None = None) -> None:
        with self._lock:
            save_settings(self.paths, settings, keys)
