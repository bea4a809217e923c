"""A seeded dataset shaped like a person's files, and the mutations the benchmark measures.

Full scale: about 20,000 files of 1 KiB–1 MiB (about 1 GiB, half text-like, half incompressible; one
folder of 10,000 small files for the listing measure), a 2 GiB disk-image-like file (zero runs, text,
random) and a 64 MiB file. Smoke scale keeps the shape at a few MiB so the runner is tested in CI.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

WORD_COUNT = 20_000


@dataclass(frozen=True)
class Scale:
    name: str
    inbox_files: int
    tree_files: int
    tree_exponent: float
    image_bytes: int
    medium_bytes: int
    approx_bytes: int  # what `generate` makes, about: for the free-space check before a run


FULL = Scale("full", 10_000, 10_000, 1.6, 2 << 30, 64 << 20, 3112 << 20)
# the full shape at about a quarter of its bytes (the same 10k-entry folder), for a disk short of room
MEDIUM = Scale("medium", 10_000, 2_500, 1.6, 512 << 20, 64 << 20, 850 << 20)
SMOKE = Scale("smoke", 300, 200, 3.0, 24 << 20, 4 << 20, 40 << 20)
SCALES = {s.name: s for s in (FULL, MEDIUM, SMOKE)}


def room_needed(scale: Scale, tools: int) -> int:
    """Bytes a run needs free: the dataset, each tool's repository (about 70% of it, compressed), and one
    restored disk image at a time."""
    return int(scale.approx_bytes * (1 + 0.7 * tools)) + scale.image_bytes

IMAGE = "disk.img"
MEDIUM_FILE = "medium.bin"
INBOX = "inbox"
SMALL_FILE = "inbox/note00042.txt"


class Content:
    """Deterministic text-like and random bytes from one seed."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        letters = b"etaoinshrdlucmfwypvbgkjqxz"
        self.words = [bytes(self.rnd.choices(letters, k=self.rnd.randint(1, 10))) for _ in range(WORD_COUNT)]

    def text(self, size: int) -> bytes:
        out = b" ".join(self.rnd.choices(self.words, k=size // 5 + 16))
        while len(out) < size:
            out += b" ".join(self.rnd.choices(self.words, k=size // 5 + 16))
        return out[:size]

    def noise(self, size: int) -> bytes:
        return self.rnd.randbytes(size)

    def mixed(self, size: int) -> bytes:
        return self.text(size) if self.rnd.random() < 0.5 else self.noise(size)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tree(root: Path, scale: Scale, content: Content) -> None:
    for n in range(scale.inbox_files):
        _write(root / INBOX / f"note{n:05d}.txt", content.text(content.rnd.randint(1024, 4096)))
    for n in range(scale.tree_files):
        size = int(1024 * 1024 ** (content.rnd.random() ** scale.tree_exponent))
        folder = f"projects/p{n % 40:02d}/d{n % 7}"
        _write(root / folder / f"file{n:05d}.dat", content.mixed(size))


def _image(path: Path, size: int, content: Content) -> None:
    """Zero runs, text and random sections, like a filesystem image."""
    section = 4 << 20
    with open(path, "wb") as out:
        for n in range(size // section):
            kind = n % 4
            if kind == 0:
                out.write(b"\0" * section)
            elif kind == 1:
                out.write(content.text(section))
            else:
                out.write(content.noise(section))


def generate(root: Path, scale: Scale, seed: int = 2026) -> int:
    """Create the dataset under `root` (which must not exist); returns its size in bytes."""
    content = Content(seed)
    root.mkdir(parents=True)
    _tree(root, scale, content)
    _image(root / IMAGE, scale.image_bytes, content)
    _write(root / MEDIUM_FILE, content.text(scale.medium_bytes // 2) + content.noise(scale.medium_bytes // 2))
    return dataset_bytes(root)


def dataset_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# Mutations: each returns a short description for the table.

def touch_small_file(root: Path, rnd: random.Random) -> str:
    with open(root / SMALL_FILE, "ab") as fh:
        fh.write(b"\none more line\n")
    return "one small file touched"


def overwrite_in_image(root: Path, rnd: random.Random) -> str:
    path = root / IMAGE
    size = path.stat().st_size
    offset = rnd.randrange(0, size - (1 << 20))
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(rnd.randbytes(1 << 20))
    return f"1 MiB overwritten in the {size >> 20} MiB image"


def insert_in_medium(root: Path, rnd: random.Random) -> str:
    path = root / MEDIUM_FILE
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + rnd.randbytes(100) + data[middle:])
    return f"100 bytes inserted in the {len(data) >> 20} MiB file"


def add_new_files(root: Path, rnd: random.Random) -> str:
    content = Content(rnd.randrange(1 << 30))
    for n in range(100):
        _write(root / "new" / f"added{n:03d}.txt", content.mixed(rnd.randint(1024, 64 * 1024)))
    return "100 new files added"


MUTATIONS = (touch_small_file, overwrite_in_image, insert_in_medium, add_new_files)


def read_every_file(root: Path) -> int:
    """Read every file once so each tool starts with the same warm page cache; returns bytes read."""
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while block := fh.read(1 << 22):
                    total += len(block)
    return total
