"""The pure rules under find and diff, by table: what a pattern matches and the LIKE that narrows it, when a
path existed, and what kind of change two ends make."""

from __future__ import annotations

import os
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timekeep.core.changes import Side, classify
from timekeep.core.lifespan import overlaps, spans
from timekeep.core.name_pattern import parse


@pytest.mark.parametrize(("pattern", "name", "hit"), [
    ("report", b"Quarterly REPORT.pdf", True), ("report", b"repor.txt", False), ("*.PDF", b"a.pdf", True),
    ("*.pdf", b"a.pdf.bak", False), ("?.txt", b"a.txt", True), ("?.txt", b"ab.txt", False),
    ("[ab]*", b"Beta", True), ("[!ab]*", b"beta", False), ("x[!]a]y", b"xby", True), ("50%", b"50% off", True),
    ("caf\u00e9", "Caf\u00c9 menu".encode(), True), ("\\xff", b"a\xffb", False), ("a", b"\xff\xfea", True),
])
def test_what_a_pattern_matches(pattern: str, name: bytes, hit: bool) -> None:
    assert parse(pattern).matches(name) is hit


def test_a_word_narrows_by_trigrams_only_with_three_plain_letters() -> None:
    assert parse("report").literal_run and parse("*.pdf").literal_run
    assert not parse("ab").literal_run and not parse("a?c").literal_run and not parse("\u00e9t\u00e9").literal_run


names = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=12)
patterns = st.text(st.sampled_from("ab%_\\*?[]!.\u00e9\u00c9K\u212a"), min_size=1, max_size=6)


@given(patterns, names)
def test_the_like_pattern_never_loses_a_match(pattern: str, name: str) -> None:
    """Whatever SQLite's LIKE rejects, the name does not match: the index only ever narrows."""
    wanted = parse(pattern)
    raw = os.fsencode(name)
    if wanted.matches(raw):
        conn = sqlite3.connect(":memory:")
        stored = raw.decode("utf-8", "replace")
        assert conn.execute("SELECT ? LIKE ?", (stored, wanted.like)).fetchone()[0] == 1, (wanted.like, stored)


@pytest.mark.parametrize(("versions", "ids", "want"), [
    ([(1, "created")], [1, 2, 3], ((1, 3),)),
    ([(1, "created"), (3, "deleted")], [1, 2, 3], ((1, 2),)),
    ([(1, "created"), (2, "modified"), (4, "deleted"), (6, "created")], [1, 2, 4, 6, 7], ((1, 2), (6, 7))),
    ([(2, "created"), (3, "deleted"), (5, "created"), (6, "metadata")], [2, 3, 5, 6], ((2, 2), (5, 6))),
    ([(1, "deleted")], [1, 2], ()),
    ([], [1], ()),
])
def test_when_a_path_existed(versions: list[tuple[int, str]], ids: list[int], want: tuple[tuple[int, int], ...]
                             ) -> None:
    assert spans(versions, ids) == want


def test_overlaps() -> None:
    assert overlaps(((1, 2), (6, 7)), 2, 5) and not overlaps(((1, 2), (6, 7)), 3, 5)


def side(kind: str = "file", size: int = 10, mode: int = 0o644, mtime: int = 1, content: bytes | None = b"x",
         live: bool = False, target: bytes | None = None, ctime: int = 1) -> Side:
    return Side(kind, size, mode, mtime, 1000, 1000, target, None if live else content, 7, ctime, None, live)


@pytest.mark.parametrize(("before", "after", "want"), [
    (None, side(), "added"), (side(), None, "deleted"), (None, None, None),
    (side(), side(content=b"y"), "changed"), (side(), side(mode=0o600), "attributes"),
    (side(), side(mtime=2), "attributes"), (side(), side(), None), (side(), side(kind="dir"), "changed"),
    (side("dir", 0, 0o755, 1, None), side("dir", 0, 0o755, 9, None), None),  # a folder's mtime echoes its children
    (side("dir", 0, 0o755, 1, None), side("dir", 0, 0o700, 1, None), "attributes"),
    (side("symlink", target=b"a"), side("symlink", target=b"b"), "changed"),
    (side(), side(live=True), None), (side(), side(size=11, live=True), "changed"),
    (side(), side(mtime=5, live=True), "changed"), (side(), side(ctime=5, live=True), "attributes"),
])
def test_what_kind_of_change(before: Side | None, after: Side | None, want: str | None) -> None:
    assert classify(before, after) == want
