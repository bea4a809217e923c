"""What `find` matches on a name: a glob when the pattern has glob characters (`*`, `?`, `[`), else a plain word
found anywhere in the name; both case-insensitive. Pure, and with the LIKE pattern that narrows the name
index to a superset of the matches (core/index/names.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase

from timekeep.core.errors import UsageError

GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class NamePattern:
    text: str  # folded (see fold)
    glob: bool

    def matches(self, name: bytes) -> bool:
        shown = fold(os.fsdecode(name))
        return fnmatchcase(shown, self.text) if self.glob else self.text in shown

    @property
    def like(self) -> str:
        """A LIKE pattern every matching name satisfies: ASCII only (SQLite folds ASCII case alone), so any
        other character, and `%`, `_` and a bracket set, widen to a wildcard."""
        body = _like_glob(self.text) if self.glob else f"%{_like_text(self.text)}%"
        while "%%" in body:
            body = body.replace("%%", "%")
        return body

    @property
    def literal_run(self) -> bool:
        """Three characters in a row that are not wildcards: the trigrams can narrow the search."""
        run = 0
        for ch in self.like:
            run = 0 if ch in "%_" else run + 1
            if run >= 3:
                return True
        return False


def parse(pattern: str) -> NamePattern:
    """UsageError for a pattern that could match nothing useful: empty, or with a `/` (names, not paths)."""
    if not pattern.strip():
        raise UsageError("give a name or a part of one to find (e.g. `timekeep find report` or '*.pdf')")
    if "/" in pattern:
        raise UsageError(f"{pattern!r} has a '/': find matches names, not paths; use --in FOLDER to look in one "
                         "folder")
    return NamePattern(fold(pattern), any(ch in GLOB_CHARACTERS for ch in pattern))


def fold(text: str) -> str:
    """Lower case, except a character that would become ASCII letters that way (the Kelvin sign, a dotted
    capital I): SQLite's LIKE, which narrows the search, would not see them as those letters."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)


def _fold_char(ch: str) -> str:
    low = ch.lower()
    return low if ch.isascii() or not any(c.isascii() for c in low) else ch


def _like_char(ch: str) -> str:
    if not ch.isascii():
        return "%"  # its lower case may differ in length, and SQLite's LIKE folds ASCII only
    return "_" if ch in "%_\\" else ch


def _like_text(text: str) -> str:
    return "".join(_like_char(ch) for ch in text)


def _like_glob(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        close = _set_end(text, i) if ch == "[" else -1
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif close != -1:  # a set stands for one character; fnmatch reads `[]...]` with `]` as its first member
            out.append("_")
            i = close
        else:
            out.append(_like_char(ch))
        i += 1
    return "".join(out)


def _set_end(text: str, start: int) -> int:
    """Where the bracket set opening at `start` closes, as fnmatch reads it (a `]` right after `[` or `[!` is a
    member); -1 when it never closes (then `[` is itself)."""
    first = start + 2 if text[start + 1 : start + 2] == "!" else start + 1
    return text.find("]", first + 1)
