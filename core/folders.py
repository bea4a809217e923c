"""What a repository protects and how: its folders and their exclusions, its compression level and its
retention rule. folders.json is the drive's record of the folders; the index's folder table follows it."""

from __future__ import annotations

import dataclasses
import json
import os

from timekeep.core import protected
from timekeep.core.capture.excludes import DEFAULT_EXCLUDES, Excludes
from timekeep.core.errors import UsageError
from timekeep.core.paths import is_inside, within
from timekeep.core.repository import Repository, sync_folders
from timekeep.core.storage import layout as repo_layout
from timekeep.core.types import FolderInfo, Retention


def folders(repo: Repository) -> list[FolderInfo]:
    """The active protected folders; a writer also keeps the file managers' list of them current."""
    rows = repo.db.execute_sql("SELECT id, path, excludes FROM folder WHERE active = 1 ORDER BY path")
    found = [FolderInfo(fid, path, tuple(json.loads(ex))) for fid, path, ex in rows]
    if repo.writable:
        protected.quietly_publish(repo.root, (f.path for f in found))
    return found


def excluded(repo: Repository, paths: list[bytes]) -> frozenset[bytes]:
    """Those of `paths` a backup leaves out, as the scan decides: the name, or any folder above it inside
    its protected folder, matches that folder's patterns. Paths outside every protected folder are not
    in the answer."""
    rules = [(f.path, Excludes(f.excludes)) for f in folders(repo)]
    found = set()
    for path in paths:
        for root, rule in rules:
            if is_inside(path, root):
                parts = path[len(root) + 1:].split(b"/")
                if path != root and any(rule.excluded(name, b"/".join(parts[: i + 1]))
                                       for i, name in enumerate(parts)):
                    found.add(path)
                break
    return frozenset(found)


def add_folder(repo: Repository, path: bytes, excludes: tuple[str, ...] = (), default_excludes: bool = True
               ) -> FolderInfo:
    """Protect a folder; never one that overlaps another, holds the repository or lies inside it, however
    the path is spelled (links, bind mounts)."""
    repo.need_writer()
    path = os.path.realpath(path)
    if not os.path.isdir(path):
        raise UsageError(f"{os.fsdecode(path)} is not a folder")
    for other in folders(repo):
        if path == other.path:
            raise UsageError(f"{os.fsdecode(path)} is already protected")
        if is_inside(path, other.path) or is_inside(other.path, path):
            raise UsageError(f"{os.fsdecode(path)} overlaps the protected folder {os.fsdecode(other.path)}")
    drive = repo.layout.store.local_folder  # None for a bucket, which no folder can hold or lie in
    if drive is not None and within(drive, path):
        raise UsageError("the folder holds the backup repository itself; protect a folder beside it")
    if drive is not None and within(path, drive):
        raise UsageError("the folder lies inside the backup repository; protect a folder outside it")
    entries = repo_layout.read_folders(repo.layout)
    entries.append({"path": os.fsdecode(path), "excludes": list(_patterns(excludes, default_excludes))})
    _write(repo, entries)
    return _folder(repo, path)


def set_excludes(repo: Repository, path: bytes, excludes: tuple[str, ...], default_excludes: bool = True
                 ) -> FolderInfo:
    """Change a protected folder's exclusion patterns; its history is untouched."""
    repo.need_writer()
    path = os.path.realpath(path)
    entries = repo_layout.read_folders(repo.layout)
    for entry in entries:
        if os.fsencode(str(entry["path"])) == path:
            entry["excludes"] = list(_patterns(excludes, default_excludes))
            _write(repo, entries)
            return _folder(repo, path)
    raise UsageError(f"{os.fsdecode(path)} is not a protected folder")


def remove_folder(repo: Repository, path: bytes) -> None:
    """Stop protecting a folder; its history stays browsable and restorable."""
    repo.need_writer()
    path = os.path.realpath(path)
    entries = repo_layout.read_folders(repo.layout)
    kept = [e for e in entries if os.fsencode(str(e["path"])) != path]
    if len(kept) == len(entries):
        raise UsageError(f"{os.fsdecode(path)} is not a protected folder")
    _write(repo, kept)


def set_compression_level(repo: Repository, level: int) -> None:
    """zstd level for chunks stored from now on (1 fastest, 19 smallest); stored chunks stay as they are."""
    if not 1 <= level <= 19:
        raise UsageError(f"compression level {level} is out of range; use 1 (fastest) to 19 (smallest)")
    repo.save_config(dataclasses.replace(repo.config, compression_level=level))


def set_retention(repo: Repository, rule: Retention) -> None:
    """How the coalescer thins this repository's history from now on (stored in config.json)."""
    if rule.keep_all_hours < 1 or rule.daily_days < 0 or rule.weekly_weeks < 0:
        raise UsageError("retention: keep every snapshot for at least 1 hour; days and weeks cannot be negative")
    repo.save_config(dataclasses.replace(repo.config, retention=rule))


def _patterns(excludes: tuple[str, ...], default_excludes: bool) -> tuple[str, ...]:
    return (*DEFAULT_EXCLUDES, *excludes) if default_excludes else tuple(excludes)


def _write(repo: Repository, entries: list[dict[str, object]]) -> None:
    repo_layout.write_folders(repo.layout, entries)
    sync_folders(repo.db, repo.layout, [])
    protected.quietly_publish(repo.root, (str(e["path"]) for e in entries))


def _folder(repo: Repository, path: bytes) -> FolderInfo:
    return next(f for f in folders(repo) if f.path == path)
