#!/usr/bin/env python3
"""Nemo's condition for Timekeep's actions: exit 0 when every selected path lies inside a folder Timekeep
protects (as listed in protected-folders.json in the user's state folder), 1 otherwise.

Nemo passes the selection as arguments; anything that is not an absolute path (an unexpanded token) is
ignored. It never imports Timekeep and never opens a backup, so it answers at once.
"""

import json
import os
import sys


def protected_folders() -> list:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    try:
        with open(os.path.join(state, "timekeep", "protected-folders.json"), encoding="utf-8") as fh:
            return [f for f in json.load(fh)["folders"] if isinstance(f, str)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def inside(path: str, folders: list) -> bool:
    real = os.path.realpath(path)
    return any(real == f or real.startswith(f.rstrip("/") + "/") for f in folders)


def main(args: list) -> int:
    paths = [a for a in args if a.startswith("/")]
    folders = protected_folders()
    return 0 if paths and all(inside(p, folders) for p in paths) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
