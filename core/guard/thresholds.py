"""The guard's thresholds and its switch: settings.json's "guard" object, with defaults measured on ordinary
bursts (a build, a photo import, a git checkout, a tarball unpacked, node_modules removed: none comes near
them) and on scripted attacks (each far above). docs/ARCHITECTURE.md gives the figures.

    "guard": {"enabled": true, "window_seconds": 120, "random_files": 20, "random_share": 0.5,
              "extension_files": 20, "note_folders": 3}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any

from timekeep.core.errors import UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    enabled: bool = True
    window_seconds: float = 120.0  # how far back the guard looks
    random_files: int = 20  # rewritten files whose content became random-looking...
    random_share: float = 0.5  # ...and their share of the rewritten files sampled
    extension_files: int = 20  # files that gained the same new suffix while their original went away
    note_folders: int = 3  # folders in which a ransom note appeared
    settle_seconds: float = 1.0  # a rewritten file is sampled once it has been quiet this long
    samples: int = 400  # at most this many files sampled in one window: the guard stays cheap in any burst


def thresholds_from(raw: dict[str, Any]) -> Thresholds:
    """The "guard" object of settings.json (absent: defaults); a UsageError naming a key of the wrong type."""
    given = raw.get("guard", {})
    if not isinstance(given, dict):
        raise UsageError("agent settings: guard must be a JSON object")
    defaults = Thresholds()
    changes: dict[str, Any] = {}
    for field in fields(Thresholds):
        if field.name not in given:
            continue
        value, kind = given[field.name], type(getattr(defaults, field.name))
        number = isinstance(value, int | float) and not isinstance(value, bool)
        fits = isinstance(value, bool) if kind is bool else number
        if not fits:
            wanted = "true or false" if kind is bool else "a number"
            raise UsageError(f"agent settings: guard.{field.name} must be {wanted}")
        changes[field.name] = kind(value)
    return replace(defaults, **changes)


def thresholds_or_defaults(raw: dict[str, Any]) -> Thresholds:
    """For the running agent: unusable guard settings are logged and the defaults guard meanwhile."""
    try:
        return thresholds_from(raw)
    except UsageError as err:
        log.warning("%s; the guard's defaults apply", err)
        return Thresholds()
