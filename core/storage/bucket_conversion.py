"""The bucket's half of encrypting a repository in place: no folders and no renames, so the encrypted copy is
staged as new objects under `encrypting/`, `config.json` replaced by one PUT is the commit point, and the copy
is then moved into place by copies inside the server (FORMAT.md, "Encrypting a repository in a bucket").

`config.json` is the commit point because every opener reads it first, and a PUT of it is visible whole or not
at all: before, the repository is the old one, whole, and nothing reads `encrypting/`; after, it is the
encrypted one, and whoever reads the config finishes the moves (under the writer lock) before anything else.
Every step after the commit can be repeated: the old objects go first, by the list `encrypting/plaintext.json`
made before the commit (so a manifest's old and new objects, which share a name, are never confused), then
the staged objects are copied to their names and each copy checked against its original before that goes;
the key slots go last, so until everything is in place nothing can unlock the half-moved repository.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from timekeep.core.errors import CorruptData, ObjectExists, ObjectMissing
from timekeep.core.storage.prefixed import Prefixed
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.types import Progress

STAGING = "encrypting/"
PLAINTEXT = STAGING + "plaintext.json"  # the old repository id, and every old object to delete after the commit
FOLDERS = "folders.json"
OLD = ("packs/", "snapshots/")
MOVED = ("packs/", "snapshots/", "keys/")  # in this order: the key slots last

ProgressCallback = Callable[[Progress], None]


def staging(store: S3Backend) -> Prefixed:
    """Where the encrypted copy is written, as a repository of its own."""
    return Prefixed(store, STAGING)


def begun(store: S3Backend) -> bool:
    return any(True for _ in store.list(STAGING))


def discard(store: S3Backend) -> None:
    """Remove an uncommitted copy (the caller holds the writer lock and knows config.json is still the old)."""
    for found in list(store.list(STAGING)):
        store.delete(found.name)


def write_plan(store: S3Backend, old_repository_id: str) -> None:
    """What the commit will make garbage: every object of the old packs and manifests (listed under the writer
    lock, so no writer adds one), with the old id whose index on this computer goes too."""
    old = sorted(found.name for prefix in OLD for found in store.list(prefix))
    plan = {"repository_id": old_repository_id, "remove": old}
    store.write(PLAINTEXT, json.dumps(plan).encode(), replace=True)


def commit(store: S3Backend, config_json: bytes) -> None:
    """The one step that makes the repository encrypted: its config, replaced by one PUT."""
    store.write("config.json", config_json, replace=True)


def finish(store: S3Backend, index_home: Callable[[str], Path], progress: ProgressCallback | None = None,
           clock: Callable[[], float] = time.monotonic) -> None:
    """After the commit: the plaintext out (the old index on this computer too), then every staged object
    copied to its name and checked, the staged one removed. Repeatable at any point; the caller holds the
    writer lock."""
    plan = _read_plan(store)
    if plan is not None:
        shutil.rmtree(index_home(plan[0]), ignore_errors=True)
        _place_folders(store)
        _in_parallel(store, store.delete, plan[1])
        store.delete(PLAINTEXT)  # from here on, a name under packs/ or snapshots/ is the encrypted copy's
    _place_folders(store)
    sizes = {found.name: found.size for found in store.list(STAGING)}
    total, start, done = sum(sizes.values()), clock(), [0, 0]

    def moved(name: str) -> None:
        done[0] += 1
        done[1] += sizes[name]
        if progress is not None:
            progress(Progress("place", done[0], len(sizes), done[1], total, clock() - start))

    for rank in range(len(MOVED) + 1):  # group by group: the key slots only once the rest is in place
        group = sorted(name for name in sizes if _rank(name) == rank)
        _in_parallel(store, lambda name: _move(store, name), group, moved)


def _in_parallel(store: S3Backend, work: Callable[[str], None], names: list[str],
                 done: Callable[[str], None] = lambda name: None) -> None:
    """`work(name)` for every name, several at once (the backend bounds its requests); `done` is called in this
    thread as each ends. The first failure is raised once the work already started has ended (none is begun
    after it)."""
    with ThreadPoolExecutor(max(1, store.tuning.max_requests // 2), thread_name_prefix="timekeep-place") as pool:
        futures = {pool.submit(work, name): name for name in names}
        try:
            for future in as_completed(futures):
                future.result()
                done(futures[future])
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _read_plan(store: S3Backend) -> tuple[str, list[str]] | None:
    try:
        plan = json.loads(store.read(PLAINTEXT))
        return str(plan["repository_id"]), [str(name) for name in plan["remove"]]
    except ObjectMissing:
        return None
    except (ValueError, KeyError, TypeError):
        raise CorruptData(f"{store.where}/{PLAINTEXT} is damaged: the old objects it names cannot be known, "
                          "and nothing more was moved") from None


def _place_folders(store: S3Backend) -> None:
    """The sealed folders.json replaces the plaintext one the way it always is replaced: whole, by one PUT."""
    try:
        sealed = store.read(STAGING + FOLDERS)
    except ObjectMissing:
        return
    store.write(FOLDERS, sealed, replace=True)
    store.delete(STAGING + FOLDERS)


def _rank(name: str) -> int:
    moved = name.removeprefix(STAGING)
    return next((i for i, prefix in enumerate(MOVED) if moved.startswith(prefix)), len(MOVED))


def _move(store: S3Backend, name: str) -> None:
    """`name` copied to its place (unless a run before copied it), checked, then removed from the staging."""
    target = name.removeprefix(STAGING)
    if _rank(name) == len(MOVED):
        store.delete(name)  # nothing of the repository (a staged config a newer run left): not moved
        return
    with contextlib.suppress(ObjectExists):  # copied by a run killed before it removed the original: checked
        store.copy(name, target)  # below like any copy
    original, copied = store.fingerprint(name), store.fingerprint(target)
    if original is None or copied is None or not _same(original, copied):
        raise CorruptData(f"{store.where}/{target} is not the same as its encrypted copy {name}: nothing more was "
                          "moved, and both were left as they are")
    store.delete(name)


def _same(original: tuple[int, str], copied: tuple[int, str]) -> bool:
    """Equal sizes, and equal MD5s where the server gives both (an object uploaded in parts has none)."""
    if original[0] != copied[0]:
        return False
    return "-" in original[1] or "-" in copied[1] or not original[1] or original[1] == copied[1]
