"""The away store of one destination: a Timekeep repository of its own on this computer's disk (the user's data
folder, `away/<destination's repository id>`), so every promise of the engine holds there too: chunks and
packs, sealed manifests, verified reads, the writer lock, rebuild from its own files.

It protects the destination's folders and keeps only what changed while the destination was away (its
journal names those paths). It is encrypted when the destination is, with the destination's own key, which
the agent holds once it unlocked the destination; it is then registered under the store's id for this process.
Its size is bounded: a cap the person sets (settings.json `away_max_bytes`; by default 5% of the disk's free
space, at most 10 GiB), its oldest snapshots thinned first, and nothing stored that would leave less than
MARGIN free on the disk.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from timekeep.core.errors import PassphraseUnavailable, TimekeepError
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.atomic import atomic_write
from timekeep.core.units import size

if TYPE_CHECKING:  # the keys' code loads for an encrypted store only
    from timekeep.core.crypto.sealing import Sealing
    from timekeep.core.crypto.unlock import PassphraseSource

SETTING = "away_max_bytes"
DEFAULT_SHARE = 0.05
DEFAULT_CEILING = 10 << 30
MARGIN = 64 << 20  # never leave less than this free on this computer's disk
SIDE_FILE = "away.json"  # beside config.json: which destination the store keeps history for
REMOVING = ".removing-"


class NoRoomHere(TimekeepError):
    """This computer's disk, or the away store's cap, has no room for a storage time: nothing was stored, the
    changes wait in the journal for the drive."""

    exit_code = 4


@dataclass(frozen=True)
class AwayStoreInfo:
    """What `timekeep status` shows of an away store."""

    path: Path
    snapshots: int
    size: int
    cap: int


def home() -> Path:
    """The folder holding every away store (the user's data folder: $XDG_DATA_HOME/timekeep/away)."""
    return platformdirs.user_data_path("timekeep", appauthor=False) / "away"


def path_for(repository_id: str) -> Path:
    return home() / repository_id


def exists(path: Path) -> bool:
    return (path / repo_layout.CONFIG_NAME).is_file()


def destination_id(path: Path) -> str | None:
    """The repository id of the destination the store keeps history for (its side file)."""
    try:
        return str(json.loads((path / SIDE_FILE).read_bytes())["destination"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def of_destination(where: str) -> Path | None:
    """The away store keeping history for the destination at `where` (as the agent names it), if there is one."""
    try:
        stores = sorted(p for p in home().iterdir() if not p.name.startswith(REMOVING))
    except OSError:
        return None
    for path in stores:
        try:
            side = json.loads((path / SIDE_FILE).read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(side, dict) and side.get("where") == where and exists(path):
            return path
    return None


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds (or will hold) `path`."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


def default_cap(path: Path) -> int:
    return min(int(free_bytes(path) * DEFAULT_SHARE), DEFAULT_CEILING)


def cap_from(data: dict[str, object], path: Path) -> int:
    """The cap settings.json sets (`away_max_bytes`), else the default share of the free space."""
    value = data.get(SETTING)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return default_cap(path)


def size_on_disk(path: Path) -> int:
    """Bytes the store takes: its folder, and its index where it is kept apart (encrypted)."""
    total = 0
    folders = [path]
    index = _index_home(path)
    if index is not None:
        folders.append(index)
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    continue
    return total


def describe(path: Path, cap: int) -> AwayStoreInfo:
    """Its snapshots (counted from its manifests: no key needed), size and cap."""
    try:
        names = [p.name for p in (path / "snapshots").iterdir() if p.name.endswith(".manifest")]
    except OSError:
        names = []
    return AwayStoreInfo(path, len({name.split(".")[0].split("-")[0] for name in names}), size_on_disk(path), cap)


def sentence(info: AwayStoreInfo) -> str:
    """What `timekeep status` says of an away store."""
    return (f"{info.snapshots} snapshots kept on this computer while it was away ({size(info.size)} of a "
            f"{size(info.cap)} cap)")


def _index_home(path: Path) -> Path | None:
    try:
        config = repo_layout.load_config(path)
    except (TimekeepError, OSError):
        return None
    return repo_layout.local_index_home(config.repository_id) if config.index == "local" else None


def check_room(path: Path, need: int, cap: int) -> None:
    """NoRoomHere, in one line, when storing about `need` bytes would leave less than MARGIN free on the disk
    or cannot fit under the cap even with every older snapshot thinned."""
    free = free_bytes(path)
    if free - need < MARGIN:
        raise NoRoomHere(f"not kept on this computer: {size(free)} is free and about {size(need)} changed; "
                         f"Timekeep leaves at least {size(MARGIN)} free. The changes wait for the backup drive")
    if need > cap:
        raise NoRoomHere(f"not kept on this computer: about {size(need)} changed, more than the away store's "
                         f"cap of {size(cap)} ({SETTING} in settings.json). The changes wait for the backup drive")


def create(path: Path, destination: str, sealing: Sealing | None, where: str = "") -> None:
    """Make the store (a leftover of a creation killed before its config.json was written is cleared first)."""
    if path.exists() and not exists(path):
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_keys = None
    if sealing is not None:
        from timekeep.core.crypto import sealing as unlocked_keys

        key = sealing.key

        def make_keys(repository_id: str) -> Sealing:
            return unlocked_keys.remember(repository_id, key)

    config = repo_layout.create(path, make_keys=make_keys)
    layout = repo_layout.layout_of(path, config)
    repo_layout.make_index_home(layout)
    from timekeep.core.index.schema import open_index

    open_index(layout.index, create=True).close()
    atomic_write(path / SIDE_FILE, json.dumps({"destination": destination, "where": where}).encode() + b"\n")


def unlock(path: Path, source: PassphraseSource | None = None) -> bool:
    """Register the destination's key for an encrypted store: the one this process holds, else (with `source`)
    the one the drive's passphrase, recovery key or keyring entry opens in the copy of the drive's key slots
    kept beside the stores (`mirror_slots`). False when the store is encrypted and no key opens it."""
    config = repo_layout.load_config(path)
    if not config.encrypted:
        return True
    from timekeep.core.crypto import sealing as unlocked_keys

    if unlocked_keys.unlocked(config.repository_id) is not None:
        return True
    dest = destination_id(path)
    held = unlocked_keys.unlocked(dest) if dest else None
    if held is None and dest is not None and source is not None and (slots_home(dest) / "keys").is_dir():
        try:
            held = unlocked_keys.remember(dest, source.open(slots_home(dest), dest, config.key_check).unlocked.key)
        except PassphraseUnavailable:
            return False
    if held is None or held.key.check() != config.key_check:
        return False
    unlocked_keys.remember(config.repository_id, held.key)
    return True


def for_reading(path: str | Path, passphrase_file: Path | None = None, interactive: bool = False) -> Path | None:
    """The away store keeping the history of the destination at `path` (a drive's folder, a bucket's location)
    while it is away, to read in its place; None when there is none, or when it is encrypted and the
    destination's passphrase (from the usual sources, the terminal when `interactive`) is not given."""
    from timekeep.core import unlocking

    found = of_destination(str(path))
    source = unlocking.passphrase_source(passphrase_file, interactive=interactive)
    return found if found is not None and exists(found) and unlock(found, source) else None


def summary_of(path: str | Path) -> str | None:
    """What the away store of the destination at `path` holds (snapshots, size, cap), in words; None without one."""
    from timekeep.core import settings

    found = of_destination(str(path))
    if found is None:
        return None
    return sentence(describe(found, cap_from(settings.read_or_defaults(settings.default_file()), found)))


def unlock_for_reading(path: str | Path, passphrase_file: Path | None = None, interactive: bool = True) -> bool:
    """When `path` is an away store, unlock it with its destination's key (`unlock`, from the usual sources)
    and say True; KeyNeeded (one line) when nothing given opens it. False for any other repository."""
    from timekeep.core import unlocking
    from timekeep.core.errors import KeyNeeded
    from timekeep.core.storage.location import is_remote

    if is_remote(path) or destination_id(Path(path)) is None or not exists(Path(path)):
        return False
    if not unlock(Path(path), unlocking.passphrase_source(passphrase_file, interactive=interactive)):
        raise KeyNeeded(f"{path} keeps history for an encrypted backup; its passphrase (or recovery key) is needed")
    return True


def slots_home(destination: str) -> Path:
    """Where a copy of an encrypted destination's key slots is kept (`<id>.slots/keys/`): wrapped keys only, so
    its passphrase opens the away store while the drive is away, as it opens the drive."""
    return home() / f"{destination}.slots"


def mirror_slots(root: Path, destination: str) -> None:
    """Copy the key slots of the repository at `root` (a drive's folder, a bucket's located root), each written
    whole, then renamed, while it is there."""
    from timekeep.core.storage.layout import Layout

    medium = Layout(root).store
    target = slots_home(destination) / "keys"
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = {found.name.rpartition("/")[2] for found in medium.list("keys/")}
    slots = {name for name in names if name.endswith(".json") and not name.startswith(".")}
    for name in slots:
        atomic_write(target / name, medium.read(f"keys/{name}"))
    for gone in target.glob("*.json"):
        if gone.name not in slots:  # a slot removed from the drive (a passphrase changed) opens nothing here
            gone.unlink()


def remove(path: Path) -> None:
    """Remove the store once everything in it is on the drive: renamed aside first, so a kill midway leaves a
    name `clear_leftovers` finishes, never a half-removed store that looks whole."""
    if not path.exists():
        return
    index = _index_home(path)
    aside = path.with_name(f"{REMOVING}{path.name}-{os.getpid()}")
    os.rename(path, aside)
    if index is not None:
        shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(aside, ignore_errors=True)


def clear_leftovers() -> None:
    """Finish removals a kill interrupted."""
    try:
        found = [p for p in home().iterdir() if p.name.startswith(REMOVING)]
    except OSError:
        return
    for leftover in found:
        shutil.rmtree(leftover, ignore_errors=True)
