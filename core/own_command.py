"""How this installation runs its own `timekeep` command: for the agent's autostart entry, and for the window,
which mounts history and restores big folders through it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def timekeep_argv() -> list[str]:
    """The `timekeep` command beside this Python (an installed copy, or the bundle's program), else this Python
    running it."""
    script = Path(sys.executable).parent / "timekeep"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "timekeep.core.cli.main"]


@contextmanager
def secret_through_pipe(secret: str | None) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """The arguments (`--passphrase-file /dev/fd/N`) and the descriptor to pass that hand `secret` to the command
    through a pipe, never its command line (which any user's `ps` shows) or its environment (which every process
    it starts inherits); the pipe's end is closed when the block ends. No arguments without a secret."""
    if secret is None:
        yield [], ()
        return
    reader, writer = os.pipe()
    try:
        os.write(writer, secret.encode())  # a passphrase is far below a pipe's buffer: never blocks
    finally:
        os.close(writer)
    try:
        yield ["--passphrase-file", f"/dev/fd/{reader}"], (reader,)
    finally:
        os.close(reader)
