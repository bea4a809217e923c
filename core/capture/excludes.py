"""Which paths are not protected: the person's patterns plus a default list of caches and temporaries."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".cache",
    "__pycache__",
    "*.pyc",
    "*.tmp",
    "*.temp",
    "*~",
    "*.swp",
    "*.swo",
    ".~lock.*#",
    ".Trash-*",
    ".thumbnails",
    "Thumbs.db",
    ".DS_Store",
    "*.part",
    "*.crdownload",
)


class Excludes:
    """Glob patterns matched against a name, or against the path relative to the folder when they hold '/'."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        names = [p for p in patterns if "/" not in p.strip("/")]
        paths = [p.strip("/") for p in patterns if "/" in p.strip("/")]
        self._name = _compile(names)
        self._path = _compile(paths)

    def excluded(self, name: bytes, relpath: bytes) -> bool:
        if self._name and self._name.match(name):
            return True
        return bool(self._path and self._path.match(relpath))


def _compile(patterns: Sequence[str]) -> re.Pattern[bytes] | None:
    """One bytes regex for all patterns: names are matched as the bytes they are, with no decoding."""
    if not patterns:
        return None
    return re.compile(os.fsencode("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)), re.DOTALL)
