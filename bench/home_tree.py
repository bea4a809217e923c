"""A generated home folder for the home scale, and a day of a person's churn in it; seeded, never committed.

Shape (see bench/README.md, "Home scale"): N files in about N/20 folders under seven top folders (Documents,
Pictures, Music, Videos, Downloads, Projects, Desktop). Folders hang from a random parent at most eight levels
deep, so most files sit four to seven levels down; files land in folders by a Pareto weight (many folders hold
a handful, a few hold hundreds), except one camera folder of min(10,000, N/5) photos, the 10k-entry listing.
Sizes follow a typical home folder's log-normal shape scaled down so that the count, not the bytes, is what
a run measures: other files have a median of 2 KiB (σ 1.5, capped at 8 MiB: mean about 6 KiB, many tiny ones,
a long tail), photos a median of 48 KiB (σ 0.5); 1,000,000 files come to about 7 GB. Half the files are
text-like (compressible), half random, every one unique.

A day's churn is the same whatever N (a person edits what they edit, however big their home is): edits in
place, appends, renames, a folder moved, deletions, new photos and a new folder of a few files. It returns
the paths a watcher would have journaled, so the runner can hand them to a backup as the agent does.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

TOPS = ("Documents", "Pictures", "Music", "Videos", "Downloads", "Projects", "Desktop")
CAMERA = "Pictures/Camera"
EXTENSIONS = (".txt", ".md", ".pdf", ".odt", ".py", ".c", ".json", ".csv", ".mp3", ".png", ".html", ".log")
WORDS = ("report", "notes", "budget", "thesis", "draft", "invoice", "holiday", "main", "test", "recipe",
         "letter", "plan", "scan", "song", "data", "slides", "todo", "backup", "config", "readme")
MAX_DEPTH = 8


@dataclass(frozen=True)
class Churn:
    """How much one day changes (the same at every scale)."""

    edits: int = 40
    appends: int = 20
    renames: int = 10
    folder_moves: int = 1
    deletions: int = 15
    photos: int = 20
    new_folder_files: int = 5


A_DAY = Churn()
SMALL_DAY = Churn(4, 2, 2, 1, 2, 2, 2)


@dataclass
class Home:
    """The generated tree as the generator knows it: what a day's churn picks from."""

    root: Path
    rng: random.Random
    files: list[str] = field(default_factory=list)  # relative paths
    folders: list[str] = field(default_factory=list)
    bytes_written: int = 0
    serial: int = 0
    tiny: bool = False  # every file a one-line header: a tree of names and folders (bench/agent_memory.py)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def next_name(self, stem: str, ext: str) -> str:
        self.serial += 1
        return f"{stem}-{self.serial:07d}{ext}"


def generate(root: Path, files: int, seed: int, tiny: bool = False) -> Home:
    """Write the tree; return what churn needs to know of it."""
    home = Home(root, random.Random(seed), tiny=tiny)
    root.mkdir(parents=True, exist_ok=True)
    camera = min(10_000, files // 5)
    _make_folders(home, max(len(TOPS) + 1, files // 20))
    weights = [home.rng.paretovariate(1.2) for _ in home.folders]
    others = files - camera
    for folder in home.rng.choices(home.folders, weights=weights, k=others):
        _write_file(home, folder)
    for _ in range(camera):
        _write_photo(home, CAMERA)
    return home


def _make_folders(home: Home, count: int) -> None:
    depth = dict.fromkeys(TOPS, 1)
    for top in TOPS:
        home.path(top).mkdir(exist_ok=True)
    home.path(CAMERA).mkdir()
    depth[CAMERA] = 2
    shallow = list(depth)
    while len(depth) < count:
        parent = home.rng.choice(shallow)
        rel = f"{parent}/{home.next_name(home.rng.choice(WORDS), '')}"
        home.path(rel).mkdir()
        depth[rel] = depth[parent] + 1
        if depth[rel] < MAX_DEPTH:
            shallow.append(rel)
    home.folders = [f for f in depth if f != CAMERA]


def file_size(rng: random.Random) -> int:
    return min(8 << 20, max(0, int(rng.lognormvariate(math.log(2048), 1.5))))


def content(rng: random.Random, size: int, serial: int) -> bytes:
    """Unique bytes: a header naming the file, then text-like or random bytes."""
    head = b"timekeep home scale file %d\n" % serial
    if rng.random() < 0.5:
        body = rng.randbytes(size)
    else:
        words = rng.choices(WORDS, k=size // 6 + 2)
        body = " ".join(words).encode()
    return (head + body)[: max(size, len(head))]


def _write_file(home: Home, folder: str) -> str:
    rel = f"{folder}/{home.next_name(home.rng.choice(WORDS), home.rng.choice(EXTENSIONS))}"
    data = b"%d\n" % home.serial if home.tiny else content(home.rng, file_size(home.rng), home.serial)
    home.path(rel).write_bytes(data)
    home.files.append(rel)
    home.bytes_written += len(data)
    return rel


def _write_photo(home: Home, folder: str) -> str:
    rel = f"{folder}/{home.next_name('IMG', '.jpg')}"
    data = (b"\xff\xd8\xff\xe0 photo %d\n" % home.serial) + (b"" if home.tiny else home.rng.randbytes(
        int(home.rng.lognormvariate(math.log(48 << 10), 0.5))))
    home.path(rel).write_bytes(data)
    home.files.append(rel)
    home.bytes_written += len(data)
    return rel


def day(home: Home, churn: Churn = A_DAY) -> set[bytes]:
    """One day of a person's changes; the absolute paths a watcher would journal (both ends of a move)."""
    touched: set[str] = set()
    rng = home.rng
    for rel in _pick(home, churn.edits):
        data = bytearray(home.path(rel).read_bytes())
        at = rng.randrange(max(1, len(data)))
        data[at : at + 64] = rng.randbytes(64)
        home.path(rel).write_bytes(bytes(data))
        touched.add(rel)
    for rel in _pick(home, churn.appends):
        with open(home.path(rel), "ab") as out:
            out.write(b"appended line %d\n" % rng.randrange(1 << 30))
        touched.add(rel)
    touched |= _renames(home, churn.renames)
    touched |= _folder_moves(home, churn.folder_moves)
    for rel in _pick(home, churn.deletions):
        home.path(rel).unlink()
        home.files.remove(rel)
        touched.add(rel)
    touched.update(_write_photo(home, CAMERA) for _ in range(churn.photos))
    touched.add(_new_folder(home, churn.new_folder_files))
    return {os.fsencode(home.path(rel)) for rel in touched}


def _pick(home: Home, count: int) -> list[str]:
    return home.rng.sample(home.files, min(count, len(home.files)))


def _renames(home: Home, count: int) -> set[str]:
    touched = set()
    for rel in _pick(home, count):
        parent, _, name = rel.rpartition("/")
        new = f"{parent}/{home.next_name('renamed', os.path.splitext(name)[1])}"
        home.path(rel).rename(home.path(new))
        home.files[home.files.index(rel)] = new
        touched |= {rel, new}
    return touched


def _folder_moves(home: Home, count: int) -> set[str]:
    """A leaf-ish folder moved under another top folder, its files with it."""
    touched: set[str] = set()
    for _ in range(count):
        folder = home.rng.choice([f for f in home.folders if f.count("/") >= 2] or home.folders[len(TOPS):])
        new = f"{home.rng.choice(TOPS)}/{home.next_name('moved', '')}"
        home.path(folder).rename(home.path(new))
        prefix = folder + "/"
        home.folders = [new + f[len(folder):] if f == folder or f.startswith(prefix) else f for f in home.folders]
        home.files = [new + f[len(folder):] if f.startswith(prefix) else f for f in home.files]
        touched |= {folder, new}
    return touched


def _new_folder(home: Home, files: int) -> str:
    folder = f"{home.rng.choice(home.folders)}/{home.next_name('new', '')}"
    home.path(folder).mkdir()
    home.folders.append(folder)
    for _ in range(files):
        _write_file(home, folder)
    return folder
