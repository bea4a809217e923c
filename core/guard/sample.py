"""Whether a rewritten file's content became random-looking, from a small sample of it (never the whole file).

Encryption leaves bytes that look random: Shannon entropy near 8 bits per byte. Text, source and most office
formats of the old kind sit far below (4-6 bits); compressed formats (zip-based documents, JPEG, PDF streams)
are high already, but begin with a signature that encryption destroys. So a file counts as *damaged-looking*
when its type is normally low-entropy and its sample is high, or when its type has a signature and the sample
has lost it while looking random. Types we know nothing of are never judged.
"""

from __future__ import annotations

import math
import os
from collections import Counter

SAMPLE = 4096  # bytes read from the head and from the tail of a file
RANDOM_BITS = 7.0  # a sample of at least 1 KiB at or above this looks random (text: 4-6, random: 7.8-8)
SMALLEST = 64  # below this a sample says nothing

# Types whose content is normally far from random.
LOW_ENTROPY = frozenset((
    ".txt", ".md", ".rst", ".csv", ".tsv", ".json", ".xml", ".html", ".htm", ".css", ".js", ".ts", ".py", ".c", ".h",
    ".cc", ".cpp", ".hpp", ".java", ".go", ".rs", ".rb", ".php", ".sh", ".tex", ".bib", ".log", ".ini", ".cfg",
    ".conf", ".toml", ".yaml", ".yml", ".sql", ".svg", ".eml", ".ics", ".vcf", ".doc", ".xls", ".ppt", ".rtf",
    ".bmp", ".wav", ".srt", ".org", ".adoc"))
# Types that are compressed, with the signature their first bytes carry.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    **dict.fromkeys((".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".zip", ".jar", ".epub"), (b"PK\x03\x04",)),
    ".pdf": (b"%PDF",),
    ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG",),
    ".gif": (b"GIF8",),
    ".gz": (b"\x1f\x8b",), ".tgz": (b"\x1f\x8b",), ".bz2": (b"BZh",),
    ".xz": (b"\xfd7zXZ",), ".zst": (b"\x28\xb5\x2f\xfd",), ".7z": (b"7z\xbc\xaf",),
    ".mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"),
    ".mp4": (b"\x00\x00\x00",), ".mov": (b"\x00\x00\x00",),
    ".sqlite": (b"SQLite format 3\x00",), ".db": (b"SQLite format 3\x00",),
}


def split_suffix(path: bytes) -> tuple[bytes, str]:
    """The path without its last suffix, and that suffix in lower case ('.txt'; '' when there is none)."""
    base = os.path.basename(path)
    dot = base.rfind(b".")
    if dot <= 0:
        return path, ""
    cut = len(path) - len(base) + dot
    return path[:cut], os.fsdecode(path[cut:]).lower()


def suffix_of(path: bytes) -> str:
    return split_suffix(path)[1]


def judged(path: bytes) -> bool:
    """Whether the guard knows enough of this type to judge a sample of it."""
    suffix = suffix_of(path)
    return suffix in LOW_ENTROPY or suffix in SIGNATURES


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte."""
    if not data:
        return 0.0
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in Counter(data).values())


def looks_random(data: bytes) -> bool:
    """High entropy for its length: a short sample cannot reach 8 bits even when random."""
    if len(data) < SMALLEST:
        return False
    bound = RANDOM_BITS if len(data) >= 1024 else 0.85 * math.log2(len(data))
    return entropy(data) >= bound


def read_sample(path: bytes, size: int = SAMPLE) -> tuple[bytes, bytes] | None:
    """The first and last `size` bytes (the tail empty for a file no longer than `size`); None if unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        length = os.fstat(fd).st_size
        head = os.pread(fd, size, 0)
        tail = os.pread(fd, size, max(size, length - size)) if length > size else b""
        return head, tail
    except OSError:
        return None
    finally:
        os.close(fd)


def damaged_looking(path: bytes, head: bytes, tail: bytes) -> bool:
    """Whether the sample of a file of this type looks encrypted (see the module's docstring)."""
    suffix = suffix_of(path)
    sample = head + tail
    if suffix in SIGNATURES:
        return not head.startswith(SIGNATURES[suffix]) and looks_random(sample)
    return suffix in LOW_ENTROPY and looks_random(sample)
