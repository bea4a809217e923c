"""The open incident on disk: a small JSON in the agent's state folder, so a suspected incident survives a
restart of the agent (or of the machine) and thinning stays paused until the person says the all-clear.

A file that cannot be read keeps the guard closed rather than open: an incident is assumed, with a reason
saying so, because wrongly resuming thinning can lose the history from before the damage, while wrongly
pausing it costs only space until `timekeep guard clear`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from timekeep.core.agent.messages import GuardIncident
from timekeep.core.storage.atomic import atomic_write

log = logging.getLogger(__name__)
FILE_NAME = "guard.json"


def load(path: Path) -> GuardIncident | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        return _unreadable(path, str(err))
    try:
        return GuardIncident.from_wire(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        return _unreadable(path, f"not an incident record ({err})")


def _unreadable(path: Path, why: str) -> GuardIncident:
    log.warning("%s cannot be read (%s); the incident it may hold stays open", path, why)
    return GuardIncident("", "", (f"{path} could not be read ({why}); an incident it held stays open",), (), ())


def save(path: Path, incident: GuardIncident) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, json.dumps(incident.to_wire(), indent=1).encode())


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
