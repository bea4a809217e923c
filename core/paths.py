"""Pure helpers about where paths are: one place for "inside", "beneath" and "the same folder", used by every
wing (a path is bytes, absolute, as protected)."""

from __future__ import annotations

import os


def is_inside(path: bytes, root: bytes) -> bool:
    """`path` is `root` or beneath it, by name."""
    return path == root or path.startswith(root.rstrip(b"/") + b"/")


def below(path: bytes, top: bytes) -> bool:
    """Whether `path` is strictly beneath `top`, by name."""
    return path.startswith(top.rstrip(b"/") + b"/")


def identity(path: bytes | str | os.PathLike[str]) -> tuple[int, int] | None:
    """The (device, inode) of a folder, or None if it cannot be looked at: what names the same folder
    however it is spelled (symlinks, bind mounts, `..`)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def within(inner: bytes | str | os.PathLike[str], outer: bytes | str | os.PathLike[str]) -> bool:
    """Whether folder `inner` is folder `outer` or lies beneath it, however either is spelled: each folder
    from `inner` up to the root is compared with `outer` by device and inode."""
    target = identity(outer)
    if target is None:
        return False
    current = os.fsencode(os.path.realpath(inner))
    while True:
        if identity(current) == target:
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent
