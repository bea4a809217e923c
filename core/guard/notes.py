"""Ransom-note names, from the list shipped beside this module (`ransom_notes.txt`), matched case-insensitively."""

from __future__ import annotations

import fnmatch
import os
import re
from importlib import resources

NOTES_FILE = "ransom_notes.txt"


def note_patterns(text: str | None = None) -> re.Pattern[str]:
    """One regular expression for every glob in the list (comments and blank lines skipped)."""
    if text is None:
        text = resources.files("timekeep.core.guard").joinpath(NOTES_FILE).read_text(encoding="utf-8")
    globs = [line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


def is_note(pattern: re.Pattern[str], path: bytes) -> bool:
    """Whether the file's name is one ransomware gives its notes."""
    return pattern.match(os.fsdecode(os.path.basename(path)).lower()) is not None
