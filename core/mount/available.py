"""Whether this computer can mount at all, said in one sentence when it cannot: the kernel's FUSE device,
libfuse 3 and its fusermount3 helper must all be there."""

from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path

DEVICE = Path("/dev/fuse")
INSTALL = "install FUSE 3 (Debian and Ubuntu: sudo apt-get install fuse3 libfuse3-3)"


def fuse_missing(device: Path | None = None) -> str | None:
    """Why a mount cannot be made here (a sentence naming the remedy), or None when it can."""
    device = DEVICE if device is None else device
    if not device.exists():
        return f"this computer cannot mount history: {device} does not exist (no FUSE in this kernel or container)"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"this computer cannot mount history: {device} is not open to you"
    if shutil.which("fusermount3") is None:
        return f"this computer cannot mount history: fusermount3 is missing; {INSTALL}"
    if ctypes.util.find_library("fuse3") is None:
        return f"this computer cannot mount history: libfuse 3 is missing; {INSTALL}"
    return None
