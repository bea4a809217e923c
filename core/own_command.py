"""How this installation runs its own `timekeep` command: for the agent's autostart entry, and for the window,
which mounts history and restores big folders through it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def timekeep_argv() -> list[str]:
    """The `timekeep` command beside this Python (an installed copy, or the bundle's program), else this Python
    running it."""
    script = Path(sys.executable).parent / "timekeep"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "timekeep.core.cli.main"]
