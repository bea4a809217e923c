"""A new, journaled ext4 filesystem on a loop device, mounted for one restore and removed after it.

The bench's machines run on ext4 *without* a journal, where a create soon after a mass removal scans the inodes
just freed (bench/README.md, "Sixth pass: the image and the tree"): what a tree restore costs there depends on
which tool removed its output last. An ordinary install has a journal and never makes that scan, so the tree is
also restored into a filesystem of its own, made anew for each run: every tool meets the same empty, journaled
ext4. Needs root and a loop device; where either is missing, `fresh_ext4` says why and the row is left out.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SMALLEST = 256 << 20


class NoFilesystem(Exception):
    """No filesystem could be made or mounted here (not root, no loop device, no mkfs.ext4)."""


def _run(*cmd: str) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError as err:
        raise NoFilesystem(f"{cmd[0]} is not installed") from err
    except subprocess.CalledProcessError as err:
        raise NoFilesystem(f"{' '.join(cmd)}: {err.stderr.strip() or err.returncode}") from err


@contextmanager
def fresh_ext4(where: Path, holds: int) -> Iterator[Path]:
    """`where`, a new folder with a new ext4 of room for three times `holds` bytes (a journal; its inode tables
    written now, so that no background initialisation runs during the timed run) mounted on it; unmounted and
    its image removed after."""
    image = where.with_name(where.name + ".img")
    image.unlink(missing_ok=True)
    where.mkdir(parents=True)
    with image.open("wb") as f:
        f.truncate(max(SMALLEST, 3 * holds))  # sparse: only what is written takes room on the disk beneath
    mounted = False
    try:
        _run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image))
        _run("mount", "-o", "loop", str(image), str(where))
        mounted = True
        yield where
    finally:
        if mounted:
            _run("umount", str(where))
        image.unlink(missing_ok=True)
        where.rmdir()
