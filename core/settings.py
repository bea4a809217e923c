"""settings.json: the one file of choices that the window, the CLI and the agent all read.

    {"repository": "/media/usb/Timekeep/laptop", "destinations": ["/media/usb/Timekeep/laptop"],
     "interval_minutes": 60, "clock_times": ["13:00"], "notifications": true, ...}

It lives in the user's config folder. A hand-edited file is read with tolerance: a value of the wrong type
is dropped (its default applies) rather than failing a start-up. Writers change only the keys they name,
under a lock, so the window and `timekeep agent --install` writing at once lose nothing. The first read
where no settings.json exists yet gathers the older agent.json and gui.json, so nobody loses a choice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import platformdirs

from timekeep.core.errors import UsageError
from timekeep.core.storage.atomic import atomic_write
from timekeep.core.storage.s3_url import is_s3_url

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"
NUMBER = (int, float)
# The keys everyone shares and the types a value must have; other keys are kept as they are.
SCHEMA: dict[str, type | tuple[type, ...]] = {
    "repository": str, "destinations": list, "interval_minutes": NUMBER, "clock_times": list,
    "back_up_on_battery": bool, "at_shutdown": bool, "journal_max_paths": int, "journal_max_bytes": int,
    "quiet_seconds": NUMBER, "tick_seconds": NUMBER, "notifications": bool, "extra_excludes": list,
    "retention": dict, "compression_level": int, "endpoints": dict, "away_max_bytes": int, "guard": dict,
}
LISTS_OF_TEXT = ("destinations", "clock_times", "extra_excludes")
# gui.json's keys that are settings (its window state now lives in the state folder); the agent.json keys
# are settings.json's own.
FROM_GUI = {"repository": "repository", "schedule_minutes": "interval_minutes", "extra_excludes": "extra_excludes",
            "retention": "retention", "compression_level": "compression_level", "notifications": "notifications"}


class SettingsError(UsageError):
    """settings.json cannot be read as settings: the one line says which file and why."""


def default_file() -> Path:
    """settings.json in the user's config folder ($XDG_CONFIG_HOME/timekeep); nothing is created."""
    return Path(platformdirs.user_config_dir("timekeep", appauthor=False)) / FILE_NAME


def clean(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The settings without the values of a wrong type, and a line for each one dropped."""
    kept, dropped = dict(data), []
    for key in SCHEMA.keys() & kept.keys():
        if not _fits(key, kept[key]):
            dropped.append(f"{key}: {kept[key]!r} is not {_type_words(key)}; the default applies")
            del kept[key]
    return kept, dropped


def _fits(key: str, value: object) -> bool:
    wanted = SCHEMA[key]
    if isinstance(value, bool) and wanted is not bool:
        return False  # true is no number
    if key in LISTS_OF_TEXT:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, wanted)


def _type_words(key: str) -> str:
    if key in LISTS_OF_TEXT:
        return "a list of text"
    words = {str: "text", bool: "true or false", int: "a whole number", dict: "a JSON object"}
    wanted = SCHEMA[key]
    return words.get(wanted, "a value") if isinstance(wanted, type) else "a number"


def parse(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise SettingsError(f"{path} is not valid JSON ({err}): fix or remove it") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} should hold a JSON object ({{...}}): fix or remove it")
    kept, dropped = clean(data)
    for line in dropped:
        log.warning("%s: %s", path, line)
    return kept


def read(path: Path) -> dict[str, Any]:
    """The settings in `path` (gathered from agent.json and gui.json beside it the first time); {} when there
    are none. SettingsError when the file is not JSON or not an object."""
    try:
        return parse(path, path.read_bytes())
    except FileNotFoundError:
        pass
    older = migrated(path.parent)
    if older:
        with contextlib.suppress(OSError):
            update(path, older)
    return older


def read_or_defaults(path: Path) -> dict[str, Any]:
    """As `read`, but an unusable file means defaults (logged): for the window, which must always open."""
    try:
        return read(path)
    except (SettingsError, OSError) as err:
        log.warning("%s", err)
        return {}


def migrated(folder: Path) -> dict[str, Any]:
    """What agent.json and gui.json in `folder` chose, as settings.json keys (the agent's schedule wins: it is
    the one that ran). Unreadable old files count as absent."""
    gui, agent = _old(folder / "gui.json"), _old(folder / "agent.json")
    found = {new: gui[old] for old, new in FROM_GUI.items() if old in gui}
    if found.get("interval_minutes") == 0:  # "only when I ask": no interval of that kind any more
        del found["interval_minutes"]
    found.update(agent)
    repo = found.get("repository")
    if isinstance(repo, str) and repo not in found.get("destinations", []):
        found["destinations"] = [*found.get("destinations", []), repo]  # the drive the window backed up
    return clean(found)[0]


def _old(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time, across processes: an flock on a file beside settings.json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(".settings.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing frees the lock


def update(path: Path, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """Set `changes` and drop `remove`, leaving every other key as the file has it now; returns the result."""
    return change(path, lambda now: {k: v for k, v in {**now, **changes}.items() if k not in remove})


def change(path: Path, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Write `edit(settings now)`, reading and writing under the lock so no other writer's change is lost.
    A file that is not JSON is kept aside as settings.json.broken rather than lost."""
    with _locked(path):
        try:
            current = parse(path, path.read_bytes())
        except FileNotFoundError:
            current = {}
        except SettingsError as err:
            log.warning("%s; kept as %s.broken, written anew", err, path.name)
            os.replace(path, path.with_name(path.name + ".broken"))
            current = {}
        merged = edit(current)
        atomic_write(path, json.dumps(merged, indent=2, sort_keys=True).encode() + b"\n")
    return merged


def add_destination(path: Path, repo: str) -> None:
    """Make `repo` one of the agent's destinations, and the repository the window and the CLI open."""
    wanted = repo.rstrip("/") if is_s3_url(repo) else os.path.abspath(repo)
    read(path)  # gathers the older files first, the one time there is no settings.json

    def add(now: dict[str, Any]) -> dict[str, Any]:
        listed = destinations(now)
        return {**now, "repository": wanted, "destinations": listed if wanted in listed else [*listed, wanted]}

    change(path, add)


def destinations(data: dict[str, Any]) -> list[str]:
    return [str(p) for p in data.get("destinations", [])]


def configured_repository(data: dict[str, Any]) -> str | None:
    """The repository to use when none is named: the one chosen last, else the agent's first destination."""
    repo = data.get("repository")
    if isinstance(repo, str) and repo:
        return repo
    listed = destinations(data)
    return listed[0] if listed else None


def remember_endpoint(path: Path, location: str, endpoint: str) -> None:
    """Remember the S3 server `endpoint` that serves `location` (s3://bucket/prefix), so the agent, the window
    and later commands reach it without being told again."""
    key = _endpoint_key(location)

    def remember(now: dict[str, Any]) -> dict[str, Any]:
        known = now.get("endpoints")
        known = dict(known) if isinstance(known, dict) else {}
        known[key] = endpoint
        return {**now, "endpoints": known}

    if endpoint_for(read_or_defaults(path), location) != endpoint:
        change(path, remember)


def endpoint_for(data: dict[str, Any], location: str) -> str | None:
    """The endpoint remembered for the S3 location `location`, or None."""
    known = data.get("endpoints")
    found = known.get(_endpoint_key(location)) if isinstance(known, dict) else None
    return found if isinstance(found, str) and found else None


def _endpoint_key(location: str) -> str:
    """s3://bucket/prefix as one spelling (no trailing slash), whichever way it was written."""
    return location.rstrip("/")
