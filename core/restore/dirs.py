"""The folders from a restore's target down to the one being restored, as directory descriptors.

A folder is opened from its parent's descriptor, one name at a time and never through a link, so how deep
a tree goes is limited neither by PATH_MAX nor by Python's recursion. Only the deepest KEEP stay open, so
neither is it limited by the number of descriptors; one closed to save them is opened again, the same
way, from the nearest open folder above it.
"""

from __future__ import annotations

import os

from timekeep.core.restore.metadata import gives_attributes
from timekeep.core.restore.safe_write import open_child_dir

KEEP = 64


class DirStack:
    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd  # not ours to close
        self.names: list[bytes] = []
        self.fds: list[int | None] = []
        self.created: list[bool] = []  # by this restore: nothing was in it before
        self.bare: list[bool] = []  # its new files start with no attribute (metadata.gives_attributes)

    def enter(self, name: bytes, mode: int = 0o700) -> bool:
        """Open (or create, with `mode`) the folder `name` in the current one and make it current; whether
        it was created. UnsafePath if a link or a file stands there."""
        fd, created = open_child_dir(self.top(), name, mode=mode)
        self.names.append(name)
        self.fds.append(fd)
        self.created.append(created)
        self.bare.append(not gives_attributes(fd))
        self._trim()
        return created

    def top(self) -> int:
        """The current folder's descriptor (the root's before any `enter`)."""
        if not self.fds:
            return self.root_fd
        fd = self.fds[-1]
        return fd if fd is not None else self._reopen()

    def fresh(self) -> bool:
        """Whether the current folder was created by this restore, so that a name in it can only be taken by
        something that appeared meanwhile (which a rename without replacing still finds)."""
        return bool(self.created) and self.created[-1]

    def starts_bare(self) -> bool:
        """Whether a file created in the current folder starts with no attribute."""
        return bool(self.bare) and self.bare[-1]

    def detach(self) -> int:
        """Leave the current folder, handing its descriptor (open again if it was closed) to the caller to
        close, for work still to finish in it."""
        fd = self.top()
        self.bare.pop()
        self.created.pop()
        self.names.pop()
        self.fds.pop()
        return fd

    def full(self) -> bool:
        """Whether entering one more folder closes the descriptor of one above (`KEEP` are open)."""
        return sum(fd is not None for fd in self.fds) >= KEEP

    def close(self) -> None:
        while self.fds:
            self.bare.pop()
            self.created.pop()
            self.names.pop()
            fd = self.fds.pop()
            if fd is not None:
                os.close(fd)

    def _trim(self) -> None:
        """Close the shallowest open descriptors beyond KEEP."""
        open_at = [i for i, fd in enumerate(self.fds) if fd is not None]
        for i in open_at[: max(0, len(open_at) - KEEP)]:
            os.close(self.fds[i])  # type: ignore[arg-type]
            self.fds[i] = None

    def _reopen(self) -> int:
        """Open the current folder again, and those between it and the nearest open one above it."""
        start = len(self.fds) - 1
        while start >= 0 and self.fds[start] is None:
            start -= 1
        fd = self.root_fd if start < 0 else self.fds[start]
        assert fd is not None
        for i in range(start + 1, len(self.fds)):
            fd, _ = open_child_dir(fd, self.names[i], create=False)
            self.fds[i] = fd
        self._trim()
        return fd
