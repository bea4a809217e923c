"""Test helpers: build trees from a spec, snapshot a tree's exact state, run the engine on real folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from timekeep.core.api import Timekeep, init_repository
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.storage.layout import layout_of, load_config

Tree = dict[bytes, tuple[str, bytes, int]]  # relative path -> (kind, content or link target, mode)
INDEX_MODE = ["drive"]  # where new_repo keeps the index ("encrypted": locally, and encrypted); fixtures switch it
PASSPHRASE = "words for tests"


def index_file(repo: Path) -> Path:
    """Where the repository's index.db is: in its folder, or in this computer's cache folder."""
    return layout_of(repo.absolute(), load_config(repo.absolute())).index


def make_tree(root: Path, spec: dict[str, bytes | dict | str]) -> None:
    """Create files (bytes), folders (dicts) and links ('-> target' strings) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in spec.items():
        path = root / name
        if isinstance(value, dict):
            make_tree(path, value)
        elif isinstance(value, str) and value.startswith("-> "):
            os.symlink(value[3:], path)
        else:
            assert isinstance(value, bytes)
            path.write_bytes(value)


def read_tree(root: bytes | str | Path) -> Tree:
    """Every entry beneath `root` with its kind, bytes (or link target) and permission bits."""
    base = os.fsencode(root)
    found: Tree = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = full[len(base) + 1 :]
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("symlink", os.readlink(full), 0)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", b"", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    found[rel] = ("file", fh.read(), stat.S_IMODE(st.st_mode))
    return found


def new_repo(tmp_path: Path, *folders: Path) -> Path:
    repo = tmp_path / "drive" / "Timekeep" / "repo"
    if INDEX_MODE[0] == "encrypted":  # unlocked for the rest of this process; the cheapest Argon2id allowed
        init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    else:
        init_repository(repo, index=INDEX_MODE[0])
    with Timekeep.open(repo, writer=True) as tk:
        for folder in folders:
            tk.add_folder(os.fsencode(folder))
    return repo


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process running the engine: this one's, the sources on its path, and the
    passphrase of the repositories new_repo makes encrypted (the child unlocks with it, as a person's would)."""
    root = Path(__file__).resolve().parent.parent
    return {**os.environ, "PYTHONPATH": str(root), "TIMEKEEP_PASSPHRASE": PASSPHRASE, **extra}


def backup(repo: Path) -> int:
    with Timekeep.open(repo, writer=True) as tk:
        return tk.backup().id
