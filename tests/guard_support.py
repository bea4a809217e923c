"""Scripted bursts for the guard's tests: ordinary work (a build, a photo import, a git checkout, a tarball
unpacked, node_modules removed) and attack-like damage (documents rewritten with random bytes, renamed to
.locked, ransom notes dropped, encrypted copies written and the originals deleted).

Each burst acts on real files under a folder. `Files` may also tell a detector the events the inotify watcher
reports for each action (for the detector's own tests, on an injected clock); without one the real watcher
sees them.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

from timekeep.core.guard.detector import Detector

LOREM = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
         b"dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.\n")


TEXT = LOREM * 200


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Files:
    """Real file actions under `root`; with a detector, each also feeds it the watcher's events."""

    def __init__(self, root: Path, detector: Detector | None = None, clock: Clock | None = None,
                 step: float = 0.001) -> None:
        self.root, self.detector, self.clock, self.step = root, detector, clock, step
        self.rng = random.Random(14)

    def _saw(self, kind: str, path: Path, dest: Path | None = None) -> None:
        if self.clock is not None:
            self.clock.now += self.step
        if self.detector is not None:
            self.detector.saw(kind, os.fsencode(path), None if dest is None else os.fsencode(dest), False)

    def random(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def text(self, size: int, seed: int = 0) -> bytes:
        start = seed % len(LOREM)
        return (TEXT[start:] + TEXT[:start])[:size]

    def create(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        for kind in ("created", "modified", "closed"):
            self._saw(kind, path)
        return path

    def rewrite(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.write_bytes(data)
        for kind in ("modified", "closed"):
            self._saw(kind, path)

    def delete(self, rel: str) -> None:
        path = self.root / rel
        path.unlink()
        self._saw("deleted", path)

    def move(self, rel: str, new: str) -> None:
        src, dest = self.root / rel, self.root / new
        os.rename(src, dest)
        self._saw("moved", src, dest)

    def replace(self, rel: str, data: bytes) -> None:
        """As git checkout writes a file: unlink it, then create it anew."""
        self.delete(rel)
        self.create(rel, data)


Burst = Callable[[Files], list[str]]  # acts; returns the paths it left changed (relative)

# what exists before a burst
DOCS = [f"Documents/part{i % 8}/doc{i}{('.txt', '.docx', '.pdf', '.md')[i % 4]}" for i in range(240)]
SOURCES = [f"project/src/m{i % 20}/f{i}.py" for i in range(800)]
MODULES = [f"web/node_modules/pkg{i % 60}/lib/f{i}.js" for i in range(1500)]


def doc_content(files: Files, rel: str) -> bytes:
    """A document as people have them: text, or a zip-based or PDF file (compressed, with its signature)."""
    if rel.endswith(".docx"):
        return b"PK\x03\x04" + files.random(6000)
    if rel.endswith(".pdf"):
        return b"%PDF-1.7\n" + files.random(9000)
    return files.text(3000, seed=len(rel))


def make_docs(files: Files) -> None:
    for rel in DOCS:
        files.create(rel, doc_content(files, rel))


def make_sources(files: Files) -> None:
    for i, rel in enumerate(SOURCES):
        files.create(rel, files.text(1500, seed=i))


def make_modules(files: Files) -> None:
    for i, rel in enumerate(MODULES):
        files.create(rel, files.text(400, seed=i))


# ordinary work
def build(files: Files) -> list[str]:
    """A build writing thousands of object files: binary, high entropy, and new (then a relink rewrites them)."""
    made = [files.create(f"project/build/obj{i % 30}/f{i}.o", files.random(3000)).name for i in range(1500)]
    for i in range(0, 1500, 5):  # an incremental rebuild rewrites some in place
        files.rewrite(f"project/build/obj{i % 30}/f{i}.o", files.random(3000))
    return made


def photo_import(files: Files) -> list[str]:
    """Many new JPEGs: high entropy, new files, and with their signature."""
    return [files.create(f"Pictures/2026-12-05/IMG_{i:04}.jpg", b"\xff\xd8\xff\xe0" + files.random(20000)).name
            for i in range(400)]


def git_checkout(files: Files) -> list[str]:
    """Another branch: most tracked text files replaced (unlinked and written anew), some deleted."""
    for i, rel in enumerate(SOURCES):
        if i % 10 == 9:
            files.delete(rel)
        else:
            files.replace(rel, files.text(1600, seed=10_000 + i))
    return SOURCES


def untar(files: Files) -> list[str]:
    """A tarball unpacked: new files of every kind, compressed ones among them."""
    made = []
    for i in range(500):
        suffix = (".txt", ".pdf", ".docx", ".png", ".c")[i % 5]
        head = {".pdf": b"%PDF-1.5\n", ".docx": b"PK\x03\x04", ".png": b"\x89PNG\r\n\x1a\n"}.get(suffix)
        data = head + files.random(5000) if head is not None else files.text(2000, seed=i)
        made.append(files.create(f"Downloads/release-1.2/d{i % 12}/f{i}{suffix}", data).name)
    return made


def rm_node_modules(files: Files) -> list[str]:
    for rel in MODULES:
        files.delete(rel)
    return MODULES


def photo_edits(files: Files) -> list[str]:
    """Photos re-saved in place by an editor: rewritten, high entropy, signature kept."""
    rels = [f"Pictures/2026-12-05/IMG_{i:04}.jpg" for i in range(100)]
    for rel in rels:
        files.rewrite(rel, b"\xff\xd8\xff\xe1" + files.random(21000))
    return rels


def gzip_logs(files: Files) -> list[str]:
    """`gzip` on a folder of logs: each a.log becomes a.log.gz (compressed, with its signature), a.log goes."""
    import gzip

    rels = [f"logs/service{i}.log" for i in range(60)]
    for rel in rels:
        files.create(rel + ".gz", gzip.compress(files.text(6000, seed=len(rel)) + files.random(3000)))
        files.delete(rel)
    return rels


def jpeg_to_jpg(files: Files) -> list[str]:
    """Photos renamed from .jpg to .jpeg: a new suffix for each, content untouched."""
    rels = [f"Pictures/2026-12-05/IMG_{i:04}.jpg" for i in range(400)]
    for rel in rels:
        files.move(rel, rel[: -len(".jpg")] + ".jpeg")
    return rels


# attack-like damage
def encrypt_in_place(files: Files) -> list[str]:
    for rel in DOCS:
        files.rewrite(rel, files.random(len(doc_content(files, rel))))
    return DOCS


def encrypt_and_rename(files: Files) -> list[str]:
    for rel in DOCS:
        files.rewrite(rel, files.random(4000))
        files.move(rel, rel + ".locked")
    return DOCS


def ransom_notes(files: Files) -> list[str]:
    notes = [f"Documents/part{i}/README_DECRYPT.txt" for i in range(8)]
    for rel in notes:
        files.create(rel, b"Your files are encrypted. Send 1 BTC to ... to get them back.\n")
    return notes


def copy_then_delete(files: Files) -> list[str]:
    """Encrypted copies written beside the originals, then the originals deleted."""
    for rel in DOCS:
        files.create(rel + ".enc", files.random(3500))
    for rel in DOCS:
        files.delete(rel)
    return DOCS


ORDINARY: dict[str, tuple[Callable[[Files], object] | None, Burst]] = {
    "build": (None, build),
    "photo import": (None, photo_import),
    "git checkout": (make_sources, git_checkout),
    "untar": (None, untar),
    "rm -rf node_modules": (make_modules, rm_node_modules),
    "photo edits": (photo_import, photo_edits),
    "gzip on logs": (lambda f: [f.create(f"logs/service{i}.log", f.text(6000)) for i in range(60)], gzip_logs),
    "photos renamed .jpg to .jpeg": (photo_import, jpeg_to_jpg),
}
ATTACKS: dict[str, Burst] = {
    "rewritten in place": encrypt_in_place,
    "renamed to .locked": encrypt_and_rename,
    "ransom notes": ransom_notes,
    "copies, originals deleted": copy_then_delete,
}
